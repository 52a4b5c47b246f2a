//! The `kino` binary end to end, as a user runs it.

mod common;

use std::path::Path;

use common::{assert_fails_with, assert_ok, run_kino};

/// Runs kino with a throwaway data directory: tests never touch the real home's keys.
fn kino(args: &[&str]) -> std::process::Output {
    let data = tempfile::tempdir().expect("tempdir");
    run_kino(data.path(), args)
}

/// `kino verify FILE --json`: (exit code, report).
fn verify_json(data: &Path, file: &Path) -> (i32, serde_json::Value) {
    let o = run_kino(data, &["verify", file.to_str().unwrap(), "--json"]);
    let code = o.status.code().expect("exit code");
    let report = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "verify {}: exit {code}, not JSON ({e}): {}{}",
            file.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (code, report)
}

/// Asserts that a `kino verify --json` report has valid credentials whose first action
/// created the clip as `source_type` (an IPTC digital source type) by a software agent named
/// `agent` and a version.
fn assert_created(v: &serde_json::Value, source_type: &str, agent: &str) {
    assert_eq!(v["c2pa"]["state"], "valid", "{v:#}");
    let created = &v["c2pa"]["actions"][0];
    assert_eq!(created["action"], "c2pa.created", "{v:#}");
    assert_eq!(
        created["digital_source_type"],
        format!("http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}")
    );
    assert!(created["software_agent"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{agent} ")));
}

/// Asserts that a `kino verify --json` report names kino as the claim generator.
fn assert_kino_generator(v: &serde_json::Value) {
    assert!(v["c2pa"]["generator"]
        .as_str()
        .unwrap()
        .starts_with("kino "));
}

/// Asserts that a `kino verify --json` report found kino's watermark, agreeing with the
/// manifest.
fn assert_kino_watermark(v: &serde_json::Value) {
    assert_eq!(v["watermark"]["found"], true, "{v:#}");
    assert_eq!(v["watermark"]["matches_manifest"], true);
    assert_eq!(v["watermark"]["payload"]["generator"], 0x4B49);
}

/// A copy of `from` at `to` with one bit flipped in the middle of its media data.
fn tamper(from: &Path, to: &Path) {
    let mut bytes = std::fs::read(from).unwrap();
    let boxes = kino_provenance::credentials::top_level_boxes(&bytes, "clip").unwrap();
    let mdat = boxes.iter().find(|b| &b.kind == b"mdat").unwrap().body();
    let at = ((mdat.start + mdat.end) / 2) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(to, bytes).unwrap();
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
    assert_ok(&o);

    let o = kino(&["media", "probe", out.to_str().unwrap(), "--json"]);
    assert_ok(&o);
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

    // Signed as what it is: media kino was given, assembled (composite), the WAV a placed
    // component; no watermark (kino generated none of it).
    let (code, v) = verify_json(dir.path(), &out);
    assert_eq!(code, 5, "{v:#}");
    assert_eq!(v["verdict"], "credentials_only");
    assert_created(&v, "composite", "kino media mux");
    assert_eq!(v["c2pa"]["title"], "out.mp4");
    assert_kino_generator(&v);
    let description = v["c2pa"]["actions"][0]["description"].as_str().unwrap();
    assert!(
        description.contains("30 image frames") && description.contains("a.wav"),
        "{description}"
    );
    assert_eq!(v["c2pa"]["actions"][1]["action"], "c2pa.placed", "{v:#}");
    assert_eq!(v["c2pa"]["ingredients"][0]["title"], "a.wav");
    assert_eq!(v["c2pa"]["ingredients"][0]["relationship"], "componentOf");
    assert_eq!(v["watermark"]["found"], false);
    assert_eq!(v["c2pa"]["watermark"], serde_json::Value::Null);
    let o = kino(&["verify", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("action:      c2pa.created [composite] by kino media mux"),
        "{text}"
    );

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
    assert_ok(&o);
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
    assert_ok(&o);
    let sheet = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(sheet.dimensions(), (144, 64));
}

#[test]
fn media_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.mp4");
    std::fs::write(&bad, "just text").unwrap();
    let o = kino(&["media", "probe", bad.to_str().unwrap()]);
    assert_fails_with(&o, &["notes.mp4", "not an MP4"]);

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
    assert_fails_with(&o, &["even width"]);

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
    assert_ok(&o);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["clip"]["duration_s"], 4.0);
    let o = kino(&["plan", "Scen: typo"]);
    assert_fails_with(&o, &["1:1", "Scene"]);
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
        "--seed",
        "7",
    ]);
    assert_ok(&o);
    assert!(dir.path().join("w.json").exists());
    // Signed as a procedural render: algorithmicMedia by kino-world, with its seed; no model,
    // no watermark.
    let (code, v) = verify_json(dir.path(), &clip);
    assert_eq!(code, 5, "{v:#}");
    assert_created(&v, "algorithmicMedia", "kino-world");
    assert_eq!(v["c2pa"]["render"]["renderer"], "kino-world");
    assert_eq!(v["c2pa"]["render"]["seed"], 7);
    assert!(v["c2pa"]["ingredients"].as_array().unwrap().is_empty());
    assert_kino_generator(&v);
    assert_eq!(v["watermark"]["found"], false);
    let o = kino(&["verify", clip.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("C2PA:      valid"), "{text}");
    assert!(
        text.contains("action:      c2pa.created [algorithmicMedia] by kino-world"),
        "{text}"
    );
    assert!(
        text.contains("rendered:    by kino-world, seed 7"),
        "{text}"
    );
    let o = kino(&[
        "judge",
        clip.to_str().unwrap(),
        "--prompt",
        prompt,
        "--json",
    ]);
    assert_ok(&o);
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
    assert_fails_with(&o, &["--size"]);
}

