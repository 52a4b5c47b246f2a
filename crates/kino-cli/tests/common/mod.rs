//! Helpers shared by the tests that run the `kino` binary: one command at a time, or
//! `kino serve` as a process. Each test binary uses only some of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn kino(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kino"));
    c.env("KINO_DATA_DIR", data).env("KINO_LOG", "warn");
    c
}

/// Runs kino to the end with `data` as its data directory (`KINO_DATA_DIR`).
pub fn run_kino(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kino"))
        .env("KINO_DATA_DIR", data)
        .args(args)
        .output()
        .expect("run kino")
}

/// What a run printed: its stdout, then its stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts that a run succeeded, showing what it printed otherwise.
pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

/// Asserts that a run failed with each of `needles` in its stderr.
pub fn assert_fails_with(o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in needles {
        assert!(err.contains(needle), "no {needle:?} in: {err}");
    }
}

/// A copy of the folder `from` (recursively) at `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Every tensor of a safetensors file, on the CPU.
pub fn load_tensors(path: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Max |got - want| / max |want| (same shapes, f32).
pub fn rel_err(got: &candle_core::Tensor, want: &candle_core::Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    let max = |t: &candle_core::Tensor| {
        t.abs()
            .and_then(|a| a.flatten_all())
            .and_then(|a| a.max(0))
            .and_then(|a| a.to_scalar::<f32>())
            .unwrap()
    };
    max(&(got - want).unwrap()) / max(want)
}

/// `tools/parity/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/parity/fixtures")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn create_key(data: &Path) -> String {
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

pub fn serve(data: &Path, port: u16, extra: &[&str]) -> Proc {
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
