//! The output check (open_nsfw on sampled frames): parity with the Python reference, safe
//! procedural frames, refusals and errors. One test binary, so the 23.6 MB model is
//! embedded (and loaded) once.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kino_safety::{
    nsfw_input_crop, sample_indices, FrameVerdict, NsfwClassifier, SafetyError,
    DEFAULT_NSFW_THRESHOLD, NSFW_SAMPLE_FRAMES,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest |Rust − reference| allowed on a probability.
const TOLERANCE: f32 = 1e-3;

fn classifier() -> &'static NsfwClassifier {
    static C: OnceLock<NsfwClassifier> = OnceLock::new();
    C.get_or_init(|| NsfwClassifier::embedded().expect("the embedded model loads"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nsfw")
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn solid(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    rgb.repeat((w * h) as usize)
}

fn gradient(w: u32, h: u32, phase: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&[
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y + phase) % 256) as u8,
            ]);
        }
    }
    v
}

/// Rust scores and crops match `tools/safety/nsfw_reference.py` (onnxruntime + Pillow).
#[test]
fn parity_with_python_reference() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let model = std::fs::read(root().join(expected["model"].as_str().unwrap())).unwrap();
    assert_eq!(
        hex(&model),
        expected["model_sha256"].as_str().unwrap(),
        "the committed model is not the one the fixture was made with"
    );
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    let c = classifier();
    let mut worst = 0f32;
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let img = image::open(fixtures().join(file)).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert_eq!(
            (w as u64, h as u64),
            (
                case["width"].as_u64().unwrap(),
                case["height"].as_u64().unwrap()
            )
        );
        let crop = nsfw_input_crop(w, h, img.as_raw()).unwrap();
        assert_eq!(
            hex(&crop),
            case["crop_sha256"].as_str().unwrap(),
            "{file}: the 224x224 crop differs from Pillow's"
        );
        let want = case["score"].as_f64().unwrap() as f32;
        let got = c.score_rgb(w, h, img.as_raw()).unwrap();
        let diff = (got - want).abs();
        eprintln!("{file:28} rust {got:.7} reference {want:.7} |diff| {diff:.2e}");
        assert!(diff <= TOLERANCE, "{file}: {got} vs reference {want}");
        worst = worst.max(diff);
    }
    eprintln!("max |diff| {worst:.2e} over {} images", cases.len());
}

/// Flat and smooth procedural frames, the kind a fade or an empty scene gives, are allowed.
#[test]
fn procedural_safe_frames_score_below_threshold() {
    let c = classifier();
    for (name, w, h, rgb) in [
        ("black", 64, 36, solid(64, 36, [0, 0, 0])),
        ("white", 64, 36, solid(64, 36, [255, 255, 255])),
        ("mid grey", 48, 48, solid(48, 48, [128, 128, 128])),
        ("red", 32, 32, solid(32, 32, [220, 30, 30])),
        ("skin tone", 40, 30, solid(40, 30, [224, 172, 140])),
        ("gradient", 320, 180, gradient(320, 180, 0)),
    ] {
        let s = c.score_rgb(w, h, &rgb).unwrap();
        eprintln!("{name:10} {s:.5}");
        assert!(s < DEFAULT_NSFW_THRESHOLD, "{name} scored {s}");
    }

    // A 24-frame clip: 8 frames are sampled and all pass.
    let clip: Vec<Vec<u8>> = (0..24).map(|i| gradient(96, 64, i * 10)).collect();
    let v = c
        .check_frames(
            clip.iter().map(|f| (96, 64, f.as_slice())),
            DEFAULT_NSFW_THRESHOLD,
        )
        .unwrap();
    let FrameVerdict::Allowed { sampled, max_score } = v else {
        panic!("refused: {v:?}");
    };
    assert_eq!(sampled, NSFW_SAMPLE_FRAMES);
    assert!(max_score < DEFAULT_NSFW_THRESHOLD);
    assert!(v.is_allowed());
}