fn probe(path: &Path) -> serde_json::Value {
    let o = kino(&["media", "probe", path.to_str().unwrap(), "--json"]);
    assert_ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The video stream's duration in seconds, as `kino media probe` reads it.
fn video_seconds(path: &Path) -> f64 {
    probe(path)["streams"][0]["duration_s"].as_f64().unwrap()
}

/// The shipped kino-tiny, through the commands a user types (short clips, few steps).
#[test]
fn generate_remix_extend_with_the_shipped_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let data = dir.path().join("data");
    let kino = |args: &[&str]| run_kino(&data, args);
    let prompt = "A red ball falls onto a wooden floor at dusk. Audio: a thud when it lands.";
    let o = kino(&["models", "verify", "../../models/kino-tiny"]);
    assert_ok(&o);

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
    assert_ok(&o);
    // The first clip made the signing key in the data directory, and said so.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("made a new provenance signing key"),
        "{stderr}"
    );
    assert!(data.join("provenance/cert_chain.pem").is_file());
    let info = probe(Path::new(&p("a.mp4")));
    assert_eq!(info["fast_start"], true);
    assert_eq!(info["streams"][0]["kind"], "video");
    assert_eq!(info["streams"][0]["width"], 128);
    assert_eq!(info["streams"][1]["kind"], "audio");
    let secs = info["streams"][0]["duration_s"].as_f64().unwrap();
    assert!((secs - 1.0).abs() < 0.1, "{secs}");
    // Same seed, same clip; another seed, another clip. (The files differ in their C2PA
    // manifests, which carry random identifiers; the media is the same.)
    let o = gen(&p("b.mp4"), "3");
    assert_ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("made a new provenance"));
    assert!(gen(&p("c.mp4"), "4").status.success());
    let media = |n: &str| {
        let c = kino_media::read_mp4(Path::new(&p(n))).unwrap();
        (
            c.video.data().to_vec(),
            c.audio.map(|a| a.samples().to_vec()),
        )
    };
    assert!(
        media("a.mp4") == media("b.mp4"),
        "same seed, different media"
    );
    assert!(media("a.mp4") != media("c.mp4"), "another seed, same media");

    // Every generated clip is signed and watermarked, and `kino verify` says so.
    let (code, v) = verify_json(&data, Path::new(&p("a.mp4")));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "verified");
    assert_created(&v, "trainedAlgorithmicMedia", "kino-tiny");
    assert_eq!(v["c2pa"]["trusted"], false);
    assert_eq!(v["c2pa"]["issuer"], "kino");
    assert_kino_generator(&v);
    assert_kino_watermark(&v);
    let o = kino(&["verify", &p("a.mp4")]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("C2PA:      valid"), "{text}");
    assert!(text.contains("Watermark: found"), "{text}");
    assert!(text.contains("action:      c2pa.created"), "{text}");

    // One flipped bit in the media data: the credentials no longer hold.
    tamper(Path::new(&p("a.mp4")), Path::new(&p("t.mp4")));
    let (code, v) = verify_json(&data, Path::new(&p("t.mp4")));
    assert_eq!(code, 3, "{v:#}");
    assert_eq!(v["c2pa"]["state"], "invalid");
    assert!(
        v["c2pa"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("mismatch")),
        "{v:#}"
    );
    // Re-encoded without its manifest (credentials stripped): the watermark still speaks.
    let decoded = kino_media::read_mp4(Path::new(&p("a.mp4"))).unwrap();
    kino_media::write_mp4(
        Path::new(&p("stripped.mp4")),
        &decoded.video,
        decoded.audio.as_ref(),
        &kino_media::EncodeOptions::default(),
    )
    .unwrap();
    let (code, v) = verify_json(&data, Path::new(&p("stripped.mp4")));
    assert_eq!(code, 4, "{v:#}");
    assert_eq!(v["c2pa"]["state"], "absent");
    assert_eq!(v["watermark"]["found"], true);

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
    assert_ok(&o);
    let secs = video_seconds(Path::new(&p("r.mp4")));
    assert!((secs - 1.0).abs() < 0.1, "{secs}");
    // A remix is an edit of its source, which travels along as the parent ingredient.
    let (code, v) = verify_json(&data, Path::new(&p("r.mp4")));
    assert_eq!(code, 0, "{v:#}");
    let actions: Vec<&str> = v["c2pa"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["c2pa.opened", "c2pa.edited"], "{v:#}");
    assert_eq!(v["c2pa"]["ingredients"][0]["relationship"], "parentOf");
    assert_eq!(v["c2pa"]["ingredients"][0]["title"], "a.mp4");
    assert!(v["c2pa"]["ingredients"][0]["manifest"].is_string());

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
    assert_ok(&o);
    let secs = video_seconds(Path::new(&p("e.mp4")));
    assert!((secs - 2.0).abs() < 0.15, "{secs}");
    let (code, v) = verify_json(&data, Path::new(&p("e.mp4")));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["c2pa"]["ingredients"][0]["relationship"], "parentOf");

    // Bad input names what is wrong. (`refused`: `kino generate` of the prompt to x.mp4 with
    // `extra` arguments fails, saying each of `says`.)
    let refused = |extra: &[&str], says: &[&str]| {
        let x = p("x.mp4");
        let mut args = vec!["generate", prompt];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-o", &x]);
        assert_fails_with(&kino(&args), says);
    };
    refused(&["--model", "/no/such/model"], &["/no/such/model"]);
    refused(&["--device", "tpu"], &["--device tpu"]);
    assert!(!Path::new(&p("x.mp4")).exists());

    // The visible mark, on request: a badge in the bottom-right corner, the invisible
    // watermark and the manifest still there.
    let o = kino(&[
        "generate",
        prompt,
        "-o",
        &p("m.mp4"),
        "--seconds",
        "1",
        "--steps",
        "2",
        "--seed",
        "3",
        "--visible-mark",
    ]);
    assert_ok(&o);
    let plain = kino_media::read_mp4(Path::new(&p("a.mp4"))).unwrap().video;
    let marked = kino_media::read_mp4(Path::new(&p("m.mp4"))).unwrap().video;
    let badge = kino_provenance::visible::VisibleMark::default()
        .rect(128, 128)
        .unwrap();
    let (mut inside, mut outside) = ((0f64, 0usize), (0f64, 0usize));
    for i in 0..plain.len() {
        let (a, b) = (plain.frame_rgb(i).unwrap(), marked.frame_rgb(i).unwrap());
        for y in 0..128u32 {
            for x in 0..128u32 {
                let k = ((y * 128 + x) * 3) as usize;
                let d = (0..3)
                    .map(|c| (f64::from(a[k + c]) - f64::from(b[k + c])).abs())
                    .sum::<f64>()
                    / 3.0;
                let within = (badge.0..badge.0 + badge.2).contains(&x)
                    && (badge.1..badge.1 + badge.3).contains(&y);
                let acc = if within { &mut inside } else { &mut outside };
                acc.0 += d;
                acc.1 += 1;
            }
        }
    }
    let (inside, outside) = (inside.0 / inside.1 as f64, outside.0 / outside.1 as f64);
    assert!(
        inside > 25.0 && outside < 4.0,
        "badge {inside:.1}, elsewhere {outside:.1}"
    );
    let (code, v) = verify_json(&data, Path::new(&p("m.mp4")));
    assert_eq!(code, 0, "{v:#}");
    // --trust: the data dir's own root makes the signer trusted; another root does not
    // (exit 8); a file that is not a certificate bundle is an error naming it.
    let root_of = |data: &Path| {
        let chain = std::fs::read_to_string(data.join("provenance/cert_chain.pem")).unwrap();
        let last = chain.rsplit("-----BEGIN CERTIFICATE-----").next().unwrap();
        format!("-----BEGIN CERTIFICATE-----{last}")
    };
    std::fs::write(p("root.pem"), root_of(&data)).unwrap();
    let trust = |anchor: &str| {
        let o = kino(&["verify", &p("m.mp4"), "--json", "--trust", anchor]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        (
            o.status.code(),
            v,
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, v, err) = trust(&p("root.pem"));
    assert_eq!(code, Some(0), "{v:#} {err}");
    assert_eq!(v["c2pa"]["trusted"], true, "{v:#}");
    let other = dir.path().join("other");
    let o = run_kino(&other, &["keys", "provenance", "init"]);
    assert_ok(&o);
    std::fs::write(p("other-root.pem"), root_of(&other)).unwrap();
    let (code, v, _) = trust(&p("other-root.pem"));
    assert_eq!(code, Some(8), "{v:#}");
    assert_eq!(v["verdict"], "untrusted");
    assert_eq!(v["c2pa"]["trusted"], false);
    std::fs::write(p("junk.pem"), "not a certificate").unwrap();
    let (code, _, err) = trust(&p("junk.pem"));
    assert_eq!(code, Some(1));
    assert!(err.contains("junk.pem"), "{err}");
    refused(
        &["--visible-mark", "middle"],
        &["--visible-mark: corner 'middle'"],
    );

    // The content policy on both ends: a refused prompt, and a clip that the output check
    // refuses (threshold 0 refuses every clip). Neither writes a file.
    let o = kino(&[
        "generate",
        "Darth Vader dances in the rain",
        "-o",
        &p("x.mp4"),
    ]);
    assert_fails_with(&o, &["refused", "content policy"]);
    refused(
        &["--seconds", "1", "--steps", "1", "--nsfw-threshold", "0"],
        &["blocked by the output check", "Nothing was written"],
    );
    refused(&["--nsfw-threshold", "1.5"], &["--nsfw-threshold 1.5"]);
    assert!(!Path::new(&p("x.mp4")).exists());
}

/// `kino keys provenance`: init, show, refuse to overwrite, import an operator's files.
#[test]
fn keys_provenance_init_show_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let k = |args: &[&str]| run_kino(&data, args);

    // Nothing yet: the error names the folder.
    let o = k(&["keys", "provenance", "show"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(data_s), "{err}");

    let o = k(&["keys", "provenance", "init"]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("kino clip signer"), "{out}");
    let o = k(&["keys", "provenance", "show", "--json"]);
    assert_ok(&o);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["self_signed_root"], true);
    assert_eq!(info["chain"].as_array().unwrap().len(), 2);
    let fingerprint = info["fingerprint_sha256"].as_str().unwrap().to_string();

    // Never overwritten.
    let o = k(&["keys", "provenance", "init"]);
    assert_fails_with(&o, &["already exists"]);

    // Import into another data directory (--data-dir wins over KINO_DATA_DIR).
    let other = dir.path().join("other");
    let pdir = data.join("provenance");
    let o = k(&[
        "keys",
        "provenance",
        "init",
        "--cert",
        pdir.join("cert_chain.pem").to_str().unwrap(),
        "--key",
        pdir.join("private_key.pem").to_str().unwrap(),
        "--data-dir",
        other.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let o = k(&[
        "keys",
        "provenance",
        "show",
        "--json",
        "--data-dir",
        other.to_str().unwrap(),
    ]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["fingerprint_sha256"], fingerprint.as_str());

    // --cert without --key is a usage error; a bad file names itself.
    let o = k(&["keys", "provenance", "init", "--cert", "x.pem"]);
    assert_eq!(o.status.code(), Some(2));
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not pem").unwrap();
    let o = k(&[
        "keys",
        "provenance",
        "init",
        "--cert",
        junk.to_str().unwrap(),
        "--key",
        junk.to_str().unwrap(),
        "--data-dir",
        dir.path().join("third").to_str().unwrap(),
    ]);
    assert_fails_with(&o, &["junk.pem"]);
}

/// An operator's own certificate chain, made outside kino (OpenSSL's command line: a P-256
/// root CA and a signing certificate it issued): `kino keys provenance init --cert --key`
/// imports it, the clips kino signs carry it, and `kino verify --trust ROOT` calls them
/// trusted, where kino's own key (not under that root) is not. Needs `openssl`; skipped
/// without it unless KINO_REQUIRE_OPENSSL=1 (CI).
#[test]
fn an_operator_chain_made_with_openssl_signs_and_verifies_as_trusted() {
    let openssl = |dir: &Path, args: &[&str]| -> bool {
        match std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
        {
            Ok(o) if o.status.success() => true,
            Ok(o) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => {
                assert!(
                    std::env::var_os("KINO_REQUIRE_OPENSSL").is_none(),
                    "openssl: {e}"
                );
                false
            }
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("ext.cnf"),
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\n[leaf]\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let p256 = [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ];
    if !openssl(d, &[&p256[..], &["-out", "root.key"]].concat()) {
        eprintln!("skipped: no openssl");
        return;
    }
    let subject_root = "/O=Example Newsroom/CN=Example Root CA";
    let subject_leaf = "/O=Example Newsroom/CN=Example Signer";
    for args in [
        vec![
            "req",
            "-new",
            "-key",
            "root.key",
            "-subj",
            subject_root,
            "-out",
            "root.csr",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            "root.csr",
            "-signkey",
            "root.key",
            "-days",
            "3650",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ca",
            "-out",
            "root.pem",
        ],
        [&p256[..], &["-out", "signer.key"]].concat(),
        vec![
            "req",
            "-new",
            "-key",
            "signer.key",
            "-subj",
            subject_leaf,
            "-out",
            "signer.csr",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
            "-out",
            "signer.pem",
        ],
    ] {
        assert!(openssl(d, &args));
    }
    let chain = [
        std::fs::read_to_string(d.join("signer.pem")).unwrap(),
        std::fs::read_to_string(d.join("root.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(d.join("chain.pem"), chain).unwrap();

    let data = d.join("data");
    let o = run_kino(
        &data,
        &[
            "keys",
            "provenance",
            "init",
            "--cert",
            d.join("chain.pem").to_str().unwrap(),
            "--key",
            d.join("signer.key").to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Example Signer"), "{out}");
    let root = d.join("root.pem");
    let (code, v) = sample_and_verify(&data, &d.join("clip.mp4"), &root);
    assert_eq!(code, Some(5), "valid credentials, no watermark: {v:#}");
    assert_eq!(v["c2pa"]["state"], "valid", "{v:#}");
    assert_eq!(v["c2pa"]["trusted"], true, "{v:#}");
    assert_eq!(v["c2pa"]["issuer"], "Example Newsroom", "{v:#}");

    // kino's own self-signed key does not chain to the operator's root: exit 8.
    let other = d.join("other");
    assert_ok(&run_kino(&other, &["keys", "provenance", "init"]));
    let (code, v) = sample_and_verify(&other, &d.join("own.mp4"), &root);
    assert_eq!(code, Some(8), "{v:#}");
    assert_eq!(v["c2pa"]["trusted"], false, "{v:#}");
}

/// Writes a world clip signed with `data`'s key to `clip`, then `kino verify --json
/// --trust ROOT` it: the exit code and the report.
fn sample_and_verify(data: &Path, clip: &Path, root: &Path) -> (Option<i32>, serde_json::Value) {
    assert_ok(&run_kino(
        data,
        &[
            "world",
            "sample",
            "--prompt",
            "a red ball falls onto grass",
            "-o",
            clip.to_str().unwrap(),
        ],
    ));
    let o = run_kino(
        data,
        &[
            "verify",
            clip.to_str().unwrap(),
            "--json",
            "--trust",
            root.to_str().unwrap(),
        ],
    );
    (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
}

/// `kino verify` on files without provenance, and on files it cannot read.
#[test]
fn verify_exit_codes_without_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = kino(&["verify", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("INVALID"), "{help}");

    // An unsigned, unmarked MP4 (every MP4 the CLI writes is signed, so straight from
    // kino-media).
    let mut video = kino_media::VideoFrames::new(
        64,
        48,
        kino_media::Rational::new(12, 1).unwrap(),
        kino_media::PixelFormat::Rgb8,
    )
    .unwrap();
    for i in 0..12u32 {
        let img = image::RgbImage::from_fn(64, 48, |x, _| {
            image::Rgb([(i * 20) as u8, (x % 256) as u8, 90])
        });
        video.push(img.as_raw()).unwrap();
    }
    let audio = kino_media::AudioBuffer::new(16_000, 1, vec![0.0; 16_000]).unwrap();
    let plain = dir.path().join("plain.mp4");
    kino_media::write_mp4(
        &plain,
        &video,
        Some(&audio),
        &kino_media::EncodeOptions::default(),
    )
    .unwrap();
    let (code, v) = verify_json(&data, &plain);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(v["c2pa"]["state"], "absent");
    assert_eq!(v["watermark"]["found"], false);
    assert_eq!(v["verdict"], "nothing");

    // Not an MP4, truncated, missing: exit 1 with the file named.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for f in [text, cut, dir.path().join("missing.mp4")] {
        let o = run_kino(&data, &["verify", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", f.display());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(f.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
    assert!(!data.exists(), "verify must not create a key");

    // A valid manifest whose watermark claim is not the payload in the frames: exit 7.
    let spec = kino_world::SceneSpec::random(
        3,
        &kino_world::RandomOptions {
            duration_s: 1.0,
            ..Default::default()
        },
    )
    .unwrap();
    let mut frames = kino_world::render(&spec, &kino_world::simulate(&spec)).unwrap();
    use kino_provenance::{credentials, stamp, watermark::Payload};
    stamp::watermark(&mut frames, "kino-the-clip").unwrap();
    let (bytes, _) =
        kino_media::encode_mp4(&frames, None, &kino_media::EncodeOptions::default()).unwrap();
    let mut claims = credentials::Credentials::created("forger", "1");
    claims.watermark = Some(credentials::WatermarkClaim::new(
        "kino-another-clip",
        Payload::from_clip_id(stamp::KINO_GENERATOR, "kino-another-clip"),
        stamp::KINO_WATERMARK_KEY_ID,
    ));
    let key = credentials::ProvenanceKey::init(&dir.path().join("forger")).unwrap();
    let forged = dir.path().join("forged.mp4");
    std::fs::write(
        &forged,
        credentials::sign_mp4_bytes(&key, &claims, &bytes).unwrap(),
    )
    .unwrap();
    let (code, v) = verify_json(&data, &forged);
    assert_eq!(code, 7, "{v:#}");
    assert_eq!(v["verdict"], "mismatch");
    assert_eq!(v["c2pa"]["state"], "valid");
    assert_eq!(v["watermark"]["found"], true);

    // A small, flat clip whose payload a re-encode at 1/5 of its bitrate made unreadable: no
    // credentials, so "nothing" on its own, but `--clip-id` (or `--original`, the signed
    // clip it was copied from) confirms it as that clip's copy, and another id does not.
    let spec = kino_world::SceneSpec::random(
        1007,
        &kino_world::RandomOptions {
            duration_s: 3.0,
            width: 128,
            height: 128,
            ..Default::default()
        },
    )
    .unwrap();
    let mut frames = kino_world::render(&spec, &kino_world::simulate(&spec)).unwrap();
    use kino_provenance::watermark::{attack, embed, EmbedOptions};
    let id = "kino-flat-clip";
    let payload = Payload::from_clip_id(stamp::KINO_GENERATOR, id);
    embed(
        &mut frames,
        &payload,
        &stamp::kino_watermark_key(),
        &EmbedOptions::default(),
    )
    .unwrap();
    let (delivered, bps) = attack::reencode(&frames, kino_media::VideoQuality::Crf(23)).unwrap();
    let original = dir.path().join("original.mp4");
    let mut claims = credentials::Credentials::created("kino", "1");
    claims.watermark = Some(credentials::WatermarkClaim::new(
        id,
        payload,
        stamp::KINO_WATERMARK_KEY_ID,
    ));
    let (bytes, _) =
        kino_media::encode_mp4(&frames, None, &kino_media::EncodeOptions::default()).unwrap();
    std::fs::write(
        &original,
        credentials::sign_mp4_bytes(&key, &claims, &bytes).unwrap(),
    )
    .unwrap();
    let copy = dir.path().join("copy.mp4");
    kino_media::write_mp4(
        &copy,
        &delivered,
        None,
        &kino_media::EncodeOptions {
            video_quality: kino_media::VideoQuality::Bitrate(bps / 5),
            ..Default::default()
        },
    )
    .unwrap();
    let (code, v) = verify_json(&data, &copy);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(v["watermark"]["read"], false);
    assert!(v["watermark"]["claim_check"].is_null(), "{v:#}");
    let copy_s = copy.to_str().unwrap();
    let with = |extra: &[&str]| {
        let mut args = vec!["verify", copy_s, "--json"];
        args.extend_from_slice(extra);
        let o = run_kino(&data, &args);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code().unwrap_or(-1), v)
    };
    for extra in [
        vec!["--clip-id", id],
        vec!["--original", original.to_str().unwrap()],
    ] {
        let (code, v) = with(&extra);
        assert_eq!(code, 4, "{extra:?}: {v:#}");
        let w = &v["watermark"];
        assert_eq!(w["found"], true, "{w:#}");
        assert_eq!(w["read"], false, "{w:#}");
        assert_eq!(w["matches_clip_id"], true, "{w:#}");
        assert_eq!(w["claim_check"]["confirmed"], true, "{w:#}");
        assert_eq!(w["claim_check"]["clip_id"], id, "{w:#}");
        assert_eq!(w["payload"]["clip_hash"], payload.clip_hash, "{w:#}");
    }
    // Signed with that claim, the unreadable copy verifies against its own manifest.
    let signed_copy = dir.path().join("signed-copy.mp4");
    std::fs::write(
        &signed_copy,
        credentials::sign_mp4_bytes(&key, &claims, &std::fs::read(&copy).unwrap()).unwrap(),
    )
    .unwrap();
    let (code, v) = verify_json(&data, &signed_copy);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["watermark"]["read"], false, "{v:#}");
    assert_eq!(v["watermark"]["matches_manifest"], true, "{v:#}");
    assert_eq!(
        v["watermark"]["claim_check"]["source"], "the manifest",
        "{v:#}"
    );
    let (code, v) = with(&["--clip-id", "kino-some-other-clip"]);
    assert_eq!(code, 6, "{v:#}");
    assert_eq!(v["watermark"]["claim_check"]["confirmed"], false, "{v:#}");
    // The original itself: its payload is read and matches the id named; another id is a
    // mismatch (exit 7), and the text report says why.
    let orig_s = original.to_str().unwrap();
    let o = run_kino(&data, &["verify", orig_s, "--clip-id", id]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run_kino(
        &data,
        &["verify", orig_s, "--clip-id", "kino-some-other-clip"],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(7), "{text}");
    assert!(
        text.contains("does NOT match clip id kino-some-other-clip"),
        "{text}"
    );
    assert!(
        text.contains("checked against (--clip-id: kino-some-other-clip)"),
        "{text}"
    );
    let o = run_kino(&data, &["verify", copy_s, "--clip-id", id]);
    let text = String::from_utf8_lossy(&o.stdout);
    eprintln!("{text}");
    assert!(text.contains("CONFIRMED"), "{text}");
    // A file named by --original without a kino claim, or a blank id: exit 1, named.
    let o = run_kino(
        &data,
        &["verify", copy_s, "--original", plain.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("plain.mp4"));
    let o = run_kino(&data, &["verify", copy_s, "--clip-id", " "]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--clip-id"));
}

/// `kino eval --out`: the model's clips get what `kino generate` gives a clip (watermark,
/// trainedAlgorithmicMedia manifest naming the model), the world's reference clips the world's
/// manifest (algorithmicMedia, the held-out seed, no watermark).
#[test]
fn eval_writes_signed_model_and_world_clips() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("eval");
    // One held-out prompt, 1 s, 1 step, written to `out`, plus `extra` arguments.
    let eval_one = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--count",
            "1",
            "--seconds",
            "1",
            "--steps",
            "1",
            "--json",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        run_kino(&data, &args)
    };
    let o = eval_one(&out, &[]);
    assert_ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["clips"], 1);
    let reports = std::fs::read_to_string(out.join("reports.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(reports.lines().next().unwrap()).unwrap();
    assert_eq!(line["file"], "0000.mp4");
    assert_eq!(line["world_file"], "0000-world.mp4");
    let seed = line["seed"].as_u64().unwrap();
    assert_eq!(seed, 1 << 40);

    let (code, v) = verify_json(&data, &out.join("0000.mp4"));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "verified");
    assert_created(&v, "trainedAlgorithmicMedia", "kino-tiny");
    assert_kino_watermark(&v);

    let (code, v) = verify_json(&data, &out.join("0000-world.mp4"));
    assert_eq!(code, 5, "{v:#}");
    assert_eq!(v["c2pa"]["state"], "valid", "{v:#}");
    assert_eq!(
        v["c2pa"]["actions"][0]["digital_source_type"],
        "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"
    );
    assert_eq!(v["c2pa"]["render"]["seed"], seed);
    assert_eq!(v["watermark"]["found"], false);
    // The reference clip is the world's rendering, not the model's clip.
    let world = kino_media::read_mp4(&out.join("0000-world.mp4")).unwrap();
    let model = kino_media::read_mp4(&out.join("0000.mp4")).unwrap();
    assert_ne!(world.video.data(), model.video.data());

    // --output-check scores both sides' clips; at threshold 0 it refuses every model clip,
    // which is then not written, and the run goes on.
    let refused = dir.path().join("refused");
    let o = eval_one(&refused, &["--output-check", "--nsfw-threshold", "0"]);
    assert_ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for side in ["model_scores", "world_scores"] {
        let scores = report[side]["nsfw"].as_array().expect("nsfw scores");
        assert_eq!(scores.len(), 1, "{report:#}");
        assert!((0.0..=1.0).contains(&scores[0].as_f64().unwrap()));
    }
    let reports = std::fs::read_to_string(refused.join("reports.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(reports.lines().next().unwrap()).unwrap();
    assert!(line["file"].is_null(), "{line:#}");
    assert!(line["output_check_refused"].is_number(), "{line:#}");
    assert!(!refused.join("0000.mp4").exists());
    assert!(refused.join("0000-world.mp4").exists());

    // The autoencoder bar judges the world's clips through the model's VAEs and vocoder.
    let o = run_kino(
        &data,
        &[
            "eval",
            "--bar",
            "autoencoder",
            "--count",
            "2",
            "--seconds",
            "1",
            "--json",
        ],
    );
    assert_ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["clips"], 2, "{report:#}");
    assert_eq!(report["model"], "kino-tiny autoencoders", "{report:#}");
    assert_eq!(
        report["model_scores"]["overall"].as_array().map(Vec::len),
        Some(2)
    );
    let o = run_kino(
        &data,
        &[
            "eval",
            "--bar",
            "autoencoder",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_fails_with(&o, &["--out is not supported with --bar autoencoder"]);

    // The loss bar scores the shipped DiT's objective on held-out scenes, per noise level,
    // next to a zero prediction, which the trained model beats.
    let o = run_kino(&data, &["eval", "--bar", "loss", "--count", "2", "--json"]);
    assert_ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["clips"], 2, "{report:#}");
    assert_eq!(
        report["frames"], 49,
        "the training notes' clip length: {report:#}"
    );
    for key in ["video", "video_objects", "audio"] {
        assert_eq!(
            report[key].as_array().map(Vec::len),
            Some(8),
            "{key}: {report:#}"
        );
        let (model, zero) = (
            report[format!("{key}_mean")].as_f64().unwrap(),
            report["zero_prediction"][key].as_f64().unwrap(),
        );
        assert!(model < zero, "{key}: {model} against zero {zero}");
    }
    let o = run_kino(&data, &["eval", "--bar", "loss", "--output-check"]);
    assert_fails_with(&o, &["--output-check is not supported with --bar loss"]);
}

#[test]
fn train_refuses_bad_options_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = tmp.path().join("model");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--recipe",
            "smoke",
            "--run",
            run.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = kino(&args);
        assert!(!o.status.success(), "{extra:?} accepted");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = train(&["--motion-weight=-1"]);
    assert!(e.contains("--motion-weight -1"), "{e}");
    let e = train(&["--motion-weight", "NaN"]);
    assert!(e.contains("--motion-weight NaN"), "{e}");
    // A decoder-only video VAE keeps an encoder: without --init video_vae there is none.
    let e = train(&["--video-decoder-only"]);
    assert!(e.contains("decoder-only"), "{e}");
    assert!(
        !run.join("video_vae/loss.csv").exists(),
        "no step was taken"
    );
    assert!(!out.exists());
}

/// Bad input to generate, remix and extend is refused before any model runs, with the flag
/// or file named, and an output path that is one of the command's inputs never replaces it.
#[test]
fn generate_refuses_bad_input_before_working() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let kino = |args: &[&str]| run_kino(&data, args);
    let path = |name: &str| d.join(name).to_str().unwrap().to_string();
    let prompt_file = d.join("prompt.txt");
    std::fs::write(&prompt_file, "A red ball falls onto grass.").unwrap();
    let source = d.join("source.mp4");
    std::fs::write(&source, b"not yet a clip").unwrap();
    let image = d.join("first.png");
    write_png(&image, 32, 32, 90);
    std::fs::create_dir(d.join("folder")).unwrap();

    // -o onto an input: refused, the input untouched.
    for args in [
        vec![
            "generate",
            prompt_file.to_str().unwrap(),
            "-o",
            prompt_file.to_str().unwrap(),
        ],
        vec![
            "generate",
            "a red ball",
            "--image",
            image.to_str().unwrap(),
            "-o",
            image.to_str().unwrap(),
        ],
        vec![
            "remix",
            source.to_str().unwrap(),
            "a blue ball",
            "-o",
            source.to_str().unwrap(),
        ],
        vec![
            "extend",
            source.to_str().unwrap(),
            "then rain",
            "-o",
            source.to_str().unwrap(),
        ],
    ] {
        assert_fails_with(&kino(&args), &["is also an input of this command"]);
    }
    assert_eq!(
        std::fs::read_to_string(&prompt_file).unwrap(),
        "A red ball falls onto grass."
    );
    assert_eq!(std::fs::read(&source).unwrap(), b"not yet a clip");
    assert!(image::open(&image).is_ok());

    // Outputs that cannot be written: said before any work, naming the path.
    let o = kino(&["generate", "a red ball", "-o", &path("missing/clip.mp4")]);
    assert_fails_with(&o, &["missing", "does not exist"]);
    let o = kino(&["generate", "a red ball", "-o", &path("folder")]);
    assert_fails_with(&o, &["is a folder"]);

    // Settings no sampler can use, named by their flag.
    let out = path("out.mp4");
    for (flag, value, needle) in [
        ("--guidance", "NaN", "--guidance NaN"),
        ("--guidance", "-5", "--guidance -5"),
        ("--audio-guidance", "inf", "--audio-guidance inf"),
        ("--shift", "0", "--shift 0"),
        ("--shift", "-1", "--shift -1"),
        ("--steps", "0", "--steps 0"),
    ] {
        let flag_value = format!("{flag}={value}");
        let o = kino(&["generate", "a red ball", "-o", &out, &flag_value]);
        assert_fails_with(&o, &[needle]);
    }

    // A prompt that names a missing file or a folder is not taken as the prompt's words; a
    // file of NUL bytes is an empty prompt.
    let o = kino(&["generate", "myprompt.txt", "-o", &out]);
    assert_fails_with(&o, &["myprompt.txt", "no such file"]);
    let o = kino(&["generate", &path("folder"), "-o", &out]);
    assert_fails_with(&o, &["is a folder"]);
    let nul = d.join("nul.txt");
    std::fs::write(&nul, b"\0\0\0").unwrap();
    let o = kino(&["generate", nul.to_str().unwrap(), "-o", &out]);
    assert_fails_with(&o, &["empty"]);

    // A model folder that is not there, said first and plainly.
    let o = kino(&[
        "generate",
        "a red ball",
        "-o",
        &out,
        "--model",
        &path("nowhere"),
    ]);
    assert_fails_with(&o, &["nowhere", "no such folder"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("content policy"));
    assert!(!Path::new(&out).exists(), "nothing written");

    // Damaged weights of the right size (what `kino models verify` catches by SHA-256):
    // the sampler's NaNs are an error, not a blank clip that passes as a result.
    let model = d.join("damaged");
    common::copy_dir(Path::new("../../models/kino-tiny"), &model);
    let dit = model.join("dit.safetensors");
    let mut bytes = std::fs::read(&dit).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 4096].fill(0xFF);
    std::fs::write(&dit, bytes).unwrap();
    let o = kino(&[
        "generate",
        "a red ball",
        "-o",
        &out,
        "--model",
        model.to_str().unwrap(),
        "--seconds",
        "1",
        "--steps",
        "2",
    ]);
    assert_fails_with(&o, &["non-finite", "kino models verify"]);
    assert!(!Path::new(&out).exists(), "nothing written");
    let o = kino(&["models", "verify", model.to_str().unwrap(), "--json"]);
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false, "{v:#}");
    assert!(
        v["error"].as_str().unwrap().contains("dit.safetensors"),
        "{v:#}"
    );
}
