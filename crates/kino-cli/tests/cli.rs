//! The `kino` binary end to end, as a user runs it.

use std::path::Path;
use std::process::Command;

fn kino(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kino"))
        .args(args)
        .output()
        .expect("run kino")
}

fn write_png(path: &Path, w: u32, h: u32, shade: u8) {
    let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([shade, (x % 256) as u8, 90]));
    img.save(path).unwrap();
}

#[test]
fn media_mux_probe_thumbnail_spritesheet() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 0..30 {
        write_png(&frames.join(format!("f{i:03}.png")), 96, 64, (i * 8) as u8);
    }
    let wav = dir.path().join("a.wav");
    let tone: Vec<f32> = (0..48_000).map(|k| (k as f32 * 0.05).sin() * 0.3).collect();
    kino_media::write_wav(
        &wav,
        &kino_media::AudioBuffer::new(24_000, 2, tone).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("out.mp4");
    let o = kino(&[
        "media",
        "mux",
        "--frames",
        frames.to_str().unwrap(),
        "--audio",
        wav.to_str().unwrap(),
        "--fps",
        "15",
        "--crf",
        "20",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = kino(&["media", "probe", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["fast_start"], true);
    assert_eq!(info["streams"][0]["kind"], "video");
    assert_eq!(info["streams"][0]["samples"], 30);
    assert_eq!(info["streams"][0]["width"], 96);
    assert_eq!(info["streams"][1]["kind"], "audio");
    assert_eq!(info["streams"][1]["codec"], "mp4a.40.2");
    assert_eq!(info["streams"][1]["sample_rate"], 24_000);
    // The WAV (2 s) is fitted to the 30 frames at 15 fps (2 s).
    assert!((info["streams"][1]["duration_s"].as_f64().unwrap() - 2.0).abs() < 0.01);

    let thumb = dir.path().join("t.webp");
    let o = kino(&[
        "media",
        "thumbnail",
        out.to_str().unwrap(),
        "-o",
        thumb.to_str().unwrap(),
        "--at",
        "1.0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = image::open(&thumb).unwrap().to_rgb8();
    assert_eq!(t.dimensions(), (96, 64));
    // Frame 15 has red = 120.
    assert!(
        (t.get_pixel(10, 10).0[0] as i32 - 120).abs() < 8,
        "{:?}",
        t.get_pixel(10, 10)
    );

    let sheet = dir.path().join("s.jpg");
    let o = kino(&[
        "media",
        "spritesheet",
        out.to_str().unwrap(),
        "-o",
        sheet.to_str().unwrap(),
        "--count",
        "6",
        "--columns",
        "3",
        "--tile-width",
        "48",
    ]);
    assert!(o.status.success());
    let sheet = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(sheet.dimensions(), (144, 64));
}

#[test]
fn media_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.mp4");
    std::fs::write(&bad, "just text").unwrap();
    let o = kino(&["media", "probe", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.mp4") && err.contains("not an MP4"),
        "{err}"
    );

    let frames = dir.path().join("odd");
    std::fs::create_dir(&frames).unwrap();
    write_png(&frames.join("a.png"), 33, 20, 0);
    let o = kino(&[
        "media",
        "mux",
        "--frames",
        frames.to_str().unwrap(),
        "-o",
        "/tmp/never.mp4",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("even width"));

    let o = kino(&[
        "media",
        "mux",
        "--frames",
        dir.path().join("none").to_str().unwrap(),
        "-o",
        "x.mp4",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("none"));
}

#[test]
fn plan_prints_text_json_and_errors() {
    let o = kino(&[
        "plan",
        "Scene: a lantern rises.\nAudio: door slam at 00:02\nDuration: 4s",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["clip"]["duration_s"], 4.0);
    let o = kino(&["plan", "Scen: typo"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1:1") && err.contains("Scene"), "{err}");
}

#[test]
fn world_sample_then_judge_scores_it_high() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("w.mp4");
    let prompt = "a green ball falls onto a stone floor at noon, static camera";
    let o = kino(&[
        "world",
        "sample",
        "--prompt",
        prompt,
        "-o",
        clip.to_str().unwrap(),
        "--seconds",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("w.json").exists());
    let o = kino(&[
        "judge",
        clip.to_str().unwrap(),
        "--prompt",
        prompt,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let overall = report["overall"].as_f64().unwrap();
    assert!(overall > 0.9, "overall {overall}");
    // Judged against a different prompt, adherence falls.
    let o = kino(&[
        "judge",
        clip.to_str().unwrap(),
        "--prompt",
        "a purple box at night",
        "--json",
    ]);
    let other: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        other["overall"].as_f64().unwrap() < overall - 0.2,
        "{}",
        other["overall"]
    );

    let o = kino(&[
        "world",
        "sample",
        "--prompt",
        prompt,
        "-o",
        "/tmp/x.mp4",
        "--size",
        "33x20",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--size"));
}

fn probe(path: &Path) -> serde_json::Value {
    let o = kino(&["media", "probe", path.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The shipped kino-tiny, through the commands a user types (short clips, few steps).
#[test]
fn generate_remix_extend_with_the_shipped_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let prompt = "A red ball falls onto a wooden floor at dusk. Audio: a thud when it lands.";
    let o = kino(&["models", "verify", "../../models/kino-tiny"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let gen = |out: &str, seed: &str| {
        kino(&[
            "generate",
            prompt,
            "-o",
            out,
            "--seconds",
            "1",
            "--steps",
            "2",
            "--seed",
            seed,
        ])
    };
    let o = gen(&p("a.mp4"), "3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = probe(Path::new(&p("a.mp4")));
    assert_eq!(info["fast_start"], true);
    assert_eq!(info["streams"][0]["kind"], "video");
    assert_eq!(info["streams"][0]["width"], 128);
    assert_eq!(info["streams"][1]["kind"], "audio");
    let secs = info["streams"][0]["duration_s"].as_f64().unwrap();
    assert!((secs - 1.0).abs() < 0.1, "{secs}");
    // Same seed, same clip; another seed, another clip.
    assert!(gen(&p("b.mp4"), "3").status.success());
    assert!(gen(&p("c.mp4"), "4").status.success());
    let read = |n: &str| std::fs::read(p(n)).unwrap();
    assert_eq!(read("a.mp4"), read("b.mp4"));
    assert_ne!(read("a.mp4"), read("c.mp4"));

    let o = kino(&[
        "remix",
        &p("a.mp4"),
        "A blue ball falls onto a wooden floor at dusk.",
        "--strength",
        "0.5",
        "--steps",
        "2",
        "-o",
        &p("r.mp4"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let secs = probe(Path::new(&p("r.mp4")))["streams"][0]["duration_s"]
        .as_f64()
        .unwrap();
    assert!((secs - 1.0).abs() < 0.1, "{secs}");

    let o = kino(&[
        "extend",
        &p("a.mp4"),
        "The ball rolls to the left.",
        "--seconds",
        "1",
        "--steps",
        "2",
        "-o",
        &p("e.mp4"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let secs = probe(Path::new(&p("e.mp4")))["streams"][0]["duration_s"]
        .as_f64()
        .unwrap();
    assert!((secs - 2.0).abs() < 0.15, "{secs}");

    // Bad input names what is wrong.
    let o = kino(&[
        "generate",
        prompt,
        "--model",
        "/no/such/model",
        "-o",
        &p("x.mp4"),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/model"));
    let o = kino(&["generate", prompt, "--device", "tpu", "-o", &p("x.mp4")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--device tpu"));
    assert!(!Path::new(&p("x.mp4")).exists());
}
