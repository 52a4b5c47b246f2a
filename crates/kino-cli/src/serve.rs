//! `kino serve` (the Videos API + workers) and `kino worker` (workers only).

use anyhow::{Context, Result};
use clap::Args;
use kino_server::{LoadedModel, ServerConfig};
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Where keys, the SQLite database and stored videos live (default: $KINO_DATA_DIR,
    /// else ~/.local/share/kino).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Metadata and job queue: sqlite://PATH or postgres://USER:PASS@HOST/DB
    /// (default: SQLite in the data dir; or $KINO_DATABASE_URL).
    #[arg(long)]
    pub database: Option<String>,
    /// Where videos are stored: a folder, file://PATH or s3://BUCKET/PREFIX (credentials and
    /// endpoint from AWS_* variables). Default: <data dir>/files.
    #[arg(long)]
    pub storage: Option<String>,
    /// Model folder (default: $KINO_MODEL, else the shipped kino-tiny).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where the networks run: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Denoising steps when a request names none.
    #[arg(long, default_value_t = 12)]
    pub steps: usize,
    /// Jobs run at once in this process (0 with `serve`: API only).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// A worker that stops reporting for this long loses its job to another worker.
    #[arg(long, default_value_t = 30)]
    pub lease_seconds: i64,
    /// Attempts per job before it fails (a worker dying mid-job costs one).
    #[arg(long, default_value_t = 3)]
    pub max_attempts: i64,
    /// Hours finished videos are kept (0: forever).
    #[arg(long, default_value_t = 168)]
    pub expire_after_hours: i64,
    /// POST video.completed / video.failed events here.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Signing secret for webhooks (whsec_...; default $KINO_WEBHOOK_SECRET).
    #[arg(long)]
    pub webhook_secret: Option<String>,
    /// The content policy on prompts and on generated frames.
    #[command(flatten)]
    pub safety: crate::safety::SafetyArgs,
    /// Thresholds of the cameo consent clip check (TOML with any of the `ConsentCheck`
    /// fields; docs/safety.md, "The consent clip check").
    #[arg(long, value_name = "FILE")]
    pub consent_check: Option<PathBuf>,
    /// Turn the consent clip check off: any readable clip of 0.5 s or more registers a cameo.
    #[arg(long, conflicts_with = "consent_check")]
    pub no_consent_check: bool,
    #[command(flatten)]
    pub visible: crate::publish::VisibleMarkArgs,
}

impl ServerArgs {
    /// What every stored clip goes through: the output check, the optional visible mark,
    /// the watermark and the C2PA signature.
    fn publisher(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<std::sync::Arc<dyn kino_server::worker::Publisher>> {
        crate::publish::publisher(
            data_dir,
            &self.model_dir(),
            self.safety.output_check()?,
            self.visible.mark()?,
        )
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::data_dir::default_data_dir)
    }

