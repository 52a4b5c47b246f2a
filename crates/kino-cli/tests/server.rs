//! `kino serve` and `kino worker` as processes: OpenAI's Python SDK as the client, a worker
//! killed mid-job, files without a row swept at restart.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn kino(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kino"));
    c.env("KINO_DATA_DIR", data).env("KINO_LOG", "warn");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn create_key(data: &Path) -> String {
    let out = kino(data)
        .args(["keys", "create", "--name", "test"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn serve(data: &Path, port: u16, extra: &[&str]) -> Proc {
    let child = kino(data)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--steps",
            "2",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if reqwest::blocking::get(format!("http://127.0.0.1:{port}/health"))
            .is_ok_and(|r| r.status().is_success())
        {
            return proc;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("kino serve did not come up on port {port}");
}

struct Client {
    base: String,
    key: String,
    http: reqwest::blocking::Client,
}

impl Client {
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
    let client = Client {
        base: format!("http://127.0.0.1:{port}"),
        key,
        http: reqwest::blocking::Client::new(),
    };
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
