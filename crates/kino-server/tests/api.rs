//! The Videos API end to end over HTTP, with the shipped kino-tiny model doing the work:
//! create, poll, download every variant (and ranges), list pages, remix, extend, delete,
//! the error cases, rate limits, and a job whose worker died being picked up again.

use kino_server::db::Db;
use kino_server::worker::{PlainMp4, Worker, WorkerConfig};
use kino_server::{LoadedModel, ServerConfig};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn model() -> &'static LoadedModel {
    static MODEL: OnceLock<LoadedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-tiny");
        kino_server::load_model(&dir, &candle_core::Device::Cpu, 2).expect("kino-tiny loads")
    })
}

struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let resp = req.bearer_auth(&self.key).send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.expect("body").to_vec())
    }
    async fn json(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let (s, _, body) = self.send(req).await;
        (s, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.json(self.http.get(format!("{}{path}", self.base)))
            .await
    }
    async fn wait(&self, id: &str) -> Value {
        let mut last_progress = 0;
        for _ in 0..1200 {
            let (s, v) = self.get(&format!("/v1/videos/{id}")).await;
            assert_eq!(s, 200, "{v}");
            let p = v["progress"].as_i64().unwrap();
            assert!(
                p >= last_progress,
                "progress went back: {last_progress} -> {p}"
            );
            last_progress = p;
            match v["status"].as_str().unwrap() {
                "completed" | "failed" => return v,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("video {id} did not finish");
    }
}

async fn start(dir: &Path, workers: usize, rpm: i64) -> (kino_server::RunningServer, Api, Db) {
    start_with(dir, workers, rpm, |_| {}).await
}

async fn start_with(
    dir: &Path,
    workers: usize,
    rpm: i64,
    tweak: impl FnOnce(&mut ServerConfig),
) -> (kino_server::RunningServer, Api, Db) {
    let mut cfg = ServerConfig::new(dir);
    cfg.bind = "127.0.0.1:0".parse().unwrap();
    cfg.workers = workers;
    cfg.max_body = 1 << 20;
    cfg.worker.poll = Duration::from_millis(50);
    tweak(&mut cfg);
    let server = kino_server::start(&cfg, model(), Arc::new(PlainMp4), None)
        .await
        .expect("server starts");
    let db = cfg.open_db().await.unwrap();
    let (_, key) = db.create_key("test", rpm, 4).await.unwrap();
    let api = Api {
        base: format!("http://{}", server.addr),
        key,
        http: reqwest::Client::new(),
    };
    (server, api, db)
}

/// A worker outside the server, on the server's database and files.
fn standalone_worker(dir: &Path, db: &Db, id: &str) -> Worker {
    Worker {
        db: db.clone(),
        storage: ServerConfig::new(dir).open_storage().unwrap(),
        pipeline: model().pipeline.clone(),
        publisher: Arc::new(PlainMp4),
        webhooks: None,
        cfg: WorkerConfig {
            id: id.into(),
            ..Default::default()
        },
    }
}

fn small(prompt: &str) -> Value {
    json!({ "prompt": prompt, "seconds": "1", "size": "64x64", "steps": 2, "seed": 7 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_api_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_url, hooks) = webhook_receiver().await;
    let (server, api, _db) = start_with(dir.path(), 1, 10_000, |cfg| {
        cfg.webhook = Some((hook_url, format!("whsec_{SECRET_B64}")));
    })
    .await;

    // Create and poll.
    let (s, v) = api
        .post(
            "/v1/videos",
            small("A red ball bounces on a wooden floor. Audio: a thud on each bounce."),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "video");
    assert_eq!(v["status"], "queued");
    assert_eq!(v["size"], "64x64");
    assert_eq!(v["seconds"], "1");
    assert_eq!(v["model"], "kino-tiny");
    let id = v["id"].as_str().unwrap().to_string();
    let done = api.wait(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100);
    assert!(done["completed_at"].as_i64().unwrap() >= done["created_at"].as_i64().unwrap());
    assert!(done["expires_at"].as_i64().unwrap() > done["completed_at"].as_i64().unwrap());

    // The signed webhook arrives (delivered within a few seconds of completion).
    let event = wait_for_event(&hooks, &id).await;
    assert_eq!(event["type"], "video.completed");
    assert_eq!(event["object"], "event");

    // Every variant, with its type, and a real MP4.
    let url = |variant: &str| format!("{}/v1/videos/{id}/content?variant={variant}", api.base);
    let (s, h, mp4) = api.send(api.http.get(url("video"))).await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "video/mp4");
    let info = kino_media::probe_bytes(&mp4, "served video").expect("served MP4 parses");
    let video = info
        .streams
        .iter()
        .find(|s| s.kind == "video")
        .expect("a video stream");
    assert_eq!(video.width, Some(64));
    assert!(
        info.streams.iter().any(|s| s.kind == "audio"),
        "the served clip has sound"
    );
    let (s, h, thumb) = api.send(api.http.get(url("thumbnail"))).await;
    assert_eq!(
        (s, h["content-type"].to_str().unwrap()),
        (200, "image/webp")
    );
    assert_eq!(&thumb[8..12], b"WEBP");
    let (s, h, sheet) = api.send(api.http.get(url("spritesheet"))).await;
    assert_eq!(
        (s, h["content-type"].to_str().unwrap()),
        (200, "image/jpeg")
    );
    assert_eq!(&sheet[..2], &[0xFF, 0xD8]);
    // Ranges.
    let (s, h, part) = api
        .send(api.http.get(url("video")).header("range", "bytes=10-19"))
        .await;
    assert_eq!(s, 206);
    assert_eq!(part, mp4[10..20].to_vec());
    assert_eq!(
        h["content-range"].to_str().unwrap(),
        format!("bytes 10-19/{}", mp4.len())
    );
    let (s, _, _) = api
        .send(
            api.http
                .get(url("video"))
                .header("range", format!("bytes={}-", mp4.len() + 5)),
        )
        .await;
    assert_eq!(s, 416);
    let (s, v) = api
        .get(&format!("/v1/videos/{id}/content?variant=gif"))
        .await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("variant")));

    // OpenAI's sizes work with a model that makes smaller clips: generated near its own
    // resolution with the same aspect, delivered at the size asked for.
    let (s, big) = api.post("/v1/videos", json!({"prompt": "A wide beach at noon.", "seconds": "1", "size": "1280x720", "steps": 2})).await;
    assert_eq!(s, 200, "{big}");
    assert_eq!(big["size"], "1280x720");
    let big = api.wait(big["id"].as_str().unwrap()).await;
    assert_eq!(big["status"], "completed", "{big}");
    let (_, _, bytes) = api
        .send(api.http.get(format!(
            "{}/v1/videos/{}/content",
            api.base,
            big["id"].as_str().unwrap()
        )))
        .await;
    let info = kino_media::probe_bytes(&bytes, "1280x720 video").unwrap();
    let v = info.streams.iter().find(|s| s.kind == "video").unwrap();
    assert_eq!((v.width, v.height), (Some(1280), Some(720)));
    let (s, _) = api
        .json(api.http.delete(format!(
            "{}/v1/videos/{}",
            api.base,
            big["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(s, 200);

    // Remix and extension of the finished clip.
    let (s, r) = api
        .post(
            &format!("/v1/videos/{id}/remix"),
            json!({"prompt": "The same ball, but blue, at night.", "steps": 2}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["remixed_from_video_id"], id.as_str());
    let (s, e) = api.post("/v1/videos/extensions", json!({"prompt": "The ball rolls away.", "seconds": "1", "video": {"id": id}, "steps": 2})).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["seconds"], "2", "an extension reports the stitched total");
    let r = api.wait(r["id"].as_str().unwrap()).await;
    assert_eq!(r["status"], "completed", "{r}");
    let e = api.wait(e["id"].as_str().unwrap()).await;
    assert_eq!(e["status"], "completed", "{e}");
    let (_, _, ext) = api
        .send(api.http.get(format!(
            "{}/v1/videos/{}/content",
            api.base,
            e["id"].as_str().unwrap()
        )))
        .await;
    let info = kino_media::probe_bytes(&ext, "extension").unwrap();
    assert!(
        (info.duration_s - 2.0).abs() < 0.2,
        "extension lasts {} s",
        info.duration_s
    );

    // List pages (3 videos, pages of 2, both orders).
    let (s, page) = api.get("/v1/videos?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(page["object"], "list");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let last = page["last_id"].as_str().unwrap();
    let (_, page2) = api.get(&format!("/v1/videos?limit=2&after={last}")).await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["has_more"], false);
    assert_eq!(
        page2["data"][0]["id"],
        id.as_str(),
        "newest first: the first video is last"
    );
    let (_, asc) = api.get("/v1/videos?order=asc&limit=1").await;
    assert_eq!(asc["data"][0]["id"], id.as_str());

    // Errors, in OpenAI's shape.
    let err = |v: &Value| {
        (
            v["error"]["type"].as_str().map(str::to_string),
            v["error"]["param"].as_str().map(str::to_string),
        )
    };
    let (s, v) = api
        .post("/v1/videos", json!({"prompt": "a cat", "size": "1280x721"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        err(&v),
        (Some("invalid_request_error".into()), Some("size".into()))
    );
    let (s, v) = api.post("/v1/videos", json!({"prompt": "   "})).await;
    assert_eq!((s, err(&v).1), (400, Some("prompt".into())));
    let (s, v) = api.post("/v1/videos", json!({"seconds": "4"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("missing_required_parameter"))
    );
    let (s, v) = api
        .post("/v1/videos", json!({"prompt": "x".repeat(32_001)}))
        .await;
    assert_eq!((s, err(&v).1), (400, Some("prompt".into())));
    let (s, v) = api
        .post("/v1/videos", json!({"prompt": "a cat", "seconds": "400"}))
        .await;
    assert_eq!((s, err(&v).1), (400, Some("seconds".into())));
    let (s, v) = api
        .post("/v1/videos", json!({"prompt": "a cat", "model": "gpt-9"}))
        .await;
    assert_eq!((s, err(&v).1), (400, Some("model".into())));
    let (s, v) = api.post("/v1/videos", json!({"prompt": "a cat", "input_reference": {"image_url": "https://example.com/cat.png"}})).await;
    assert_eq!((s, err(&v).1), (400, Some("input_reference".into())));
    // Over the body limit: 413, unless the server has already answered and closed the
    // connection before the client finished sending (then the client sees a broken pipe or a
    // reset). Either way nothing is queued (the list below counts the videos).
    let over = api
        .http
        .post(format!("{}/v1/videos", api.base))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body(json!({"prompt": "a cat", "pad": "y".repeat(2 << 20)}).to_string())
        .send()
        .await;
    match over {
        Ok(r) => {
            assert_eq!(r.status().as_u16(), 413);
            assert_eq!(r.headers()["connection"], "close");
        }
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    let (s, v) = api
        .json(
            api.http
                .post(format!("{}/v1/videos", api.base))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(
        (s, v["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let (s, v) = api
        .get("/v1/videos/video_0000000000000000000000000000")
        .await;
    assert_eq!(
        (s, v["error"]["type"].as_str()),
        (404, Some("invalid_request_error"))
    );
    let wrong = api
        .http
        .get(format!("{}/v1/videos", api.base))
        .bearer_auth("kino-sk-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let v: Value = serde_json::from_slice(&wrong.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let anonymous = reqwest::Client::new()
        .get(format!("{}/v1/videos", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let (s, v) = api.get("/v1/nothing-here").await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("unknown_url")));
    let (s, doc) = api.get("/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/videos"]["post"].is_object());
    assert!(doc["paths"]["/provenance/identify"]["post"].is_object());

    // Delete removes the row and the files.
    let (s, v) = api
        .json(api.http.delete(format!("{}/v1/videos/{id}", api.base)))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"id": id, "object": "video.deleted", "deleted": true})
    );
    assert!(!dir
        .path()
        .join("files/videos")
        .join(&id)
        .join("video.mp4")
        .exists());
    let (s, _) = api.get(&format!("/v1/videos/{id}")).await;
    assert_eq!(s, 404);
    let (s, _) = api
        .json(api.http.delete(format!("{}/v1/videos/{id}", api.base)))
        .await;
    assert_eq!(s, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_quotas_answer_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    // No workers: jobs stay queued, so the concurrent-jobs quota (4) fills up.
    let (server, api, _db) = start(dir.path(), 0, 10_000).await;
    for _ in 0..4 {
        let (s, _) = api.post("/v1/videos", small("a cat")).await;
        assert_eq!(s, 200);
    }
    let (s, h, body) = api
        .send(
            api.http
                .post(format!("{}/v1/videos", api.base))
                .header("content-type", "application/json")
                .body(small("a cat").to_string()),
        )
        .await;
    assert_eq!(s, 429, "{}", String::from_utf8_lossy(&body));
    assert!(h.contains_key("retry-after"));
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let (server, api, _db) = start(dir.path(), 0, 3).await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let (s, h, _) = api
            .send(api.http.get(format!("{}/v1/videos", api.base)))
            .await;
        codes.push(s);
        if s == 429 {
            assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        }
    }
    assert_eq!(codes, vec![200, 200, 200, 429, 429]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_is_picked_up_after_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (server, api, db) = start(dir.path(), 0, 10_000).await;
    let (s, v) = api.post("/v1/videos", small("a falling cube")).await;
    assert_eq!(s, 200);
    let id = v["id"].as_str().unwrap().to_string();
    // A worker claims it with a 1 s lease and dies without a word.
    let claimed = db
        .claim_job("worker-that-dies", 1, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, id);
    let (_, v) = api.get(&format!("/v1/videos/{id}")).await;
    assert_eq!(v["status"], "in_progress");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // A live worker takes it over and finishes it.
    let worker = standalone_worker(dir.path(), &db, "live");
    assert!(worker.run_one().await.unwrap());
    let row = db.get_video(&id, None).await.unwrap().unwrap();
    assert_eq!(row.status, "completed");
    assert_eq!(row.attempts, 2);
    // The dead worker coming back cannot overwrite the result.
    assert!(!db.heartbeat(&id, "worker-that-dies", 50, 30).await.unwrap());
    server.stop().await;
}

const SECRET_B64: &str = "c2VjcmV0LWZvci10aGUtd2ViaG9vay10ZXN0cw==";

type Received = Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>;

/// A webhook endpoint on loopback that records what it receives.
async fn webhook_receiver() -> (String, Received) {
    let got: Received = Default::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// Waits for the event about `video_id` and checks its Standard Webhooks signature.
async fn wait_for_event(got: &Received, video_id: &str) -> Value {
    use base64::Engine;
    use hmac::Mac;
    for _ in 0..100 {
        let found = got
            .lock()
            .unwrap()
            .iter()
            .find(|(_, b)| b.contains(video_id))
            .cloned();
        if let Some((h, body)) = found {
            let id = h["webhook-id"].to_str().unwrap();
            let ts = h["webhook-timestamp"].to_str().unwrap();
            let secret = base64::engine::general_purpose::STANDARD
                .decode(SECRET_B64)
                .unwrap();
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
            mac.update(format!("{id}.{ts}.{body}").as_bytes());
            let expected = format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            );
            assert_eq!(h["webhook-signature"].to_str().unwrap(), expected);
            let now = kino_server::ids::now();
            assert!((now - ts.parse::<i64>().unwrap()).abs() < 60);
            return serde_json::from_str(&body).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no webhook for {video_id}");
}

/// The same queue on a real PostgreSQL (`tools/ci/postgres.sh` starts one and prints
/// KINO_TEST_POSTGRES_URL): two workers share the queue, every job runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_with_two_workers() {
    let Ok(admin) = std::env::var("KINO_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("KINO_REQUIRE_POSTGRES").is_err(),
            "KINO_TEST_POSTGRES_URL is not set (eval \"$(tools/ci/postgres.sh)\")"
        );
        eprintln!("skipped: KINO_TEST_POSTGRES_URL is not set (eval \"$(tools/ci/postgres.sh)\")");
        return;
    };
    // A fresh database per run.
    let name = kino_server::ids::new_id("kino_test");
    let admin_db = Db::connect(&admin).await.expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin_db.pool)
        .await
        .unwrap();
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad URL {admin}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, api, db) = start_with(dir.path(), 2, 10_000, |cfg| cfg.database = Some(url)).await;
    assert_eq!(db.backend, kino_server::db::Backend::Postgres);
    // The consent check's report column, empty and filled.
    for (id, report) in [
        ("char_pg_a", None),
        ("char_pg_b", Some(r#"{"passed":true}"#)),
    ] {
        use kino_server::db::characters::{Character, Permission};
        let report = report.map(String::from);
        db.insert_character(&Character {
            id: id.into(),
            owner: "key_x".into(),
            name: "X".into(),
            permission: Permission::OnlyMe,
            approved: vec![],
            reference_frame: vec![1, 2],
            created_at: 1,
            revoked_at: None,
            consent_check: report.clone(),
        })
        .await
        .unwrap();
        let c = db.get_character(id).await.unwrap().unwrap();
        assert_eq!(c.consent_check, report);
    }
    let mut ids = Vec::new();
    for i in 0..4 {
        let (s, v) = api
            .post("/v1/videos", small(&format!("ball number {i} falls")))
            .await;
        assert_eq!(s, 200, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let v = api.wait(id).await;
        assert_eq!(v["status"], "completed", "{v}");
        let row = db.get_video(id, None).await.unwrap().unwrap();
        assert_eq!(row.attempts, 1, "a job ran twice");
    }
    let (_, page) = api.get("/v1/videos?limit=3").await;
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][0]["id"], ids[3].as_str());
    let (s, _) = api
        .json(
            api.http
                .delete(format!("{}/v1/videos/{}", api.base, ids[0])),
        )
        .await;
    assert_eq!(s, 200);
    // The audit log is append-only in PostgreSQL too (TRUNCATE included).
    db.audit("key_pg", "character.created", Some("char_pg_a"), None, "")
        .await
        .unwrap();
    assert_audit_log_is_append_only(&db, &["UPDATE", "DELETE", "TRUNCATE"]).await;
    server.stop().await;
    db.pool.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin_db.pool)
    .await;
}

/// Storage on a real S3-compatible server (`tools/ci/s3.sh` starts moto's and prints
/// KINO_TEST_S3_URL and the AWS_* variables): the files land there, stream back with
/// ranges, and deleting a video removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_end_to_end() {
    let Ok(base_url) = std::env::var("KINO_TEST_S3_URL") else {
        assert!(
            std::env::var("KINO_REQUIRE_S3").is_err(),
            "KINO_TEST_S3_URL is not set (eval \"$(tools/ci/s3.sh)\")"
        );
        eprintln!("skipped: KINO_TEST_S3_URL is not set (eval \"$(tools/ci/s3.sh)\")");
        return;
    };
    // A fresh prefix per run.
    let url = format!("{base_url}/{}", kino_server::ids::new_id("run"));
    let dir = tempfile::tempdir().unwrap();
    let storage_url = url.clone();
    let (server, api, _db) = start_with(dir.path(), 1, 10_000, move |cfg| {
        cfg.storage = Some(storage_url)
    })
    .await;
    let storage = kino_server::storage::Storage::open(&url).expect("S3 storage opens");
    let (s, v) = api.post("/v1/videos", small("a cube slides on ice")).await;
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let done = api.wait(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    use kino_server::storage::Variant;
    for variant in Variant::ALL {
        assert!(
            storage.exists(&id, variant).await.unwrap(),
            "{variant:?} is in S3"
        );
    }
    assert!(
        !dir.path().join("files").join("videos").exists(),
        "nothing went to the local folder"
    );
    let (s, _, mp4) = api
        .send(api.http.get(format!("{}/v1/videos/{id}/content", api.base)))
        .await;
    assert_eq!(s, 200);
    kino_media::probe_bytes(&mp4, "video from S3").unwrap();
    let (s, _, part) = api
        .send(
            api.http
                .get(format!("{}/v1/videos/{id}/content", api.base))
                .header("range", "bytes=-16"),
        )
        .await;
    assert_eq!((s, part), (206, mp4[mp4.len() - 16..].to_vec()));
    assert_eq!(storage.stored_video_ids().await.unwrap(), vec![id.clone()]);
    let (s, _) = api
        .json(api.http.delete(format!("{}/v1/videos/{id}", api.base)))
        .await;
    assert_eq!(s, 200);
    for variant in Variant::ALL {
        assert!(
            !storage.exists(&id, variant).await.unwrap(),
            "{variant:?} was deleted"
        );
    }
    server.stop().await;
}

/// A small MP4 (64x64, 1 s, moving gradient): a consent clip.
/// A consent clip that passes the consent check: a moving scene with a voice-like track
/// (kino_safety's synthetic clip), 2.5 s, H.264 + AAC.
fn consent_clip() -> Vec<u8> {
    use kino_safety::consent::synthetic;
    let fps = kino_media::Rational::integer(24).unwrap();
    let mut v = kino_media::VideoFrames::new(128, 128, fps, kino_media::PixelFormat::Rgb8).unwrap();
    for f in synthetic::moving_scene_rgb(128, 128, 24, 2.5) {
        v.push(&f).unwrap();
    }
    let audio =
        kino_media::AudioBuffer::new(48_000, 1, synthetic::voiced_speech(48_000, 2.5)).unwrap();
    kino_media::encode_mp4(&v, Some(&audio), &Default::default())
        .unwrap()
        .0
}

/// A photo with a voice: the same first frame for 2.5 s, the voice-like track.
fn still_consent_clip() -> Vec<u8> {
    use kino_safety::consent::synthetic;
    let fps = kino_media::Rational::integer(24).unwrap();
    let mut v = kino_media::VideoFrames::new(128, 128, fps, kino_media::PixelFormat::Rgb8).unwrap();
    let first = synthetic::moving_scene_rgb(128, 128, 24, 0.05).swap_remove(0);
    for _ in 0..60 {
        v.push(&first).unwrap();
    }
    let audio =
        kino_media::AudioBuffer::new(48_000, 1, synthetic::voiced_speech(48_000, 2.5)).unwrap();
    kino_media::encode_mp4(&v, Some(&audio), &Default::default())
        .unwrap()
        .0
}

fn consent_signals_check(mp4: &[u8]) -> kino_safety::ConsentReport {
    let clip = kino_media::decode_mp4(mp4, "clip").unwrap();
    let v = clip.video.to_format(kino_media::PixelFormat::Yuv420p);
    let (w, h) = (v.width() as usize, v.height() as usize);
    let mono = clip.audio.as_ref().map(|a| a.to_mono());
    kino_safety::ConsentCheck::default().check(&kino_safety::ClipSignals {
        width: w,
        height: h,
        fps: v.fps().as_f64(),
        luma: v.iter().map(|f| &f[..w * h]).collect(),
        sample_rate: mono.as_ref().map_or(0, |a| a.sample_rate()),
        audio: mono.as_ref().map_or(&[], |a| a.samples()),
    })
}

/// The clip the browser test (tools/web-e2e/e2e.mjs) registers a cameo with passes the
/// consent check. `KINO_WRITE_CONSENT_CLIP=1` (re)writes it from [`consent_clip`].
#[test]
fn web_e2e_consent_clip_passes_the_check() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/web-e2e/consent.mp4");
    if std::env::var("KINO_WRITE_CONSENT_CLIP").is_ok() {
        std::fs::write(&path, consent_clip()).unwrap();
    }
    let bytes = std::fs::read(&path).expect("tools/web-e2e/consent.mp4");
    let report = consent_signals_check(&bytes);
    assert!(report.passed, "{report:#?}");
    eprintln!("{}", serde_json::to_string(&report.measurements).unwrap());
    let report = consent_signals_check(&still_consent_clip());
    assert_eq!(
        report.failed(),
        vec![
            kino_safety::ConsentProperty::Motion,
            kino_safety::ConsentProperty::NotALoop
        ],
        "{report:#?}"
    );
}

fn multipart(fields: &[(&str, &str)], file: (&str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "kinoBoundary7d3a";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"consent.mp4\"\r\nContent-Type: video/mp4\r\n\r\n", file.0).as_bytes(),
    );
    body.extend_from_slice(file.1);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Cameos: only people the owner allows may use a character; the owner sees every use
/// (others' drafts included), deletes them, and revokes, which beats a queued job; every
/// step is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn characters_need_consent_and_revocation_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (server, alice, db) = start(dir.path(), 0, 10_000).await;
    let (bob_key, bob_secret) = db.create_key("bob", 10_000, 8).await.unwrap();
    let (_, carol_secret) = db.create_key("carol", 10_000, 8).await.unwrap();
    let as_key = |key: String| Api {
        base: alice.base.clone(),
        key,
        http: reqwest::Client::new(),
    };
    let bob = as_key(bob_secret);
    let carol = as_key(carol_secret);

    // A photo with a voice is not a live recording: refused, nothing stored.
    for (clip, missing) in [
        (still_consent_clip(), "motion"),
        (vec![0u8; 16], "not an MP4"),
    ] {
        let (ct, body) = multipart(&[("name", "Alice")], ("video", &clip));
        let (s, e) = alice
            .json(
                alice
                    .http
                    .post(format!("{}/v1/videos/characters", alice.base))
                    .header("content-type", ct)
                    .body(body),
            )
            .await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(e["error"]["param"], "video");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(missing), "{message}");
        if missing == "motion" {
            assert_eq!(e["error"]["code"], "consent_check_failed");
            assert!(message.contains("live recording"), "{message}");
        }
    }
    let (_, list) = alice.get("/v1/videos/characters").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    assert!(
        !dir.path().join("files/characters").exists(),
        "no consent clip stored for a refusal"
    );

    // Alice registers her likeness for herself and Bob.
    let (ct, body) = multipart(
        &[
            ("name", "Alice"),
            ("permission", "approved"),
            ("approved", &bob_key.id),
        ],
        ("video", &consent_clip()),
    );
    let (s, c) = alice
        .json(
            alice
                .http
                .post(format!("{}/v1/videos/characters", alice.base))
                .header("content-type", ct)
                .body(body),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let cid = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["name"], "Alice");
    assert_eq!(c["consent_check"]["passed"], true, "{c}");
    assert_eq!(
        c["consent_check"]["results"].as_array().unwrap().len(),
        7,
        "{c}"
    );
    assert!(
        dir.path()
            .join(format!("files/characters/{cid}/consent.mp4"))
            .exists(),
        "consent clip kept"
    );
    let (s, _) = bob.get(&format!("/v1/videos/characters/{cid}")).await;
    assert_eq!(s, 200);
    let (s, _) = carol.get(&format!("/v1/videos/characters/{cid}")).await;
    assert_eq!(
        s, 404,
        "a character is invisible to those who may not use it"
    );

    // Carol may not use it; Bob may (his job waits in the queue).
    let prompt = format!("@{cid} waves at the camera in a park.");
    let (s, v) = carol.post("/v1/videos", small(&prompt)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("character_permission_denied")),
        "{v}"
    );
    let (s, v) = bob.post("/v1/videos", small(&prompt)).await;
    assert_eq!(s, 200, "{v}");
    let bob_video = v["id"].as_str().unwrap().to_string();
    let (s, v) = bob
        .post("/v1/videos", small(&format!("@{cid} jumps.")))
        .await;
    assert_eq!(s, 200, "{v}");
    let bob_second = v["id"].as_str().unwrap().to_string();

    // Alice sees Bob's drafts and deletes one of them.
    let (s, uses) = alice
        .get(&format!("/v1/videos/characters/{cid}/videos"))
        .await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = uses["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![bob_video.as_str(), bob_second.as_str()]);
    let (s, _) = bob
        .get(&format!("/v1/videos/characters/{cid}/videos"))
        .await;
    assert_eq!(s, 404, "only the owner lists uses");
    let (s, d) = alice
        .json(alice.http.delete(format!(
            "{}/v1/videos/characters/{cid}/videos/{bob_second}",
            alice.base
        )))
        .await;
    assert_eq!((s, d["deleted"].as_bool()), (200, Some(true)));
    let (s, _) = bob.get(&format!("/v1/videos/{bob_second}")).await;
    assert_eq!(s, 404);

    // Alice revokes; Bob's queued job fails when a worker picks it up, new uses are refused.
    let (s, r) = alice
        .post(&format!("/v1/videos/characters/{cid}/revoke"), json!({}))
        .await;
    assert_eq!(s, 200);
    assert!(r["revoked_at"].as_i64().is_some());
    let worker = standalone_worker(dir.path(), &db, "w");
    assert!(worker.run_one().await.unwrap());
    let (_, v) = bob.get(&format!("/v1/videos/{bob_video}")).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["code"], "character_permission_revoked");
    let (s, _) = bob.post("/v1/videos", small(&prompt)).await;
    assert_eq!(s, 403);
    let (s, _) = alice.post("/v1/videos", small(&prompt)).await;
    assert_eq!(s, 403, "revoked means nobody, the owner included");

    // The audit log has every step, in order.
    let (s, log) = alice
        .get(&format!("/v1/videos/characters/{cid}/audit"))
        .await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "character.created",
        "use.refused",
        "use.requested",
        "video.deleted_by_owner",
        "character.revoked",
        "use.refused_at_generation",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    // The database itself keeps the log append-only.
    assert_audit_log_is_append_only(&db, &["UPDATE", "DELETE"]).await;
    let (_, again) = alice
        .get(&format!("/v1/videos/characters/{cid}/audit"))
        .await;
    assert_eq!(again, log);
    server.stop().await;
}

/// Every statement changing or removing audit rows fails with the triggers' message.
async fn assert_audit_log_is_append_only(db: &Db, ops: &[&str]) {
    for op in ops {
        let sql = match *op {
            "UPDATE" => "UPDATE audit_log SET action = 'rewritten'",
            "DELETE" => "DELETE FROM audit_log",
            _ => "TRUNCATE audit_log",
        };
        let e = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{op}: {e}");
    }
}

/// A database from before the consent check: the `consent_check` column is added, the
/// existing characters keep their data (and read back with no report), twice is harmless.
#[tokio::test]
async fn characters_from_before_the_consent_check_keep_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = Db::sqlite_url(dir.path());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    for sql in [
        "CREATE TABLE characters (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
         permission TEXT NOT NULL, approved TEXT NOT NULL, reference_frame BLOB NOT NULL,
         created_at BIGINT NOT NULL, revoked_at BIGINT)",
        "INSERT INTO characters VALUES ('char_old', 'key_a', 'Old', 'everyone', '[]', x'89504e47', 7, NULL)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    for _ in 0..2 {
        let db = Db::connect(&url).await.unwrap();
        let c = db.get_character("char_old").await.unwrap().unwrap();
        assert_eq!((c.name.as_str(), c.created_at), ("Old", 7));
        assert_eq!(c.reference_frame, b"\x89PNG");
        assert!(c.consent_check.is_none());
        db.pool.close().await;
    }
}

/// A pipeline around the real one that records the first frame each generation was given,
/// may say it cannot take one (as a text-to-video Wan folder does), and, when gated, waits
/// once generation has started until the test lets it go on.
struct SpyPipeline {
    inner: kino_server::worker::SharedPipeline,
    takes_image: bool,
    gated: bool,
    seen: std::sync::Mutex<Vec<Option<image::RgbImage>>>,
    started: std::sync::atomic::AtomicBool,
    release: std::sync::atomic::AtomicBool,
}

impl SpyPipeline {
    fn new(takes_image: bool, gated: bool) -> Self {
        Self {
            inner: model().pipeline.clone(),
            takes_image,
            gated,
            seen: Default::default(),
            started: Default::default(),
            release: Default::default(),
        }
    }

    fn begin(&self, first_frame: Option<&image::RgbImage>) {
        use std::sync::atomic::Ordering;
        self.seen.lock().unwrap().push(first_frame.cloned());
        self.started.store(true, Ordering::SeqCst);
        while self.gated && !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl kino_engine::Pipeline for SpyPipeline {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn supports_first_frame(&self) -> bool {
        self.takes_image
    }
    fn generate(
        &self,
        plan: &kino_prompt::ShotPlan,
        opts: &kino_engine::GenerateOptions,
        progress: &mut dyn kino_engine::Progress,
    ) -> kino_engine::pipeline::Result<kino_engine::Generated> {
        self.begin(opts.first_frame.as_ref());
        self.inner.generate(plan, opts, progress)
    }
    fn remix(
        &self,
        source: &kino_media::Clip,
        plan: &kino_prompt::ShotPlan,
        strength: f64,
        opts: &kino_engine::GenerateOptions,
        progress: &mut dyn kino_engine::Progress,
    ) -> kino_engine::pipeline::Result<kino_engine::Generated> {
        self.begin(opts.first_frame.as_ref());
        self.inner.remix(source, plan, strength, opts, progress)
    }
    fn extend(
        &self,
        source: &kino_media::Clip,
        plan: &kino_prompt::ShotPlan,
        seconds: f64,
        opts: &kino_engine::GenerateOptions,
        progress: &mut dyn kino_engine::Progress,
    ) -> kino_engine::pipeline::Result<kino_engine::Generated> {
        self.begin(opts.first_frame.as_ref());
        self.inner.extend(source, plan, seconds, opts, progress)
    }
}

/// A publisher that records whether each clip was published as a cameo.
#[derive(Default)]
struct CameoSpy(std::sync::Mutex<Vec<bool>>);

impl kino_server::worker::Publisher for CameoSpy {
    fn check_output(&self, video: &kino_media::VideoFrames) -> Result<(), String> {
        PlainMp4.check_output(video)
    }
    fn publish(
        &self,
        video_id: &str,
        kind: &str,
        generated: &mut kino_engine::Generated,
        source: Option<&[u8]>,
        cameo: bool,
    ) -> anyhow::Result<Vec<u8>> {
        self.0.lock().unwrap().push(cameo);
        PlainMp4.publish(video_id, kind, generated, source, cameo)
    }
}

/// Registers a character for `who` (the shared consent clip), returning its id.
async fn register(who: &Api, permission: &str, approved: &str) -> String {
    let (ct, body) = multipart(
        &[
            ("name", "Someone"),
            ("permission", permission),
            ("approved", approved),
        ],
        ("video", &consent_clip()),
    );
    let req = who
        .http
        .post(format!("{}/v1/videos/characters", who.base))
        .header("content-type", ct)
        .body(body);
    let (s, c) = who.json(req).await;
    assert_eq!(s, 200, "{c}");
    c["id"].as_str().unwrap().to_string()
}

/// `who` asks for a clip of character `cid`: (status, video id).
async fn uses(who: &Api, cid: &str) -> (u16, Option<String>) {
    let (s, v) = who
        .post("/v1/videos", small(&format!("@{cid} waves at the camera.")))
        .await;
    if s == 403 {
        assert_eq!(v["error"]["code"], "character_permission_denied", "{v}");
    }
    (s, v["id"].as_str().map(String::from))
}

/// Every permission level a character can have, and a cameo job run to the end: the
/// character's reference frame is the generation's first frame, the clip is published as
/// a cameo, and a worker whose model cannot take an image fails the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn character_permission_levels_and_cameo_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let (server, api, db) = start(dir.path(), 0, 10_000).await;
    let user = |name: &'static str| {
        let db = db.clone();
        let base = api.base.clone();
        async move {
            let (key, secret) = db.create_key(name, 10_000, 8).await.unwrap();
            let who = Api {
                base,
                key: secret,
                http: reqwest::Client::new(),
            };
            (key.id, who)
        }
    };
    let (alice_id, alice) = user("alice").await;
    let (bob_id, bob) = user("bob").await;
    let (carol_id, carol) = user("carol").await;
    let only_me = register(&alice, "only_me", "").await;
    let everyone = register(&alice, "everyone", "").await;
    let mutuals = register(&alice, "mutuals", &format!("{bob_id},{carol_id}")).await;
    // Bob approves Alice on his own character, which makes them mutuals; Carol does not.
    let bobs = register(&bob, "approved", &alice_id).await;

    // Alice's own job first: the worker below takes the oldest.
    let (s, alice_job) = uses(&alice, &only_me).await;
    assert_eq!(s, 200);
    for (cid, who, name, want) in [
        (&only_me, &bob, "bob", 403),
        (&only_me, &carol, "carol", 403),
        (&everyone, &bob, "bob", 200),
        (&everyone, &carol, "carol", 200),
        (&mutuals, &bob, "bob", 200),
        (&mutuals, &carol, "carol", 403),
        (&bobs, &alice, "alice", 200),
        (&bobs, &carol, "carol", 403),
    ] {
        assert_eq!(uses(who, cid).await.0, want, "{name} using {cid}");
    }

    // The cameo job runs: its first frame is the character's reference frame.
    let spy = Arc::new(SpyPipeline::new(true, false));
    let published = Arc::new(CameoSpy::default());
    let mut worker = standalone_worker(dir.path(), &db, "w1");
    worker.pipeline = spy.clone();
    worker.publisher = published.clone();
    assert!(worker.run_one().await.unwrap());
    let (_, v) = alice
        .get(&format!("/v1/videos/{}", alice_job.unwrap()))
        .await;
    assert_eq!(v["status"], "completed", "{v}");
    let reference = db.get_character(&only_me).await.unwrap().unwrap();
    let reference = image::load_from_memory(&reference.reference_frame)
        .unwrap()
        .to_rgb8();
    let seen = spy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].as_ref() == Some(&reference),
        "conditioned on the likeness, got {:?}",
        seen[0].as_ref().map(|f| f.dimensions())
    );
    assert_eq!(*published.0.lock().unwrap(), [true], "published as a cameo");

    // A worker whose model cannot take an image (the server restarted on a text-to-video
    // folder) fails the next cameo job rather than make it without the likeness.
    let spy = Arc::new(SpyPipeline::new(false, false));
    worker.pipeline = spy.clone();
    assert!(worker.run_one().await.unwrap());
    assert!(spy.seen.lock().unwrap().is_empty(), "nothing generated");
    assert_eq!(published.0.lock().unwrap().len(), 1, "nothing published");
    let (_, list) = bob.get("/v1/videos").await;
    let failed: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{list}");
    assert_eq!(
        failed[0]["error"]["code"], "character_unsupported_by_model",
        "{list}"
    );
    server.stop().await;
}

