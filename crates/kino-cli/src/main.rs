//! `kino`: the command-line face of kino.

mod bench;
mod media;
mod plan;
mod progress;
mod world;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// kino: prompt in, video with synchronized sound out — open, local, one binary.
#[derive(Parser)]
#[command(name = "kino", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, assemble and preview media files.
    #[command(subcommand)]
    Media(media::MediaCommand),
    /// Parse a prompt (text, a file, or - for stdin) and print its shot plan.
    Plan {
        prompt: String,
        /// Print the plan as JSON (the ShotPlan schema).
        #[arg(long)]
        json: bool,
    },
    /// The procedural physics world: previsualise prompts, write training datasets.
    #[command(subcommand)]
    World(world::WorldCommand),
    /// Score a clip against a prompt: tracking, physics, audio/video sync, adherence.
    Judge {
        clip: std::path::PathBuf,
        /// The prompt the clip should follow (text, a file, or - for stdin).
        #[arg(long)]
        prompt: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure kino's speed on this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Media(cmd) => media::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Plan { prompt, json } => plan::run(&prompt, json),
        Command::World(cmd) => world::run(cmd),
        Command::Judge { clip, prompt, json } => world::judge(clip, &prompt, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