/// Refusals name the first sampled frame at or over the threshold, by its index in the clip.
#[test]
fn refusal_names_the_frame() {
    let c = classifier();
    let grey = solid(32, 24, [60, 90, 60]);
    // A flat dusty pink: the highest-scoring solid colour (about 0.53; see docs/safety.md).
    let pink = solid(32, 24, [160, 120, 112]);
    let grey_score = c.score_rgb(32, 24, &grey).unwrap();
    let pink_score = c.score_rgb(32, 24, &pink).unwrap();
    assert!(
        grey_score < 0.3 && pink_score > 0.4,
        "{grey_score} {pink_score}"
    );
    let threshold = (grey_score + pink_score) / 2.0;

    // 15 frames: sampled 0, 2, 4, 6, 8, 10, 12, 14; frame 6 is pink.
    assert_eq!(sample_indices(15), vec![0, 2, 4, 6, 8, 10, 12, 14]);
    let mut clip = vec![grey.as_slice(); 15];
    clip[6] = &pink;
    clip[13] = &pink; // not sampled
    let v = c
        .check_frames(clip.iter().map(|f| (32, 24, *f)), threshold)
        .unwrap();
    assert_eq!(
        v,
        FrameVerdict::Refused {
            frame: 6,
            score: pink_score
        }
    );
    assert!(!v.is_allowed());
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["verdict"], "refused");
    assert_eq!(json["frame"], 6);

    // Threshold 0 refuses anything, at the first frame.
    let v = c.check_frames([(32, 24, grey.as_slice())], 0.0).unwrap();
    assert!(matches!(v, FrameVerdict::Refused { frame: 0, .. }), "{v:?}");
}

#[test]
fn bad_frames_are_clear_errors() {
    let c = classifier();
    let ok = solid(8, 8, [1, 2, 3]);
    let msg = |e: SafetyError| e.to_string();

    let e = msg(c.score_rgb(8, 8, &ok[..191]).unwrap_err());
    assert!(e.contains("191 bytes") && e.contains("needs 192"), "{e}");
    let e = msg(c.score_rgb(0, 8, &[]).unwrap_err());
    assert!(e.contains("empty frame (0x8)"), "{e}");
    let e = msg(c.score_rgb(100_000, 1, &[]).unwrap_err());
    assert!(e.contains("too large"), "{e}");
    let e = msg(nsfw_input_crop(4, 4, &ok).unwrap_err());
    assert!(e.contains("needs 48"), "{e}");

    // In a clip, the error names the frame, even one that would not be sampled.
    let frames: Vec<(u32, u32, &[u8])> = vec![(8, 8, &ok), (8, 8, &ok), (8, 7, &ok), (8, 8, &ok)];
    let e = msg(c.check_frames(frames, 0.7).unwrap_err());
    assert!(e.starts_with("frame 2: RGB buffer has 192 bytes"), "{e}");

    let e = msg(c
        .check_frames(Vec::<(u32, u32, &[u8])>::new(), 0.7)
        .unwrap_err());
    assert_eq!(e, "frames: no frames to check");

    for t in [f32::NAN, -0.1, 1.5] {
        let e = c.check_frames([(8, 8, ok.as_slice())], t).unwrap_err();
        assert!(matches!(e, SafetyError::Threshold { .. }), "{e}");
        assert!(e.to_string().contains("0..=1"), "{e}");
    }
}

#[test]
fn bad_model_files_name_the_path() {
    let missing = Path::new("/nonexistent/kino/open-nsfw.onnx");
    let e = NsfwClassifier::from_file(missing).unwrap_err().to_string();
    assert!(
        e.contains("/nonexistent/kino/open-nsfw.onnx") && e.contains("cannot read"),
        "{e}"
    );

    let dir = std::env::temp_dir().join(format!("kino-safety-nsfw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf \xff\xff\xff\xff").unwrap();
    let e = NsfwClassifier::from_file(&garbage).unwrap_err();
    assert!(matches!(e, SafetyError::Classifier { .. }), "{e}");
    assert!(
        e.to_string().contains(&garbage.display().to_string()),
        "{e}"
    );

    // A truncated copy of the real model.
    let model = std::fs::read(root().join("models/safety/open-nsfw.onnx")).unwrap();
    let truncated = dir.join("truncated.onnx");
    std::fs::write(&truncated, &model[..model.len() / 3]).unwrap();
    let e = NsfwClassifier::from_file(&truncated)
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated.onnx"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn from_file_matches_embedded() {
    let f = NsfwClassifier::from_file(root().join("models/safety/open-nsfw.onnx")).unwrap();
    assert!(f.source().ends_with("open-nsfw.onnx"));
    assert!(classifier().source().starts_with("embedded"));
    let g = gradient(64, 48, 3);
    assert_eq!(
        f.score_rgb(64, 48, &g).unwrap(),
        classifier().score_rgb(64, 48, &g).unwrap()
    );
}