/// A remix or extension of a cameo carries the likeness on, so it is a use of the
/// character: it needs permission, the owner sees and can delete it, it is published as a
/// cameo. And a revocation that arrives while a cameo job is being generated still wins:
/// nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_cameos_and_revocation_during_generation() {
    let dir = tempfile::tempdir().unwrap();
    let (server, alice, db) = start(dir.path(), 0, 10_000).await;
    let (bob_key, bob_secret) = db.create_key("bob", 10_000, 8).await.unwrap();
    let bob = Api {
        base: alice.base.clone(),
        key: bob_secret,
        http: reqwest::Client::new(),
    };
    let cid = register(&alice, "approved", &bob_key.id).await;
    let published = Arc::new(CameoSpy::default());
    let mut worker = standalone_worker(dir.path(), &db, "w");
    worker.publisher = published.clone();

    // Bob's cameo, then a remix and an extension of it whose prompts name no character.
    let (s, cameo) = uses(&bob, &cid).await;
    assert_eq!(s, 200);
    let cameo = cameo.unwrap();
    assert!(worker.run_one().await.unwrap());
    assert_eq!(bob.wait(&cameo).await["status"], "completed");
    let (s, remix) = bob
        .post(
            &format!("/v1/videos/{cameo}/remix"),
            json!({"prompt": "The same, at night.", "steps": 2}),
        )
        .await;
    assert_eq!(s, 200, "{remix}");
    let remix = remix["id"].as_str().unwrap().to_string();
    let (s, ext) = bob
        .post(
            "/v1/videos/extensions",
            json!({"prompt": "Then it rains.", "seconds": "1", "video": {"id": cameo}, "steps": 2}),
        )
        .await;
    assert_eq!(s, 200, "{ext}");
    let ext = ext["id"].as_str().unwrap().to_string();
    let (_, listed) = alice
        .get(&format!("/v1/videos/characters/{cid}/videos"))
        .await;
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    for id in [&cameo, &remix, &ext] {
        assert!(listed.contains(&id.as_str()), "{id} not in {listed:?}");
    }
    assert!(worker.run_one().await.unwrap());
    assert_eq!(bob.wait(&remix).await["status"], "completed");
    assert_eq!(
        *published.0.lock().unwrap(),
        [true, true],
        "the remix is published as a cameo"
    );
    // Alice deletes the extension before it runs.
    let (s, _) = alice
        .json(alice.http.delete(format!(
            "{}/v1/videos/characters/{cid}/videos/{ext}",
            alice.base
        )))
        .await;
    assert_eq!(s, 200);

    // A new cameo job is being generated when Alice revokes: it fails, nothing is stored.
    let (s, late) = uses(&bob, &cid).await;
    assert_eq!(s, 200);
    let late = late.unwrap();
    let gate = Arc::new(SpyPipeline::new(
        model().pipeline.supports_first_frame(),
        true,
    ));
    worker.pipeline = gate.clone();
    let running = tokio::spawn(async move { worker.run_one().await.unwrap() });
    for _ in 0..600 {
        if gate.started.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gate.started.load(std::sync::atomic::Ordering::SeqCst));
    let (s, _) = alice
        .post(&format!("/v1/videos/characters/{cid}/revoke"), json!({}))
        .await;
    assert_eq!(s, 200);
    gate.release
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(running.await.unwrap());
    let v = bob.wait(&late).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["code"], "character_permission_revoked", "{v}");
    assert!(
        !dir.path().join("files/videos").join(&late).exists(),
        "nothing stored for {late}"
    );
    let (s, _, _) = bob
        .send(
            bob.http
                .get(format!("{}/v1/videos/{late}/content", bob.base)),
        )
        .await;
    assert_ne!(s, 200);
    assert_eq!(published.0.lock().unwrap().len(), 2, "nothing published");

    // After the revocation the stored cameo cannot be remixed or extended any more.
    let (s, e) = bob
        .post(
            &format!("/v1/videos/{cameo}/remix"),
            json!({"prompt": "Once more.", "steps": 2}),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("character_permission_denied")),
        "{e}"
    );
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("source video"), "{message}");

    // Bob deletes his cameo; the audit log has the derived uses, the late refusal and the
    // deletion, and "generated" only for the clips that were made.
    let (s, _) = bob
        .json(bob.http.delete(format!("{}/v1/videos/{cameo}", bob.base)))
        .await;
    assert_eq!(s, 200);
    let (_, log) = alice
        .get(&format!("/v1/videos/characters/{cid}/audit"))
        .await;
    let entries: Vec<(String, String)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["video_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (action, video) in [
        ("use.requested", &remix),
        ("use.requested", &ext),
        ("use.generated", &cameo),
        ("use.generated", &remix),
        ("use.refused_at_generation", &late),
        ("video.deleted_by_owner", &ext),
        ("video.deleted_by_creator", &cameo),
    ] {
        assert!(
            entries.contains(&(action.to_string(), video.clone())),
            "{action} {video} missing from {entries:?}"
        );
    }
    assert!(
        !entries.contains(&("use.generated".to_string(), late.clone())),
        "{entries:?}"
    );
    server.stop().await;
}

