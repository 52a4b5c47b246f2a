//! The claim check (`check_claim`): a clip whose payload can no longer be read is still
//! recognised as a given clip's, and nothing else is.

use kino_media::{VideoFrames, VideoQuality};
use kino_provenance::stamp;
use kino_provenance::watermark::{
    attack, check_claim, detect, embed, identify, DetectOptions, EmbedOptions, Payload,
    WatermarkKey, CLAIM_CODED_BITS,
};
use kino_world::{render, simulate, RandomOptions, SceneSpec};

/// Flat cartoon content delivered at ~60 kbit/s: at strength 3.0 the payload is lost after a
/// re-encode at 1/4 of that bitrate (tests/adaptive.rs).
const FLAT_SEED: u64 = 1007;

fn world_clip(seed: u64) -> VideoFrames {
    let opts = RandomOptions {
        duration_s: 3.0,
        width: 128,
        height: 128,
        ..RandomOptions::default()
    };
    let spec = SceneSpec::random(seed, &opts).expect("spec");
    render(&spec, &simulate(&spec)).expect("render")
}

fn key() -> WatermarkKey {
    WatermarkKey::from_passphrase("kino claim tests")
}

/// The flat scene, its own payload, and the marked clip delivered at CRF 23 and then
/// re-encoded at 1/4 of that bitrate: `(original, own, delivered, delivered bps, attacked)`.
fn flat_copy() -> (VideoFrames, Payload, VideoFrames, u32, VideoFrames) {
    let original = world_clip(FLAT_SEED);
    let own = Payload::from_clip_id(0x0042, "clip-flat");
    let mut marked = original.clone();
    embed(&mut marked, &own, &key(), &EmbedOptions::default()).unwrap();
    let (delivered, bps) = attack::reencode(&marked, VideoQuality::Crf(23)).unwrap();
    let (attacked, _) = attack::reencode(&delivered, VideoQuality::Bitrate(bps / 4)).unwrap();
    (original, own, delivered, bps, attacked)
}

#[test]
fn a_claim_is_confirmed_where_the_payload_cannot_be_read() {
    let (original, own, delivered, bps, attacked) = flat_copy();
    let opts = DetectOptions::default();

    // The payload is not readable any more...
    let d = detect(&attacked, &key(), &opts).unwrap();
    assert!(!d.found, "{d:?}");
    // ...but the claim is confirmed, at the clip's own geometry.
    let c = check_claim(&attacked, &key(), &own, &opts).unwrap();
    eprintln!(
        "own claim after 1/4 bitrate ({} kbit/s delivered): {c:?}",
        bps / 1000
    );
    assert!(c.confirmed, "{c:?}");
    assert!(c.score >= c.threshold && c.p_value <= opts.false_positive_rate);
    assert_eq!(c.tested_bits, CLAIM_CODED_BITS);
    assert!(c.agreeing_bits > CLAIM_CODED_BITS * 2 / 3, "{c:?}");
    assert_eq!(c.claim, own);

    // Other clips of the same generator, another key, and the unmarked clip: not confirmed.
    for i in 0..20 {
        let other = Payload::from_clip_id(0x0042, &format!("another-clip-{i}"));
        for clip in [&delivered, &attacked] {
            let c = check_claim(clip, &key(), &other, &opts).unwrap();
            assert!(!c.confirmed && c.score < 4.0, "{i}: {c:?}");
        }
    }
    let wrong_key = WatermarkKey::from_passphrase("another key");
    let c = check_claim(&delivered, &wrong_key, &own, &opts).unwrap();
    assert!(!c.confirmed && c.score < 4.0, "{c:?}");
    let (plain, _) = attack::reencode(&original, VideoQuality::Crf(23)).unwrap();
    let c = check_claim(&plain, &key(), &own, &opts).unwrap();
    assert!(!c.confirmed && c.score < 4.0, "{c:?}");

    // A crop moves the mark: the sync-chosen hypothesis finds it (on the delivered clip,
    // whose sync is strong).
    let cropped = attack::crop(&delivered, 13, 9, 3, 5).unwrap();
    let c = check_claim(&cropped, &key(), &own, &opts).unwrap();
    assert!(c.confirmed, "{c:?}");
    assert!(c.shift != (0.0, 0.0), "{c:?}");
}

