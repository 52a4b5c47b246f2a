//! kino-server: `kino serve` and `kino worker`.
//!
//! * [`api`]: OpenAI's Videos API (`/v1/videos`...), API keys, rate limits, errors in
//!   OpenAI's shape.
//! * [`db`]: metadata and the job queue in SQLite (default) or PostgreSQL.
//! * [`storage`]: finished files in a local folder (default) or S3-compatible storage.
//! * [`worker`]: claims jobs under a lease, runs the engine, stores video, thumbnail and
//!   spritesheet.
//! * [`webhooks`]: signed `video.completed` / `video.failed` events with retries.

pub mod api;
pub mod characters;
pub mod db;
pub mod ids;
pub mod jobs;
pub mod storage;
pub mod web;
pub mod webhooks;
pub mod worker;

use anyhow::Context;
use api::{ApiConfig, AppState, ModelInfo, PromptPolicy};
use db::Db;
use kino_engine::twin::{TwinModel, TwinPipeline};
use kino_engine::Pipeline as _;
use kino_models::folder::ModelFolder;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use storage::Storage;
use tokio::sync::watch;
use webhooks::Webhooks;
use worker::{Publisher, SharedPipeline, Worker, WorkerConfig};

/// Everything `kino serve` / `kino worker` can be told.
#[derive(Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` (default: SQLite in the data dir).
    pub database: Option<String>,
    /// A folder, `file://...` or `s3://bucket/prefix` (default: `<data>/files`).
    pub storage: Option<String>,
    pub bind: SocketAddr,
    /// In-process workers (0: API only, jobs run by `kino worker` elsewhere).
    pub workers: usize,
    pub worker: WorkerConfig,
    pub max_body: usize,
    pub poll_after_ms: u64,
    pub webhook: Option<(String, String)>,
    /// The liveness check of cameo consent clips (default on; `None`: off).
    pub consent_check: Option<kino_safety::ConsentCheck>,
}

impl ServerConfig {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database: None,
            storage: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 1,
            worker: WorkerConfig::default(),
            max_body: 64 << 20,
            poll_after_ms: 1000,
            webhook: None,
            consent_check: Some(kino_safety::ConsentCheck::default()),
        }
    }

    pub async fn open_db(&self) -> anyhow::Result<Db> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data dir {}", self.data_dir.display()))?;
        let url = self
            .database
            .clone()
            .unwrap_or_else(|| Db::sqlite_url(&self.data_dir));
        Ok(Db::connect(&url).await?)
    }

    pub fn open_storage(&self) -> anyhow::Result<Storage> {
        Ok(match &self.storage {
            Some(url) => Storage::open(url)?,
            None => Storage::local(&self.data_dir.join("files"))?,
        })
    }

    pub fn webhooks(&self) -> anyhow::Result<Option<Webhooks>> {
        self.webhook
            .as_ref()
            .map(|(url, secret)| Webhooks::new(url, secret))
            .transpose()
            .map_err(Into::into)
    }
}

/// A model folder loaded for serving.
pub struct LoadedModel {
    pub pipeline: SharedPipeline,
    pub info: ModelInfo,
}

/// Loads a kino model folder on `device`.
pub fn load_model(
    dir: &Path,
    device: &candle_core::Device,
    steps: usize,
) -> anyhow::Result<LoadedModel> {
    if kino_models::diffusers_folder::DiffusersFolder::is_diffusers_folder(dir) {
        let dtype = kino_engine::wan::compute_dtype(device);
        let model = kino_engine::wan::WanModel::load(dir, dtype, device)
            .with_context(|| format!("loading {}", dir.display()))?;
        let multiple =
            model.vae().config().scale_factor_spatial * model.transformer().config().patch_size[1];
        let info = ModelInfo {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "wan".into()),
            size: (832, 480),
            size_multiple: multiple as u32,
            max_side: 1280,
            max_seconds: 10,
            steps,
            takes_image: model.supports_first_frame(),
        };
        return Ok(LoadedModel {
            pipeline: Arc::new(model),
            info,
        });
    }
    let folder = ModelFolder::open(dir)
        .with_context(|| format!("opening model folder {}", dir.display()))?;
    let model = TwinModel::load(&folder, device)?;
    let (name, size) = (model.name.clone(), model.size);
    let pipeline = TwinPipeline::new(model);
    let info = ModelInfo {
        name,
        size,
        size_multiple: 16,
        max_side: 1024,
        max_seconds: 20,
        steps,
        takes_image: pipeline.supports_first_frame(),
    };
    Ok(LoadedModel {
        pipeline: Arc::new(pipeline),
        info,
    })
}