/// A server whose model makes video from text only refuses, before queueing, what needs an
/// image: a cameo (its likeness is the first frame) and an `input_reference`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_only_model_refuses_cameos_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let text_only = LoadedModel {
        pipeline: model().pipeline.clone(),
        info: kino_server::api::ModelInfo {
            takes_image: false,
            ..model().info.clone()
        },
    };
    let mut cfg = ServerConfig::new(dir.path());
    cfg.bind = "127.0.0.1:0".parse().unwrap();
    cfg.workers = 0;
    cfg.max_body = 1 << 20;
    let server = kino_server::start(&cfg, &text_only, Arc::new(PlainMp4), None)
        .await
        .unwrap();
    let db = cfg.open_db().await.unwrap();
    let (_, key) = db.create_key("alice", 10_000, 8).await.unwrap();
    let api = Api {
        base: format!("http://{}", server.addr),
        key,
        http: reqwest::Client::new(),
    };
    let cid = register(&api, "only_me", "").await;

    let (s, v) = api
        .post("/v1/videos", small(&format!("@{cid} waves at the camera.")))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "character_unsupported_by_model", "{v}");
    assert_eq!(v["error"]["param"], "prompt", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&cid) && msg.contains("text only"), "{msg}");
    // The existence and permission checks come first.
    let (s, v) = api
        .post(
            "/v1/videos",
            small("@char_0000000000000000000000000000 waves at the camera."),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{v}"
    );

    let mut png = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([200, 40, 40]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    use base64::Engine;
    let url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let mut body = small("A red ball rolls across a table.");
    body["input_reference"] = json!({ "image_url": url });
    let (s, v) = api.post("/v1/videos", body).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "image_input_unsupported", "{v}");
    assert_eq!(v["error"]["param"], "input_reference", "{v}");

    // Nothing was queued; text alone is accepted.
    let (_, list) = api.get("/v1/videos").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    let (s, v) = api
        .post("/v1/videos", small("A red ball rolls across a table."))
        .await;
    assert_eq!(s, 200, "{v}");
    server.stop().await;
}

