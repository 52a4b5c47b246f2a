//! Load on loopback: N concurrent `POST /v1/videos` then rounds of N concurrent retrieves,
//! against `kino serve`'s API with SQLite. Prints p50/p95/p99 latency and the error count.
//!
//! cargo bench -p kino-server --bench api_load            (N = 200, API only)
//! KINO_LOAD_N=500 KINO_LOAD_WORKERS=1 cargo bench -p kino-server --bench api_load

use kino_server::worker::PlainMp4;
use kino_server::ServerConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut lat: Vec<Duration>, errors: usize, wall: Duration) {
    lat.sort();
    println!(
        "{name:<10} n={:<5} errors={errors:<3} p50={:>7.1} ms  p95={:>7.1} ms  p99={:>7.1} ms  max={:>7.1} ms  ({:.0} req/s)",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len() as f64 / wall.as_secs_f64()
    );
}

async fn fire(
    n: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> (Vec<Duration>, usize, Vec<serde_json::Value>, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let req = make(i);
            tokio::spawn(async move {
                let t = Instant::now();
                let resp = req.send().await;
                let ok = match resp {
                    Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                    _ => None,
                };
                (
                    t.elapsed(),
                    ok.and_then(|b| serde_json::from_slice(&b).ok()),
                )
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut bodies = Vec::new();
    for t in tasks {
        let (d, body) = t.await.unwrap();
        lat.push(d);
        match body {
            Some(b) => bodies.push(b),
            None => errors += 1,
        }
    }
    (lat, errors, bodies, start.elapsed())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::var("KINO_LOAD_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let workers: usize = std::env::var("KINO_LOAD_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let model_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-tiny");
    let model = kino_server::load_model(&model_dir, &candle_core::Device::Cpu, 2).unwrap();
    let mut cfg = ServerConfig::new(dir.path());
    cfg.bind = "127.0.0.1:0".parse().unwrap();
    cfg.workers = workers;
    let server = kino_server::start(&cfg, &model, Arc::new(PlainMp4), None)
        .await
        .unwrap();
    let db = cfg.open_db().await.unwrap();
    let (_, key) = db.create_key("load", 1_000_000, 1_000_000).await.unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(n)
        .build()
        .unwrap();
    println!(
        "{n} concurrent clients on loopback, SQLite, {workers} worker(s), {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let (lat, errors, bodies, wall) = fire(n, |i| {
        http.post(format!("{base}/v1/videos"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(serde_json::json!({"prompt": format!("ball {i} falls and bounces"), "seconds": "1", "size": "64x64"}).to_string())
    })
    .await;
    report("create", lat, errors, wall);
    let ids: Vec<String> = bodies
        .iter()
        .filter_map(|b| b["id"].as_str().map(str::to_string))
        .collect();
    let mut all = Vec::new();
    let mut errs = 0;
    let start = Instant::now();
    for _ in 0..5 {
        let (lat, errors, _, _) = fire(ids.len(), |i| {
            http.get(format!("{base}/v1/videos/{}", ids[i]))
                .bearer_auth(&key)
        })
        .await;
        all.extend(lat);
        errs += errors;
    }
    report("retrieve", all, errs, start.elapsed());
    let (lat, errors, _, wall) = fire(n, |_| {
        http.get(format!("{base}/v1/videos?limit=20"))
            .bearer_auth(&key)
    })
    .await;
    report("list", lat, errors, wall);
    server.stop().await;
}
