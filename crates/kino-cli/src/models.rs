//! `kino models list|verify`: what models are here, and are they intact.

use anyhow::{Context, Result};
use clap::Subcommand;
use kino_models::diffusers_folder::DiffusersFolder;
use kino_models::folder::ModelFolder;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List model folders, kino's and diffusers' (default: the shipped model and the folders
    /// under $KINO_MODELS).
    List {
        /// Folders to look in (a model folder, or a folder of model folders).
        dirs: Vec<PathBuf>,
    },
    /// Check a model folder completely: files, sizes, SHA-256, tensor names, shapes, dtypes
    /// (a diffusers folder such as Wan's: headers, shards, and every key and shape each
    /// network needs).
    Verify {
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn candidates(dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut roots = dirs;
    if roots.is_empty() {
        roots.push(crate::generate::default_model_dir());
        if let Some(d) = std::env::var_os("KINO_MODELS") {
            roots.push(PathBuf::from(d));
        }
    }
    let mut out = Vec::new();
    let is_model = |p: &std::path::Path| {
        p.join(kino_models::folder::MANIFEST).is_file() || DiffusersFolder::is_diffusers_folder(p)
    };
    for root in roots {
        if is_model(&root) {
            out.push(root);
        } else if let Ok(entries) = std::fs::read_dir(&root) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_model(p))
                .collect();
            found.sort();
            out.extend(found);
        }
    }
    out
}

pub fn run(cmd: ModelsCommand) -> Result<()> {
    // `verify --json` reports a folder it cannot verify as JSON too (and still exits 1).
    let failed_json = match &cmd {
        ModelsCommand::Verify { dir, json: true } => Some(dir.clone()),
        _ => None,
    };
    let result = run_inner(cmd);
    if let (Err(e), Some(dir)) = (&result, failed_json) {
        let report = serde_json::json!({
            "folder": dir.display().to_string(),
            "ok": false,
            "error": format!("{e:#}"),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    result
}

fn run_inner(cmd: ModelsCommand) -> Result<()> {
    match cmd {
        ModelsCommand::List { dirs } => {
            let found = candidates(dirs);
            if found.is_empty() {
                println!("no model folders found");
            }
            for dir in found {
                if DiffusersFolder::is_diffusers_folder(&dir) {
                    match DiffusersFolder::open(&dir)
                        .map_err(anyhow::Error::from)
                        .and_then(|f| {
                            let mut bytes = 0;
                            for (name, _) in f.components() {
                                bytes += f.component(&name)?.weight_bytes();
                            }
                            Ok((f.pipeline_class().to_string(), bytes))
                        }) {
                        Ok((class, bytes)) => println!(
                            "{:<16} {:<14} {:>7.1} MB  diffusers folder  {}",
                            dir.file_name()
                                .map(|n| n.to_string_lossy())
                                .unwrap_or_default(),
                            class,
                            bytes as f64 / 1e6,
                            dir.display()
                        ),
                        Err(e) => println!("{:<16} BROKEN: {e}", dir.display()),
                    }
                    continue;
                }
                match ModelFolder::open(&dir) {
                    Ok(f) => {
                        let m = f.manifest();
                        let bytes: u64 = m.components.values().map(|c| c.bytes).sum();
                        let sizes: Vec<String> = m
                            .media
                            .sizes
                            .iter()
                            .map(|(w, h)| format!("{w}x{h}"))
                            .collect();
                        println!(
                            "{:<16} {:<14} {:>7.1} MB  {} fps  {}  {}",
                            m.name,
                            m.family,
                            bytes as f64 / 1e6,
                            m.media.fps,
                            sizes.join(","),
                            dir.display()
                        );
                    }
                    Err(e) => println!("{:<16} BROKEN: {e}", dir.display()),
                }
            }
            Ok(())
        }
        ModelsCommand::Verify { dir, json }
            if kino_models::diffusers_folder::DiffusersFolder::is_diffusers_folder(&dir) =>
        {
            let report = kino_engine::wan::verify_folder(&dir)
                .with_context(|| format!("verifying {}", dir.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{}: diffusers folder, every network built against its headers",
                    dir.display()
                );
                for c in &report {
                    println!(
                        "  {:<14} {:<32} {:>3} files {:>10.1} MB {:>6} tensors  {}",
                        c.name,
                        c.class,
                        c.files,
                        c.bytes as f64 / 1e6,
                        c.tensors,
                        c.dtypes.join(",")
                    );
                }
                println!("ok");
            }
            Ok(())
        }
        ModelsCommand::Verify { dir, json } => {
            let folder =
                ModelFolder::open(&dir).with_context(|| format!("verifying {}", dir.display()))?;
            let report = folder
                .verify()
                .with_context(|| format!("verifying {}", dir.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
    }
}