/// A 128x128 world clip (scene `seed`) marked with kino's key for `video_id`, delivered
/// (see below) and re-encoded at 1/4 of that bitrate: the MP4 a copy found elsewhere might be.
/// `strength`: `None` marks the way a published clip is (`stamp::watermark`), else at that
/// fixed strength. Deterministic (OpenH264 is), so the scores are the same every run.
fn marked_copy(seed: u64, video_id: Option<&str>, strength: Option<f32>) -> Vec<u8> {
    use kino_media::{EncodeOptions, VideoQuality};
    use kino_provenance::watermark::attack;
    let opts = kino_world::RandomOptions {
        duration_s: 3.0,
        width: 128,
        height: 128,
        ..kino_world::RandomOptions::default()
    };
    let spec = kino_world::SceneSpec::random(seed, &opts).unwrap();
    let mut clip = kino_world::render(&spec, &kino_world::simulate(&spec)).unwrap();
    use kino_provenance::{stamp, watermark};
    match (video_id, strength) {
        (Some(id), None) => {
            stamp::watermark(&mut clip, id).unwrap();
        }
        (Some(id), Some(strength)) => {
            let payload = watermark::Payload::from_clip_id(stamp::KINO_GENERATOR, id);
            let opts = watermark::EmbedOptions {
                strength,
                ..watermark::EmbedOptions::default()
            };
            watermark::embed(&mut clip, &payload, &stamp::kino_watermark_key(), &opts).unwrap();
        }
        (None, _) => {}
    }
    // Marked the way kino publishes a clip: delivered the way kino delivers it (CRF 18 at
    // this size, `VideoQuality::default()`); at a fixed strength: through CRF 23, a copy
    // that has been through another encoder on its way.
    let delivery = match (video_id, strength) {
        (Some(_), None) => VideoQuality::default(),
        _ => VideoQuality::Crf(23),
    };
    let (delivered, bps) = attack::reencode(&clip, delivery).unwrap();
    let (mp4, _) = kino_media::encode_mp4(
        &delivered,
        None,
        &EncodeOptions {
            video_quality: VideoQuality::Bitrate(bps / 4),
            ..EncodeOptions::default()
        },
    )
    .unwrap();
    mp4
}

