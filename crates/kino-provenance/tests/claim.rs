//! The claim check (`check_claim`): a clip whose payload can no longer be read is still
//! recognised as a given clip's, and nothing else is.

use kino_media::{VideoFrames, VideoQuality};
use kino_provenance::watermark::{
    attack, check_claim, detect, embed, DetectOptions, EmbedOptions, Payload, WatermarkKey,
    CLAIM_CODED_BITS,
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

#[test]
fn a_claim_is_confirmed_where_the_payload_cannot_be_read() {
    let original = world_clip(FLAT_SEED);
    let own = Payload::from_clip_id(0x0042, "clip-flat");
    let mut marked = original.clone();
    embed(&mut marked, &own, &key(), &EmbedOptions::default()).unwrap();
    let (delivered, bps) = attack::reencode(&marked, VideoQuality::Crf(23)).unwrap();
    let (attacked, _) = attack::reencode(&delivered, VideoQuality::Bitrate(bps / 4)).unwrap();
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
