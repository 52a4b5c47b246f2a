//! `kino media ...`: probe, mux, thumbnail, spritesheet.
//!
//! `kino media mux` signs the MP4 it writes with C2PA content credentials ([`mux_credentials`])
//! but does not watermark it: kino only packaged frames and sound it was given.

use crate::progress;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use kino_media::{
    AudioBuffer, EncodeOptions, PixelFormat, Rational, SpritesheetOptions, VideoFrames,
    VideoQuality,
};
use kino_provenance::credentials::{sign_mp4_bytes, Component, Credentials};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum MediaCommand {
    /// Show the streams of an MP4: codecs, sizes, rates, durations.
    Probe {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Assemble numbered images (and optionally a WAV) into a browser-playable MP4.
    Mux(MuxArgs),
    /// Write one frame of an MP4 as WebP (what the Videos API serves as `thumbnail`).
    Thumbnail {
        file: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Time of the frame, in seconds.
        #[arg(long, default_value_t = 0.0)]
        at: f64,
    },
    /// Write a JPEG grid of evenly spaced frames (the Videos API's `spritesheet`).
    Spritesheet {
        file: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Number of frames in the grid.
        #[arg(long, default_value_t = 16)]
        count: usize,
        /// Frames per row.
        #[arg(long, default_value_t = 4)]
        columns: usize,
        /// Width of each tile in pixels.
        #[arg(long, default_value_t = 256)]
        tile_width: u32,
    },
}

#[derive(Args)]
pub struct MuxArgs {
    /// Folder of PNG/JPEG/WebP frames, used in file-name order.
    #[arg(long)]
    frames: PathBuf,
    /// WAV file for the sound track (fitted to the video's length).
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Frame rate, e.g. 24, 30, 29.97 or 24000/1001.
    #[arg(long, default_value = "24")]
    fps: String,
    #[command(flatten)]
    quality: QualityArgs,
    #[arg(short, long)]
    output: PathBuf,
    /// Holds the provenance key the MP4 is signed with.
    #[command(flatten)]
    data: crate::keys::DataDirArg,
}

/// The software agent a muxed clip's manifest names.
const MUX_TOOL: &str = "kino media mux";

/// The content credentials of an MP4 `kino media mux` assembled from `frames` image files in
/// the folder `frames_dir` and, optionally, the WAV `audio`.
///
/// kino drew no pixel and made no sound here: it decoded images and a WAV the user gave it
/// and encoded them into one MP4, and it cannot know how they were made (a camera, a
/// renderer, a generative model, a person). So the manifest must not say
/// *trainedAlgorithmicMedia* (a kino model made it) nor *algorithmicMedia* (an algorithm made
/// it), and claiming *digitalCapture* or *digitalCreation* would be a guess. The IPTC
/// digital source type that fits is **composite**: "a mix or composite of several elements,
/// any of which may or may not be generative AI" — the file is several elements (a run of
/// frames and a sound track) put together, and it says nothing about their origin. (The
/// composite types that do make a claim, *compositeCapture* "all captures of real life" and
/// *compositeSynthetic* "at least one of which is generative AI", are unknowable here.) The
/// `c2pa.created` action (which C2PA requires to carry a digital source type) names the tool
/// as software agent and says in its description what was assembled; the WAV, when given, is
/// a `componentOf` ingredient with a `c2pa.placed` action, so a manifest it carries travels
/// along. The frames are not listed one by one (a clip has hundreds). The frames get no
/// invisible watermark: the watermark says "a kino model generated this", which would be
/// false.
fn mux_credentials(
    frames_dir: &Path,
    frames: usize,
    audio: Option<&Path>,
    audio_ingredient: bool,
    output: &Path,
) -> Result<Credentials> {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let mut description = format!(
        "assembled {frames} image frames from the folder {}",
        name(frames_dir)
    );
    if let Some(a) = audio {
        description.push_str(&format!(" and the sound track {}", name(a)));
    }
    description.push_str(" into an MP4 (decoded and re-encoded; nothing drawn or generated)");
    let components = match audio.filter(|_| audio_ingredient) {
        Some(a) => vec![Component::from_file(a, "audio/wav")?],
        None => Vec::new(),
    };
    let mut c =
        Credentials::assembled(MUX_TOOL, env!("CARGO_PKG_VERSION"), description, components);
    c.title = Some(name(output));
    Ok(c)
}

/// Video rate control flags shared by commands that encode.
#[derive(Args, Clone)]
pub struct QualityArgs {
    /// Constant quality, 0 (best) to 51 (smallest); 23 is the default.
    #[arg(long, conflicts_with = "bitrate")]
    pub crf: Option<u8>,
    /// Target video bitrate, e.g. 2M or 800k.
    #[arg(long)]
    pub bitrate: Option<String>,
    /// Audio bitrate, e.g. 128k (default 64k per channel).
    #[arg(long)]
    pub audio_bitrate: Option<String>,
}

impl QualityArgs {
    pub fn options(&self) -> Result<EncodeOptions> {
        let video_quality = match (&self.crf, &self.bitrate) {
            (Some(q), _) if *q > 51 => bail!("--crf {q}: must be 0..=51"),
            (Some(q), _) => VideoQuality::Crf(*q),
            (None, Some(b)) => VideoQuality::Bitrate(parse_bitrate(b).context("--bitrate")?),
            (None, None) => VideoQuality::default(),
        };
        let audio_bitrate = self
            .audio_bitrate
            .as_deref()
            .map(parse_bitrate)
            .transpose()
            .context("--audio-bitrate")?;
        Ok(EncodeOptions {
            video_quality,
            audio_bitrate,
            title: None,
        })
    }
}

/// "2M", "800k", "96000" -> bits per second.
pub fn parse_bitrate(s: &str) -> Result<u32> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('m') {
        Some(n) => (n, 1e6),
        None => match t.strip_suffix('k') {
            Some(n) => (n, 1e3),
            None => (t.as_str(), 1.0),
        },
    };
    let v: f64 = num
        .parse()
        .with_context(|| format!("'{s}' is not a bitrate like 2M, 800k or 96000"))?;
    let bps = v * mult;
    if !(1e3..=2.4e8).contains(&bps) {
        bail!("'{s}' is outside 1k..240M");
    }
    Ok(bps as u32)
}

