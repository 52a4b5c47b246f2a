//! `kino serve` and `kino worker` as processes: OpenAI's Python SDK as the client, a worker
//! killed mid-job, files without a row swept at restart.

mod common;

use common::{create_key, free_port, kino, serve, Proc};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Client {
    base: String,
    key: String,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(port: u16, key: String) -> Self {
        Client {
            base: format!("http://127.0.0.1:{port}"),
            key,
            http: reqwest::blocking::Client::new(),
        }
    }
    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null),
        )
    }
    fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .unwrap();
        serde_json::from_slice(&r.bytes().unwrap()).unwrap()
    }
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn openai_python_sdk_against_kino_serve() {
    if !python_has("openai") {
        assert!(
            std::env::var("KINO_REQUIRE_OPENAI_PY").is_err(),
            "the openai Python package is required (pip install openai)"
        );
        eprintln!("skipped: the openai Python package is not installed (pip install openai)");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let key = create_key(data.path());
    let port = free_port();
    let _server = serve(data.path(), port, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_sdk.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("KINO_BASE_URL", format!("http://127.0.0.1:{port}/v1"))
        .env("KINO_API_KEY", &key)
        .env("KINO_SDK_OUT", data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all SDK checks passed"));
    // What the server stored carries valid C2PA credentials and kino's watermark.
    let verify = kino(data.path())
        .args(["verify", "--json"])
        .arg(data.path().join("sdk_video"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "kino verify on the served clip: {report}"
    );
}

#[test]
fn killed_worker_loses_nothing_and_restart_sweeps_orphans() {
    let data = tempfile::tempdir().unwrap();
    let key = create_key(data.path());
    let port = free_port();
    // API only; jobs run in separate worker processes.
    let server = serve(data.path(), port, &["--workers", "0"]);
    let client = Client::new(port, key);
    let (s, v) = client.post(
        "/v1/videos",
        json!({"prompt": "A ball rolls across a table at dusk.", "seconds": "4", "size": "128x128", "steps": 30}),
    );
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    // A worker starts the job and is killed (SIGKILL) mid-generation.
    let worker_args = ["worker", "--lease-seconds", "5", "--steps", "2"];
    let mut first = Proc(kino(data.path()).args(worker_args).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let v = client.get(&format!("/v1/videos/{id}"));
        if v["status"] == "in_progress" && v["progress"].as_i64().unwrap() > 0 {
            break;
        }
        assert_ne!(
            v["status"], "completed",
            "the job finished before the worker could be killed"
        );
        assert!(
            Instant::now() < deadline,
            "the worker never started the job: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.0.kill().unwrap();
    let _ = first.0.wait();

    // Another worker takes the job over once the lease runs out, and completes it.
    let _second = Proc(kino(data.path()).args(worker_args).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let v = client.get(&format!("/v1/videos/{id}"));
        if v["status"] == "completed" || v["status"] == "failed" {
            break v;
        }
        assert!(Instant::now() < deadline, "the job was not taken over: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["status"], "completed", "{done}");
    let mp4 = client
        .http
        .get(format!("{}/v1/videos/{id}/content", client.base))
        .bearer_auth(&client.key)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let info = kino_media::probe_bytes(&mp4, "served").unwrap();
    assert!((info.duration_s - 4.0).abs() < 0.2, "{}", info.duration_s);

    // Files no row refers to (a crash between deleting a row and its files) are removed
    // when the server starts again; the real video's files stay.
    drop(server);
    let orphan = data
        .path()
        .join("files/videos/video_00000000000000000000000000aa");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("video.mp4"), b"left behind").unwrap();
    let _server = serve(data.path(), port, &["--workers", "0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while orphan.join("video.mp4").exists() {
        assert!(Instant::now() < deadline, "the orphaned file was not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(data
        .path()
        .join(format!("files/videos/{id}/video.mp4"))
        .exists());
}

/// The output check in the worker: a clip it refuses (threshold 0 refuses every clip) fails
/// the job with `moderation_blocked` and a reason, and nothing is stored.
#[test]
fn output_check_refuses_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let key = create_key(data.path());
    let port = free_port();
    let _server = serve(data.path(), port, &["--nsfw-threshold", "0"]);
    let client = Client::new(port, key);
    let (s, v) = client.post(
        "/v1/videos",
        json!({"prompt": "A ball rolls across a table.", "seconds": "1", "steps": 1}),
    );
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(180);
    let v = loop {
        let v = client.get(&format!("/v1/videos/{id}"));
        if v["status"] == "failed" || v["status"] == "completed" {
            break v;
        }
        assert!(Instant::now() < deadline, "the job never finished: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["code"], "moderation_blocked", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("output check"), "{message}");
    let r = client
        .http
        .get(format!("{}/v1/videos/{id}/content", client.base))
        .bearer_auth(&client.key)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
    assert_eq!(e["error"]["code"], "video_not_ready", "{e}");
    let files = walk(&data.path().join("files"));
    assert!(files.is_empty(), "stored files: {files:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