async fn identify(who: &Api, file: &[u8]) -> (u16, Value) {
    let (ctype, body) = multipart(&[], ("file", file));
    who.json(
        who.http
            .post(format!("{}/v1/provenance/identify", who.base))
            .header("content-type", ctype)
            .body(body),
    )
    .await
}

/// A copy of one of the server's clips, stripped of everything but its (weakened) watermark,
/// is identified among all the server's clips; its id is told only to its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provenance_identify_finds_the_servers_clip_in_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (server, someone, db) = start_with(dir.path(), 0, 10_000, |c| c.max_body = 4 << 20).await;
    let (bob_key, bob_secret) = db.create_key("bob", 10_000, 4).await.unwrap();
    let (alice_key, alice_secret) = db.create_key("alice", 10_000, 4).await.unwrap();
    let as_key = |key: String| Api {
        base: someone.base.clone(),
        key,
        http: reqwest::Client::new(),
    };
    let (alice, bob) = (as_key(alice_secret), as_key(bob_secret));
    // 200 completed videos, 100 each; a 201st is still queued.
    let mut ids = Vec::new();
    for i in 0..201 {
        let owner = if i % 2 == 0 { &alice_key } else { &bob_key };
        // Fixed ids (the payloads, so the scores, depend on them).
        let id = format!("video_{i:04}copytest");
        ids.push(id.clone());
        let row = kino_server::db::videos::VideoRow {
            id: id.clone(),
            owner: owner.id.clone(),
            kind: "create".into(),
            model: "kino-tiny".into(),
            status: if i == 200 { "queued" } else { "completed" }.into(),
            progress: 100,
            created_at: kino_server::ids::now(),
            completed_at: None,
            expires_at: None,
            prompt: "a ball".into(),
            size: "128x128".into(),
            seconds: "3".into(),
            source_video_id: None,
            remixed_from_video_id: None,
            error_code: None,
            error_message: None,
            params: "{}".into(),
            input_image: None,
            attempts: 0,
            content_deleted: 0,
        };
        db.insert_video(&row).await.unwrap();
    }
    // A copy of alice's video #74 whose payload is still readable: named by it.
    let copy = marked_copy(1007, Some(&ids[74]), None);
    let (s, v) = identify(&bob, &copy).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "provenance.identification");
    assert_eq!(v["identified"], true, "{v}");
    assert_eq!(v["method"], "payload", "{v}");
    assert_eq!(v["watermark"]["found"], true, "{v}");
    assert_eq!(v["claim"], Value::Null, "{v}");
    assert!(v.get("candidates").is_none(), "{v}");
    // Not bob's: no id for him; alice gets it.
    assert_eq!(v["matches"], json!([{ "id": null, "yours": false }]), "{v}");
    let (s, v) = identify(&alice, &copy).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["matches"],
        json!([{ "id": ids[74], "yours": true }]),
        "{v}"
    );

    // A copy of bob's #75 (a flat scene delivered at ~68 kbit/s) whose payload is lost:
    // found by testing all 200 ids; bob, its owner, gets the id and the test's scores.
    let copy = marked_copy(1002, Some(&ids[75]), Some(4.5));
    let (s, v) = identify(&bob, &copy).await;
    eprintln!("identify, claim: {v}");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["identified"], true, "{v}");
    assert_eq!(v["method"], "claim", "{v}");
    assert_eq!(v["watermark"]["found"], false, "{v}");
    assert_eq!(
        v["matches"],
        json!([{ "id": ids[75], "yours": true }]),
        "{v}"
    );
    let c = &v["claim"];
    assert_eq!(c["candidates"], 200, "{v}");
    let score = c["score"].as_f64().unwrap();
    assert!(score >= c["threshold"].as_f64().unwrap(), "{v}");
    assert!(c["runner_up"].as_f64().unwrap() < 4.5, "{v}");
    // Alice learns that it is this server's clip, not whose, nor the scores (which would
    // measure how close an edit came to erasing the mark) or how many videos were tested.
    let (s, v) = identify(&alice, &copy).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["matches"], json!([{ "id": null, "yours": false }]), "{v}");
    assert_eq!(v["claim"], json!({ "confirmed": true }), "{v}");
    // The still-queued video was not a candidate: a copy marked for it is not identified.
    let (s, v) = identify(&bob, &marked_copy(1002, Some(&ids[200]), Some(4.5))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["identified"], false, "{v}");
    let owner = alice;

    // An unmarked copy of the same scene: not identified.
    let (s, v) = identify(&owner, &marked_copy(1002, None, None)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["identified"], false, "{v}");
    assert_eq!(v["matches"], json!([]), "{v}");
    assert_eq!(v["watermark"]["found"], false, "{v}");

    // Not an MP4, or no file: 400 naming the field.
    let (s, v) = identify(&owner, b"not an mp4 at all").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "file", "{v}");
    let (s, v) = owner.post("/v1/provenance/identify", json!({})).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "file", "{v}");
    server.stop().await;
}

