//! `kino keys`: the keys kino keeps in its data directory.
//!
//! Today one kind: `kino keys provenance init|show`, the C2PA signing key and certificate
//! chain every MP4 kino writes is signed with (`<data dir>/provenance/`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kino_provenance::credentials::{KeyInfo, ProvenanceKey};
use std::path::{Path, PathBuf};

/// Where kino keeps its state; shared by every command that reads or writes keys.
#[derive(Args, Debug, Clone, Default)]
pub struct DataDirArg {
    /// kino's data directory (default: $KINO_DATA_DIR, else $XDG_DATA_HOME/kino, else
    /// ~/.local/share/kino).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    pub fn resolve(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::data_dir::default_data_dir)
    }
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The C2PA signing key and certificate chain every MP4 kino writes is signed with.
    #[command(subcommand)]
    Provenance(ProvenanceCommand),
    /// Make an API key for `kino serve` (printed once on stdout; only its hash is kept).
    Create {
        /// A name to tell keys apart.
        #[arg(long)]
        name: String,
        /// Requests per minute this key may make.
        #[arg(long, default_value_t = 600)]
        requests_per_minute: i64,
        /// Videos this key may have queued or in progress at once.
        #[arg(long, default_value_t = 8)]
        max_concurrent_jobs: i64,
        /// The server's database (default: SQLite in the data dir, or $KINO_DATABASE_URL).
        #[arg(long)]
        database: Option<String>,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// List API keys (never their secrets).
    List {
        #[arg(long)]
        database: Option<String>,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Revoke an API key by id or name; requests with it fail from now on.
    Revoke {
        key: String,
        #[arg(long)]
        database: Option<String>,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

#[derive(Subcommand)]
pub enum ProvenanceCommand {
    /// Make a local self-signed signing key, or import yours with --cert and --key. Never
    /// overwrites an existing key.
    Init {
        /// Your certificate chain (PEM): the signing certificate first, then its issuers.
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// The signing certificate's private key (PEM, P-256, PKCS#8 or SEC1, unencrypted).
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Describe the key: certificate subject, issuer, validity, fingerprint, files.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArg,
    },
}

/// The provenance key folder inside `data_dir`.
pub fn provenance_dir(data_dir: &Path) -> PathBuf {
    ProvenanceKey::dir_in(data_dir)
}

/// Loads the signing key from `data_dir`, making a local one (and saying so on stderr) the
/// first time.
pub fn load_or_init_provenance(data_dir: &Path) -> Result<ProvenanceKey> {
    let dir = provenance_dir(data_dir);
    let (key, created) =
        ProvenanceKey::load_or_init(&dir).context("loading the provenance signing key")?;
    if created {
        eprintln!(
            "made a new provenance signing key in {} (local, self-signed: C2PA readers will call \
             the signer untrusted). `kino keys provenance show` describes it; \
             `kino keys provenance init --cert FILE --key FILE` uses your own certificate instead.",
            dir.display()
        );
    }
    Ok(key)
}

pub fn run(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Provenance(p) => provenance(p),
        KeysCommand::Create {
            name,
            requests_per_minute,
            max_concurrent_jobs,
            database,
            dir,
        } => crate::serve::create_key(
            dir.data_dir,
            database,
            &name,
            requests_per_minute,
            max_concurrent_jobs,
        ),
        KeysCommand::List { database, dir } => crate::serve::list_keys(dir.data_dir, database),
        KeysCommand::Revoke { key, database, dir } => {
            crate::serve::revoke_key(dir.data_dir, database, &key)
        }
    }
}

fn provenance(cmd: ProvenanceCommand) -> Result<()> {
    match cmd {
        ProvenanceCommand::Init { cert, key, dir } => {
            let dir = provenance_dir(&dir.resolve());
            let k = match (cert, key) {
                (Some(cert), Some(key)) => ProvenanceKey::import(&dir, &cert, &key)
                    .context("importing the provenance key")?,
                _ => ProvenanceKey::init(&dir).context("making a provenance key")?,
            };
            println!("{}", describe(&dir, k.info()));
            Ok(())
        }
        ProvenanceCommand::Show { json, dir } => {
            let dir = provenance_dir(&dir.resolve());
            let k = ProvenanceKey::load(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(k.info())?);
            } else {
                println!("{}", describe(&dir, k.info()));
            }
            Ok(())
        }
    }
}

fn describe(dir: &Path, info: &KeyInfo) -> String {
    let file = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    };
    let trust = if info.self_signed_root {
        "ends in a self-signed root on no trust list: readers verify the signature but call the signer untrusted"
    } else {
        "ends in an issuer certificate; whether it is trusted is up to each reader's trust list"
    };
    format!(
        "provenance key in {}\n  certificate chain: {}\n  private key:       {}\n  signer:  {}\n  issuer:  {}\n  valid:   {} to {}\n  sha256:  {}\n  chain:   {} certificate(s), {}",
        dir.display(),
        file(&info.cert_chain_path),
        file(&info.private_key_path),
        info.subject,
        info.issuer,
        info.not_before,
        info.not_after,
        info.fingerprint_sha256,
        info.chain.len(),
        trust
    )
}