#[test]
fn identify_picks_the_clip_out_of_many() {
    let (original, own, delivered, _, attacked) = flat_copy();
    let opts = DetectOptions::default();
    assert!(!detect(&attacked, &key(), &opts).unwrap().found);

    // 1,000 candidates, the clip's own at 617.
    let mut candidates: Vec<Payload> = (0..999)
        .map(|i| Payload::from_clip_id(0x0042, &format!("another-clip-{i}")))
        .collect();
    candidates.insert(617, own);
    let id = identify(&attacked, &key(), &candidates, &opts).unwrap();
    eprintln!("identify over 1,000 after 1/4 bitrate: {id:?}");
    assert_eq!(id.candidates, 1000);
    assert!((id.threshold - opts.identify_threshold(1000)).abs() < 1e-12);
    assert!(id.threshold > opts.claim_threshold() + 1.0, "{id:?}");
    assert!(id.confirmed && id.best == Some(617), "{id:?}");
    assert!(id.p_value <= opts.false_positive_rate, "{id:?}");
    // The best stands well out of the other 999.
    let runner_up = id.runner_up.unwrap();
    assert!(runner_up < 4.5 && id.score > runner_up + 2.5, "{id:?}");
    // The same score as the single claim check of that payload.
    let c = check_claim(&attacked, &key(), &own, &opts).unwrap();
    assert!((c.score - id.score).abs() < 1e-9, "{c:?} {id:?}");

    // Without the clip's own payload, or on the unmarked clip, or under another key: none.
    candidates.remove(617);
    let id = identify(&attacked, &key(), &candidates, &opts).unwrap();
    assert!(!id.confirmed && id.score < 4.5, "{id:?}");
    let (plain, _) = attack::reencode(&original, VideoQuality::Crf(23)).unwrap();
    candidates.push(own);
    let id = identify(&plain, &key(), &candidates, &opts).unwrap();
    assert!(!id.confirmed && id.score < 4.5, "{id:?}");
    let wrong_key = WatermarkKey::from_passphrase("another key");
    let id = identify(&delivered, &wrong_key, &candidates, &opts).unwrap();
    assert!(!id.confirmed, "{id:?}");
    // No candidates: nothing to confirm.
    let id = identify(&attacked, &key(), &[], &opts).unwrap();
    assert!(
        !id.confirmed && id.best.is_none() && id.p_value == 1.0,
        "{id:?}"
    );
}

#[test]
fn identify_kino_names_the_clip_ids() {
    let mut clip = world_clip(FLAT_SEED);
    stamp::watermark(&mut clip, "video_flat").unwrap();
    let (delivered, bps) = attack::reencode(&clip, VideoQuality::Crf(23)).unwrap();
    let (attacked, _) = attack::reencode(&delivered, VideoQuality::Bitrate(bps / 4)).unwrap();
    let mut ids: Vec<String> = (0..300).map(|i| format!("video_{i}")).collect();
    ids.push("video_flat".into());
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let found = stamp::identify_kino(&attacked, &refs).unwrap();
    assert_eq!(found.clip_ids, vec!["video_flat".to_string()], "{found:?}");
    assert_eq!(found.identification.candidates, 301);
    // An id listed twice is one candidate, and both names come back.
    let mut twice = refs.clone();
    twice.push("video_flat");
    let found = stamp::identify_kino(&attacked, &twice).unwrap();
    assert_eq!(found.identification.candidates, 301);
    assert_eq!(found.clip_ids, vec!["video_flat", "video_flat"]);
    // Not among the ids: nothing named.
    let found = stamp::identify_kino(&attacked, &refs[..300]).unwrap();
    assert!(found.clip_ids.is_empty(), "{found:?}");
}

#[test]
fn bad_inputs_are_refused_or_empty() {
    let own = Payload::new(1, 2);
    let opts = DetectOptions::default();
    let empty = VideoFrames::new(
        64,
        64,
        kino_media::Rational::integer(24).unwrap(),
        kino_media::PixelFormat::Rgb8,
    )
    .unwrap();
    let c = check_claim(&empty, &key(), &own, &opts).unwrap();
    assert!(!c.confirmed && c.frames == 0 && c.p_value == 1.0);
    let bad = DetectOptions {
        false_positive_rate: 0.0,
        ..DetectOptions::default()
    };
    let clip = world_clip(1);
    assert!(check_claim(&clip, &key(), &own, &bad).is_err());
    assert!(identify(&clip, &key(), &[own], &bad).is_err());
    let id = identify(&empty, &key(), &[own], &opts).unwrap();
    assert!(!id.confirmed && id.frames == 0 && id.best.is_none());
    assert!(kino_provenance::watermark::check_claim_luma_sum(
        &[0.0; 10],
        4,
        4,
        1,
        &key(),
        &own,
        &opts
    )
    .is_err());
}