/// An upload to edit whose stated size would decode past the 6 GiB budget is refused before
/// anything is queued, naming the field (the worker also counts the decoded pictures, so a
/// header that understates the size cannot get past it there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_too_large_to_decode_is_refused_at_enqueue() {
    let dir = tempfile::tempdir().unwrap();
    let (server, api, _db) = start_with(dir.path(), 0, 10_000, |c| c.max_body = 4 << 20).await;
    let mut mp4 = marked_copy(1001, None, None);
    // The first trak's tkhd (the video's): claim 16384x16384 (16.16 fixed point).
    let at = mp4.windows(4).position(|w| w == b"tkhd").unwrap() - 4;
    let end = at + u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
    mp4[end - 8..end - 4].copy_from_slice(&(16384u32 << 16).to_be_bytes());
    mp4[end - 4..end].copy_from_slice(&(16384u32 << 16).to_be_bytes());
    let (ctype, body) = multipart(&[("prompt", "Make it night.")], ("video", &mp4));
    let (s, v) = api
        .json(
            api.http
                .post(format!("{}/v1/videos/edits", api.base))
                .header("content-type", ctype)
                .body(body),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "video", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("too large to decode") && msg.contains("16384x16384"),
        "{msg}"
    );
    let (_, list) = api.get("/v1/videos").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    server.stop().await;
}