    fn config(&self) -> Result<ServerConfig> {
        let mut cfg = ServerConfig::new(&self.data_dir());
        cfg.database = self.database.clone().or_else(|| {
            std::env::var("KINO_DATABASE_URL")
                .ok()
                .filter(|s| !s.is_empty())
        });
        cfg.storage = self.storage.clone();
        cfg.workers = self.workers;
        cfg.worker.lease_s = self.lease_seconds.max(5);
        cfg.worker.max_attempts = self.max_attempts.max(1);
        cfg.worker.expire_after_s =
            (self.expire_after_hours > 0).then_some(self.expire_after_hours * 3600);
        if let Some(url) = &self.webhook_url {
            let secret = self
                .webhook_secret
                .clone()
                .or_else(|| std::env::var("KINO_WEBHOOK_SECRET").ok())
                .context("--webhook-url needs --webhook-secret (or $KINO_WEBHOOK_SECRET), e.g. whsec_<base64>")?;
            cfg.webhook = Some((url.clone(), secret));
        }
        cfg.consent_check = match (&self.consent_check, self.no_consent_check) {
            (_, true) => None,
            (None, false) => Some(kino_safety::ConsentCheck::default()),
            (Some(path), false) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --consent-check {}", path.display()))?;
                Some(
                    kino_safety::ConsentCheck::from_toml(&text)
                        .with_context(|| format!("--consent-check {}", path.display()))?,
                )
            }
        };
        Ok(cfg)
    }

    fn model_dir(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(crate::generate::default_model_dir)
    }

    fn load_model(&self) -> Result<LoadedModel> {
        let device = crate::device::parse(&self.device)?;
        let dir = self.model_dir();
        let spinner = crate::progress::spinner("loading model");
        let model = kino_server::load_model(&dir, &device, self.steps)?;
        spinner.finish_and_clear();
        Ok(model)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KINO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub fn serve(args: &ServerArgs, bind: &str) -> Result<()> {
    init_logging();
    let mut cfg = args.config()?;
    cfg.bind = bind
        .parse()
        .with_context(|| format!("--bind '{bind}': expected HOST:PORT, e.g. 127.0.0.1:8080"))?;
    let model = args.load_model()?;
    let publisher = args.publisher(&cfg.data_dir)?;
    let policy = Some(args.safety.prompt_policy(&args.model_dir())?);
    let rt = runtime()?;
    rt.block_on(async {
        let server = kino_server::start(&cfg, &model, publisher, policy).await?;
        let db = cfg.open_db().await?;
        let keys = db.list_keys().await?;
        eprintln!(
            "kino serving {} on http://{}/v1 (workers {}, data {})",
            model.info.name,
            server.addr,
            cfg.workers,
            cfg.data_dir.display()
        );
        if keys.iter().all(|k| k.revoked_at.is_some()) {
            eprintln!("no API keys yet: create one with `kino keys create --name NAME`");
        }
        stop_signal().await;
        eprintln!("stopping (running jobs are picked up again after their lease)");
        server.stop().await;
        Ok(())
    })
}

pub fn worker(args: &ServerArgs) -> Result<()> {
    init_logging();
    let cfg = args.config()?;
    let model = args.load_model()?;
    let publisher = args.publisher(&cfg.data_dir)?;
    let rt = runtime()?;
    rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let run = kino_server::run_workers(&cfg, &model, publisher, rx);
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => r,
            _ = stop_signal() => {
                let _ = tx.send(true);
                run.await
            }
        }
    })
}

/// `kino keys create|list|revoke` (API keys for `kino serve`).
pub fn create_key(
    data_dir: Option<PathBuf>,
    database: Option<String>,
    name: &str,
    rpm: i64,
    concurrent: i64,
) -> Result<()> {
    let cfg = key_config(data_dir, database);
    runtime()?.block_on(async {
        let db = cfg.open_db().await?;
        let (key, secret) = db.create_key(name, rpm, concurrent).await?;
        eprintln!(
            "created API key {} '{}' ({} requests/min, {} concurrent jobs); it is shown only now:",
            key.id, key.name, key.requests_per_minute, key.max_concurrent_jobs
        );
        println!("{secret}");
        Ok(())
    })
}

pub fn list_keys(data_dir: Option<PathBuf>, database: Option<String>) -> Result<()> {
    let cfg = key_config(data_dir, database);
    runtime()?.block_on(async {
        let db = cfg.open_db().await?;
        for k in db.list_keys().await? {
            println!(
                "{}  {:<20} {}...  {} rpm  {} jobs  {}",
                k.id,
                k.name,
                k.prefix,
                k.requests_per_minute,
                k.max_concurrent_jobs,
                if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                }
            );
        }
        Ok(())
    })
}

pub fn revoke_key(data_dir: Option<PathBuf>, database: Option<String>, which: &str) -> Result<()> {
    let cfg = key_config(data_dir, database);
    runtime()?.block_on(async {
        let db = cfg.open_db().await?;
        if !db.revoke_key(which).await? {
            anyhow::bail!("no active API key with id or name '{which}'");
        }
        eprintln!("revoked {which}");
        Ok(())
    })
}

fn key_config(data_dir: Option<PathBuf>, database: Option<String>) -> ServerConfig {
    let mut cfg = ServerConfig::new(&data_dir.unwrap_or_else(crate::data_dir::default_data_dir));
    cfg.database = database.or_else(|| {
        std::env::var("KINO_DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
    });
    cfg
}
