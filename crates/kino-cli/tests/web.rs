//! The web app in a real browser: Debian's Chromium driven by Playwright
//! (tools/web-e2e/e2e.mjs) against `kino serve` as a process. CI installs both
//! (`KINO_REQUIRE_BROWSER=1`); elsewhere the test says it skipped.

mod common;

use common::{create_key, free_port, serve};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_browser() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node".into());
    }
    let pw = repo_root().join("tools/web-e2e/node_modules/playwright-core");
    if !pw.exists() {
        return Some("playwright-core is not installed (npm ci --prefix tools/web-e2e)".into());
    }
    None
}

#[test]
fn web_app_in_chromium() {
    if let Some(why) = missing_browser() {
        assert!(
            std::env::var("KINO_REQUIRE_BROWSER").is_err(),
            "the browser test is required: {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let key = create_key(data.path());
    let port = free_port();
    let _server = serve(data.path(), port, &[]);
    let shots = std::env::var("KINO_WEB_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| data.path().join("shots"));
    let out = Command::new("node")
        .arg(repo_root().join("tools/web-e2e/e2e.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&key)
        .arg(&shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all browser checks passed"));
}