/// "24", "29.97", "24000/1001" -> a rate.
pub fn parse_fps(s: &str) -> Result<Rational> {
    let r = match s.split_once('/') {
        Some((n, d)) => Rational::new(
            n.trim().parse().with_context(|| format!("--fps {s}"))?,
            d.trim().parse().with_context(|| format!("--fps {s}"))?,
        )?,
        None => Rational::approximate(s.trim().parse().with_context(|| format!("--fps {s}"))?)?,
    };
    if !(8.0..=60.0).contains(&r.as_f64()) {
        bail!("--fps {s}: must be between 8 and 60");
    }
    Ok(r)
}

pub fn run(cmd: MediaCommand) -> Result<()> {
    match cmd {
        MediaCommand::Probe { file, json } => {
            let info = kino_media::probe(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.to_text());
            }
            Ok(())
        }
        MediaCommand::Mux(args) => mux(args),
        MediaCommand::Thumbnail { file, output, at } => {
            kino_media::check_output_path(&output, &[&file])?;
            let clip = kino_media::read_mp4(&file)?;
            let webp = kino_media::thumbnail_webp(&clip.video, at)?;
            kino_media::write_atomically(&output, &webp)?;
            eprintln!("wrote {} ({} bytes)", output.display(), webp.len());
            Ok(())
        }
        MediaCommand::Spritesheet {
            file,
            output,
            count,
            columns,
            tile_width,
        } => {
            kino_media::check_output_path(&output, &[&file])?;
            let clip = kino_media::read_mp4(&file)?;
            let opts = SpritesheetOptions {
                count,
                columns,
                tile_width,
                ..Default::default()
            };
            let jpeg = kino_media::spritesheet_jpeg(&clip.video, &opts)?;
            kino_media::write_atomically(&output, &jpeg)?;
            eprintln!("wrote {} ({} bytes)", output.display(), jpeg.len());
            Ok(())
        }
    }
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading frames folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "png" | "jpg" | "jpeg" | "webp"
                )
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no .png, .jpg or .webp frames found", dir.display());
    }
    Ok(files)
}

