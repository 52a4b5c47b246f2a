//! The judge on world clips: near perfect on the clips the world renders itself, clearly
//! failing on time-shifted or shuffled audio, and working on decoded MP4.

use kino_media::AudioBuffer;
use kino_world::vocab::*;
use kino_world::{judge, sample, ObjectSpec, SceneSpec, ShotSpec};

fn bouncing_scene() -> SceneSpec {
    let mut spec = SceneSpec::new(vec![
        ObjectSpec::dropped(Kind::Ball, Colour::Red, Size::Medium, -0.9, 2.9),
        ObjectSpec::dropped(Kind::Box, Colour::Blue, Size::Large, 0.8, 1.8),
    ]);
    spec.floor = Floor::Metal;
    spec.time_of_day = TimeOfDay::Dusk;
    spec.duration_s = 3.0;
    spec.shots = vec![ShotSpec::new(
        0.0,
        CameraMove::PanLeft,
        Speed::Slow,
        Framing::Wide,
    )];
    spec
}

fn shifted(a: &AudioBuffer, seconds: f64) -> AudioBuffer {
    let mut out = a.clone();
    let k = (seconds * a.sample_rate() as f64) as usize * a.channels() as usize;
    let s = out.samples_mut();
    s.rotate_right(k);
    out
}

/// Cuts the audio into 500 ms blocks and rotates them, so no block stays in place.
fn shuffled(a: &AudioBuffer) -> AudioBuffer {
    let ch = a.channels() as usize;
    let block = a.sample_rate() as usize / 2 * ch;
    let blocks: Vec<&[f32]> = a.samples().chunks(block).collect();
    let n = blocks.len();
    let samples: Vec<f32> = (0..n)
        .flat_map(|i| blocks[(i + 3) % n].iter().copied())
        .collect();
    AudioBuffer::new(a.sample_rate(), a.channels(), samples).unwrap()
}

/// The sound of a different scene of the same length.
fn other_clips_audio(spec: &SceneSpec) -> AudioBuffer {
    let mut other = spec.clone();
    other.objects = vec![
        ObjectSpec::dropped(Kind::Ball, Colour::Red, Size::Medium, 0.5, 1.6),
        ObjectSpec::dropped(Kind::Box, Colour::Blue, Size::Large, -1.0, 2.4),
    ];
    sample(&other).unwrap().audio
}

#[test]
fn judge_scores_world_clips_near_perfect_and_fails_bad_audio() {
    let clip = sample(&bouncing_scene()).unwrap();
    let frame_ms = 1000.0 / clip.spec.fps as f32;
    for prompt in [
        clip.captions[0].as_str(),
        "a red ball and a large blue box fall onto a metal floor at dusk, the camera pans left slowly",
    ] {
        let r = judge(&clip.video, Some(&clip.audio), prompt).unwrap();
        let text = r.to_text();
        let sync = r.sync.as_ref().unwrap();
        assert!(sync.visual_contacts >= 3, "{text}");
        assert!(sync.median_offset_ms.unwrap() <= frame_ms, "{text}");
        assert!(sync.score.unwrap() >= 0.8, "{text}");
        assert!(r.physics.r2.unwrap() >= 0.98, "{text}");
        assert!(r.physics.g_error.unwrap() < 0.05, "{text}");
        assert_eq!(r.physics.apex_decay, Some(1.0), "{text}");
        assert!(r.adherence.overall >= 0.95, "{text}");
        assert_eq!(r.tracker.permanence.violations, 0, "{text}");
        // Serialises for --json.
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("median_offset_ms"));
    }

    let good = judge(&clip.video, Some(&clip.audio), &clip.captions[0]).unwrap();
    for (name, audio) in [
        ("+300 ms", shifted(&clip.audio, 0.3)),
        (
            "-300 ms",
            shifted(&clip.audio, clip.audio.duration_s() - 0.3),
        ),
        ("block-shuffled", shuffled(&clip.audio)),
        ("another clip's", other_clips_audio(&clip.spec)),
    ] {
        let r = judge(&clip.video, Some(&audio), &clip.captions[0]).unwrap();
        let sync = r.sync.as_ref().unwrap();
        let text = r.to_text();
        assert!(sync.score.unwrap() <= 0.5, "{name}: {text}");
        assert!(
            sync.median_offset_ms.unwrap() > 2.0 * frame_ms,
            "{name}: {text}"
        );
        assert!(r.overall < good.overall, "{name}: {text}");
    }
}

#[test]
fn judge_flags_wrong_prompts() {
    let clip = sample(&bouncing_scene()).unwrap();
    // Wrong colours, wrong time of day, wrong camera.
    let r = judge(
        &clip.video,
        Some(&clip.audio),
        "a green ball falls onto a metal floor at noon, static camera",
    )
    .unwrap();
    assert!(r.adherence.overall < 0.5, "{}", r.to_text());
    // Silence: no onsets, nothing matched.
    let silent = AudioBuffer::silence(16_000, 2, clip.audio.duration_s()).unwrap();
    let r = judge(&clip.video, Some(&silent), &clip.captions[0]).unwrap();
    assert_eq!(r.sync.unwrap().matched, 0);
}

#[test]
fn judge_reads_decoded_mp4() {
    let clip = sample(&bouncing_scene()).unwrap();
    let dir = std::env::temp_dir().join(format!("kino-world-judge-{}", std::process::id()));
    let files = kino_world::write_clip(&dir.join("clip.mp4"), &clip).unwrap();
    let truth: kino_world::GroundTruth =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(truth.contacts.len(), clip.truth.contacts.len());
    assert_eq!(truth.frames.len(), clip.video.len());
    let decoded = kino_media::read_mp4(&files.mp4).unwrap();
    let r = judge(&decoded.video, decoded.audio.as_ref(), &clip.captions[0]).unwrap();
    let text = r.to_text();
    let sync = r.sync.as_ref().unwrap();
    assert!(sync.median_offset_ms.unwrap() <= 1000.0 / 24.0, "{text}");
    assert!(r.physics.r2.unwrap() >= 0.98, "{text}");
    assert!(r.adherence.overall >= 0.9, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