/// A running server (API + its in-process workers).
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets running jobs' workers stop, waits for all tasks.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Background upkeep: removes orphaned and expired files, delivers webhooks.
fn spawn_upkeep(
    db: Db,
    storage: Storage,
    hooks: Option<Webhooks>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = 0u64;
        loop {
            if let Some(h) = &hooks {
                if let Err(e) = h.deliver_due(&db).await {
                    tracing::warn!("webhooks: {e:#}");
                }
            }
            if tick.is_multiple_of(600) {
                match worker::sweep_storage(&db, &storage).await {
                    Ok((0, 0)) => {}
                    Ok((o, x)) => tracing::info!(
                        "storage sweep: {o} orphaned and {x} expired videos' files removed"
                    ),
                    Err(e) => tracing::warn!("storage sweep: {e:#}"),
                }
            }
            tick += 1;
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = shutdown.changed() => break,
            }
        }
    })
}

/// Starts `count` workers sharing the database, storage and model; ids get `-<i>` suffixes
/// when there are several.
#[allow(clippy::too_many_arguments)]
fn spawn_workers(
    cfg: &ServerConfig,
    count: usize,
    db: &Db,
    storage: &Storage,
    model: &LoadedModel,
    publisher: &Arc<dyn Publisher>,
    hooks: &Option<Webhooks>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let mut wcfg = cfg.worker.clone();
            if count > 1 {
                wcfg.id = format!("{}-{i}", wcfg.id);
            }
            let w = Worker {
                db: db.clone(),
                storage: storage.clone(),
                pipeline: model.pipeline.clone(),
                publisher: publisher.clone(),
                webhooks: hooks.clone(),
                cfg: wcfg,
            };
            tokio::spawn(w.run(shutdown.clone()))
        })
        .collect()
}

/// Starts the API (and `cfg.workers` workers) and returns once it is listening.
pub async fn start(
    cfg: &ServerConfig,
    model: &LoadedModel,
    publisher: Arc<dyn Publisher>,
    policy: Option<Arc<dyn PromptPolicy>>,
) -> anyhow::Result<RunningServer> {
    let db = cfg.open_db().await?;
    let storage = cfg.open_storage()?;
    let hooks = cfg.webhooks()?;
    let (tx, rx) = watch::channel(false);
    let state = AppState {
        db: db.clone(),
        storage: storage.clone(),
        cfg: Arc::new(ApiConfig {
            model: model.info.clone(),
            max_body: cfg.max_body,
            poll_after_ms: cfg.poll_after_ms,
            consent_check: cfg.consent_check.clone(),
        }),
        limiter: Default::default(),
        policy,
    };
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .with_context(|| format!("listening on {}", cfg.bind))?;
    let addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    let mut srx = rx.clone();
    let app = api::router(state);
    tasks.push(tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = srx.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!("server: {e}");
        }
    }));
    tasks.push(spawn_upkeep(
        db.clone(),
        storage.clone(),
        hooks.clone(),
        rx.clone(),
    ));
    tasks.extend(spawn_workers(
        cfg,
        cfg.workers,
        &db,
        &storage,
        model,
        &publisher,
        &hooks,
        &rx,
    ));
    Ok(RunningServer {
        addr,
        shutdown: tx,
        tasks,
    })
}

/// Runs workers only (`kino worker`), until `shutdown` turns true.
pub async fn run_workers(
    cfg: &ServerConfig,
    model: &LoadedModel,
    publisher: Arc<dyn Publisher>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let db = cfg.open_db().await?;
    let storage = cfg.open_storage()?;
    let hooks = cfg.webhooks()?;
    let mut tasks = spawn_workers(
        cfg,
        cfg.workers.max(1),
        &db,
        &storage,
        model,
        &publisher,
        &hooks,
        &shutdown,
    );
    tasks.push(spawn_upkeep(db, storage, hooks, shutdown));
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
