//! `kino`: the command-line face of kino.

mod alloc;
mod bench;
mod data_dir;
mod dev;
mod device;
mod eval;
mod eval_bars;
mod eval_loss;
mod generate;
mod keys;
mod media;
mod models;
mod plan;
mod progress;
mod publish;
mod safety;
mod serve;
mod train;
mod verify;
mod world;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    /// Generate a clip with sound from a prompt (text, a file, or - for stdin).
    Generate {
        prompt: String,
        #[arg(short, long, default_value = "kino.mp4")]
        output: PathBuf,
        /// Clip length in seconds (default: the prompt's `Duration:`, else 4).
        #[arg(long)]
        seconds: Option<f64>,
        /// Animate this image (PNG/JPEG/WebP) as the first frame.
        #[arg(long)]
        image: Option<PathBuf>,
        /// End the clip on this image (PNG/JPEG/WebP): first-and-last-frame video, with
        /// --image, on Wan models that take a last frame (Wan 2.2 I2V-A14B, Wan 2.1 FLF2V).
        #[arg(long, value_name = "IMAGE")]
        last_frame: Option<PathBuf>,
        #[command(flatten)]
        sample: generate::SampleArgs,
    },
    /// Re-make a clip under a new prompt, keeping its motion.
    Remix {
        clip: PathBuf,
        prompt: String,
        /// How far to move from the source: 0 keeps it, 1 ignores it.
        #[arg(long, default_value_t = 0.5)]
        strength: f64,
        #[arg(short, long, default_value = "remix.mp4")]
        output: PathBuf,
        #[command(flatten)]
        sample: generate::SampleArgs,
    },
    /// Continue a clip by N seconds following a prompt.
    Extend {
        clip: PathBuf,
        prompt: String,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        #[arg(short, long, default_value = "extended.mp4")]
        output: PathBuf,
        #[command(flatten)]
        sample: generate::SampleArgs,
    },
    /// List and verify model folders.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Developer tools: run one network of a model folder on saved inputs.
    #[command(subcommand)]
    Dev(dev::DevCommand),
    /// Train a model from a recipe on procedural-world clips (resumable).
    Train {
        /// Recipe name: tiny (kino-tiny) or smoke (minutes, for checks).
        #[arg(long, default_value = "tiny")]
        recipe: String,
        /// Run folder (checkpoints, loss curves, latent cache).
        #[arg(long, default_value = "runs/tiny")]
        run: PathBuf,
        /// Where to write the trained model folder.
        #[arg(short, long, default_value = "runs/tiny/model")]
        output: PathBuf,
        /// Folder with text_encoder.safetensors + tokenizer.json (default: the shipped model).
        #[arg(long)]
        text_encoder: Option<PathBuf>,
        /// Multiply every stage's step count (e.g. 0.1 for a quick run).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Multiply every stage's batch size (e.g. 4 on a GPU).
        #[arg(long, default_value_t = 1.0)]
        batch_scale: f64,
        /// Clips encoded for the DiT stage (default: the recipe's).
        #[arg(long)]
        latent_clips: Option<usize>,
        /// CPU threads.
        #[arg(long)]
        threads: Option<usize>,
        /// Where the networks train: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Fit the run into this many minutes: stages time their first steps and cut their
        /// step counts to fit (never raise them).
        #[arg(long)]
        minutes: Option<f64>,
        /// Run these stages for these many steps instead of the recipe's (at most the
        /// recipe's), e.g. `video_vae=1200,dit=2000`; kept in the run folder like a
        /// --minutes cut, so a resumed run keeps them.
        #[arg(long, value_name = "STAGE=N,...")]
        stage_steps: Option<String>,
        /// Take these stages as they are from the model folder --from instead of training
        /// them (video_vae, audio_vae, vocoder, dit), e.g. `audio_vae,vocoder`. A reused dit
        /// keeps the folder's latent statistics and needs its VAE encoders: reuse
        /// audio_vae and video_vae, or train only the video decoder (--video-decoder-only).
        #[arg(long, value_name = "STAGE,...")]
        reuse: Option<String>,
        /// Start these stages from the weights in --from and train them (any stage, e.g.
        /// `video_vae`). `--reuse video_vae,audio_vae,vocoder --init dit` keeps training a
        /// finished model (the DiT keeps its latent statistics, so its VAEs must be reused).
        #[arg(long, value_name = "STAGE,...")]
        init: Option<String>,
        /// The model folder --reuse and --init take weights from (default: the shipped
        /// kino-tiny); a partial folder of --stop-before-dit works for the VAEs and vocoder.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Train only the VAEs and the vocoder and write them to --output as a partial model
        /// folder, for a later run's --reuse or --init (one model's stages over several
        /// sessions).
        #[arg(long)]
        stop_before_dit: bool,
        /// Weight of the video VAE's L1 on frame-to-frame differences (the recipe's
        /// motion_weight): charges a decoder that smears moving objects along their path.
        #[arg(long, value_name = "W")]
        motion_weight: Option<f64>,
        /// Extra weight of the DiT's loss on the latent cells that hold an object (the
        /// recipe's dit_object_weight; such a cell counts 1 + W times).
        #[arg(long, value_name = "W")]
        dit_object_weight: Option<f64>,
        /// Give the DiT's video tokens fixed features of their place in the frame (the
        /// config's absolute_positions) on top of its rotary positions: a new DiT then learns
        /// where things go much sooner. A DiT trained without them cannot be continued with
        /// them (--init dit refuses the different config).
        #[arg(long)]
        dit_absolute_positions: bool,
        /// Train on the scenes of world seeds 0..N only (an overfit check: the DiT's sample
        /// clips are then those scenes, to see whether the model gives back what it saw;
        /// samples are taken at the DiT stage's last step unless the recipe says more often).
        #[arg(long, value_name = "N")]
        data_pool: Option<u64>,
        /// Train only the video VAE's decoder (with --init video_vae): the encoder, and so
        /// the latent space, stays the --from folder's, and with --reuse dit its DiT
        /// ships unchanged over the new decoder.
        #[arg(long)]
        video_decoder_only: bool,
        /// Refuse to write a sample clip when a sampled frame's NSFW probability (open_nsfw)
        /// is at or above this, as `kino generate` does (0..=1).
        #[arg(long, default_value_t = kino_safety::DEFAULT_NSFW_THRESHOLD)]
        nsfw_threshold: f32,
        /// Holds the provenance key the sample clips are signed with.
        #[command(flatten)]
        data: keys::DataDirArg,
    },
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
    /// Generate clips for held-out world prompts and judge them (a model's score table).
    Eval(eval::EvalArgs),
    /// Measure kino's speed on this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Serve OpenAI's Videos API (/v1/videos) with workers in this process.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        #[command(flatten)]
        server: serve::ServerArgs,
    },
    /// Run jobs from a shared database (scale out: many workers, one `kino serve --workers 0`).
    Worker {
        #[command(flatten)]
        server: serve::ServerArgs,
    },
    /// Check a clip's provenance: C2PA content credentials and kino's invisible watermark.
    Verify(verify::VerifyArgs),
    /// Manage the keys kino keeps in its data directory.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate {
            prompt,
            output,
            seconds,
            image,
            last_frame,
            sample,
        } => generate::generate(
            &prompt,
            &output,
            seconds,
            image.as_deref(),
            last_frame.as_deref(),
            &sample,
        ),
        Command::Remix {
            clip,
            prompt,
            strength,
            output,
            sample,
        } => generate::remix(&clip, &prompt, strength, &output, &sample),
        Command::Extend {
            clip,
            prompt,
            seconds,
            output,
            sample,
        } => generate::extend(&clip, &prompt, seconds, &output, &sample),
        Command::Models(cmd) => models::run(cmd),
        Command::Dev(cmd) => dev::run(cmd),
        Command::Train {
            recipe,
            run,
            output,
            text_encoder,
            scale,
            batch_scale,
            latent_clips,
            threads,
            device,
            minutes,
            stage_steps,
            reuse,
            init,
            from,
            stop_before_dit,
            motion_weight,
            dit_object_weight,
            dit_absolute_positions,
            data_pool,
            video_decoder_only,
            nsfw_threshold,
            data,
        } => train::run(train::TrainArgs {
            stop_before_dit,
            motion_weight,
            dit_object_weight,
            dit_absolute_positions,
            data_pool,
            video_decoder_only,
            stage_steps: stage_steps.as_deref(),
            reuse: reuse.as_deref(),
            init: init.as_deref(),
            from: from.as_deref(),
            batch_scale,
            latent_clips,
            recipe: &recipe,
            run_dir: &run,
            out: &output,
            text_dir: text_encoder.as_deref(),
            scale,
            threads,
            device: &device,
            minutes,
            nsfw_threshold,
            data_dir: data.resolve(),
        }),
        Command::Media(cmd) => media::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Serve { bind, server } => serve::serve(&server, &bind),
        Command::Worker { server } => serve::worker(&server),
        Command::Eval(args) => eval::run(&args),
        Command::Plan { prompt, json } => plan::run(&prompt, json),
        Command::World(cmd) => world::run(cmd),
        Command::Judge { clip, prompt, json } => world::judge(clip, &prompt, json),
        Command::Verify(args) => return verify::run(&args),
        Command::Keys(cmd) => keys::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