fn mux(args: MuxArgs) -> Result<()> {
    let fps = parse_fps(&args.fps)?;
    let opts = args.quality.options()?;
    let files = image_files(&args.frames)?;
    let inputs: Vec<&Path> = files
        .iter()
        .map(PathBuf::as_path)
        .chain(args.audio.as_deref())
        .collect();
    kino_media::check_output_path(&args.output, &inputs)?;
    let key = crate::keys::load_or_init_provenance(&args.data.resolve())?;
    let bar = progress::bar("reading", files.len() as u64);
    let mut video: Option<VideoFrames> = None;
    for file in &files {
        let img = kino_media::read_image(file)?;
        let v = match &mut video {
            Some(v) => v,
            None => {
                let (w, h) = img.dimensions();
                if w % 2 != 0 || h % 2 != 0 {
                    bail!(
                        "{}: frames are {w}x{h}; H.264 needs an even width and height",
                        file.display()
                    );
                }
                video.insert(VideoFrames::new(w, h, fps, PixelFormat::Rgb8)?)
            }
        };
        if img.dimensions() != (v.width(), v.height()) {
            bail!(
                "{}: {}x{} differs from the first frame's {}x{}",
                file.display(),
                img.width(),
                img.height(),
                v.width(),
                v.height()
            );
        }
        v.push(img.as_raw())?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let video = video.context("no frames")?;
    let audio: Option<AudioBuffer> = args
        .audio
        .as_deref()
        .map(kino_media::read_wav)
        .transpose()?;
    let bar = progress::bar("encoding", video.len() as u64);
    let (bytes, summary) =
        kino_media::encode_mp4_with_progress(&video, audio.as_ref(), &opts, &mut |done, _| {
            bar.set_position(done as u64)
        })?;
    bar.finish_and_clear();
    let credentials = |audio_ingredient| {
        mux_credentials(
            &args.frames,
            files.len(),
            args.audio.as_deref(),
            audio_ingredient,
            &args.output,
        )
    };
    let signed = match sign_mp4_bytes(&key, &credentials(true)?, &bytes) {
        Ok(signed) => signed,
        // A WAV the C2PA library cannot take as an ingredient still gets a signed clip.
        Err(e) if args.audio.is_some() => {
            eprintln!("note: the sound track could not be recorded as an ingredient ({e}); signing without it");
            sign_mp4_bytes(&key, &credentials(false)?, &bytes)
                .with_context(|| format!("signing {}", args.output.display()))?
        }
        Err(e) => return Err(e).with_context(|| format!("signing {}", args.output.display())),
    };
    kino_media::write_atomically(&args.output, &signed)?;
    eprintln!(
        "wrote {}: {}x{} {} frames at {} fps, {:.2} s, {}{} bytes",
        args.output.display(),
        summary.width,
        summary.height,
        summary.frames,
        fps,
        summary.duration_s,
        summary
            .audio_sample_rate
            .map(|r| format!("audio {r} Hz, "))
            .unwrap_or_default(),
        signed.len()
    );
    eprintln!("signed (C2PA): assembled by kino media mux (composite); no watermark");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(parse_bitrate("2M").unwrap(), 2_000_000);
        assert_eq!(parse_bitrate("800k").unwrap(), 800_000);
        assert!(parse_bitrate("fast").is_err());
        assert!(parse_bitrate("0").is_err());
        assert_eq!(
            parse_fps("24000/1001").unwrap(),
            Rational::new(24000, 1001).unwrap()
        );
        assert_eq!(
            parse_fps("29.97").unwrap(),
            Rational::new(30000, 1001).unwrap()
        );
        assert!(parse_fps("120").is_err());
        assert!(parse_fps("abc").is_err());
    }
}
