//! Closed-loop (adaptive) strength: mark a clip as weakly as it can be while the mark still
//! survives a simulated delivery and a hard re-encode.
//!
//! [`embed_adaptive`] marks a copy of the **original** frames at each strength of
//! [`AdaptiveOptions::strengths`] in turn (never a mark on top of a mark), delivers it the
//! way kino writes a clip (`kino_media::encode_mp4` at [`AdaptiveOptions::delivery`], kino's
//! default [`VideoQuality::Auto`] unless told otherwise, then decoded), re-encodes the delivered clip at `1 / bitrate_divisor` of its
//! bitrate (the "1/4 bitrate" attack of the robustness run), decodes it and runs [`detect`].
//! The first strength whose payload comes back exactly *with a margin*
//! ([`AdaptiveOptions::passes`]) is kept; if none does, the last (strongest) one is kept and
//! the report says so. Clips that compress well (flat cartoon scenes whose quarter-bitrate
//! re-encode keeps very little of the mark) get a stronger mark; busy clips keep the default.
//!
//! Everything here is deterministic for a given encoder build: the same frames, payload, key
//! and options give the same strength and the same marked frames.

use super::pattern::Pattern;
use super::{
    attack, detect, embed_tile, embed_tile_masked, frame_mask, DetectOptions, Detection,
    EmbedOptions, EmbedReport, Payload, Result, WatermarkError, WatermarkKey,
};
use kino_media::{VideoFrames, VideoQuality};
use serde::{Deserialize, Serialize};

/// Most memory the per-frame texture masks may take to be computed once for all tries.
const MASK_CACHE_BYTES: usize = 128 << 20;

/// How [`embed_adaptive`] searches for a strength.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveOptions {
    /// Strengths to try, weakest first (RMS luma levels, as [`EmbedOptions::strength`]). The
    /// last is the cap: 4.5 keeps the PSNR at about 35 dB (3.0: ~38.5 dB, 4.0: ~36.0 dB).
    pub strengths: Vec<f32>,
    /// The texture mask ([`EmbedOptions::adaptive`]).
    pub texture_mask: bool,
    /// How the clip will be delivered (kino's `encode_mp4` default, [`VideoQuality::Auto`]:
    /// CRF 18 up to 256x256 pixels, CRF 23 above).
    pub delivery: VideoQuality,
    /// The simulated attack re-encodes the delivered clip at its bitrate divided by this.
    pub bitrate_divisor: u32,
    /// The attacked clip's score must reach the detection threshold plus this.
    pub score_margin: f64,
    /// ... and at most this many coded bits (of [`super::CODED_BITS`]) may be wrong.
    pub max_coded_bit_errors: usize,
    /// The detector the check runs (the default one, as `kino verify` runs it).
    pub detect: DetectOptions,
}

impl Default for AdaptiveOptions {
    /// 3.0, 3.5, 4.0, 4.5; the default delivery ([`VideoQuality::Auto`]); 1/4 bitrate; margin 2.0 over the threshold (the
    /// score then nearly reaches the score-only 1e-6 bound, 6.78, without the CRC's help);
    /// at most 10 of 140 coded bits wrong (7%; the K = 7 code starts to fail at ~12%, and
    /// clips that passed with 13-14 errors were lost at 1/5 bitrate; see docs/provenance.md).
    fn default() -> Self {
        AdaptiveOptions {
            strengths: vec![3.0, 3.5, 4.0, 4.5],
            texture_mask: true,
            delivery: VideoQuality::default(),
            bitrate_divisor: 4,
            score_margin: 2.0,
            max_coded_bit_errors: 10,
            detect: DetectOptions::default(),
        }
    }
}

impl AdaptiveOptions {
    /// Whether a detection on the attacked clip counts as surviving: the exact payload, a
    /// score at least `score_margin` over the threshold and at most `max_coded_bit_errors`
    /// corrected coded bits.
    pub fn passes(&self, d: &Detection, payload: &Payload) -> bool {
        d.found
            && d.payload.as_ref() == Some(payload)
            && d.score >= d.threshold + self.score_margin
            && d.coded_bit_errors
                .is_some_and(|e| e <= self.max_coded_bit_errors)
    }
}

/// One strength [`embed_adaptive`] tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveTry {
    pub strength: f32,
    /// PSNR of this try against the original frames.
    pub psnr_db: f64,
    /// Video bitrate of the simulated delivery (bit/s).
    pub delivered_bps: u32,
    /// Video bitrate of the simulated attack (bit/s).
    pub attacked_bps: u32,
    /// Detection on the attacked clip.
    pub detection: Detection,
    /// [`AdaptiveOptions::passes`] on it.
    pub passed: bool,
}

/// What [`embed_adaptive`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveReport {
    /// The strength the frames were marked with.
    pub strength: f32,
    /// Whether that strength passed the simulated attack (false: none did, the cap was kept).
    pub passed: bool,
    /// The kept embedding (its PSNR against the original frames).
    pub embed: EmbedReport,
    /// Simulated detection score of the kept strength after the attack.
    pub score: f64,
    /// Every strength tried, in order (the kept one last).
    pub tries: Vec<AdaptiveTry>,
}

/// Marks `frames` (RGB8 or YUV 4:2:0, in place) for `payload` at the weakest strength of
/// `opts.strengths` that survives the simulated delivery + re-encode (see the module docs).
///
/// Frames must have an even width and height (H.264). An empty clip is marked (a no-op) at
/// the first strength without a simulation.
pub fn embed_adaptive(
    frames: &mut VideoFrames,
    payload: &Payload,
    key: &WatermarkKey,
    opts: &AdaptiveOptions,
) -> Result<AdaptiveReport> {
    if opts.strengths.is_empty() {
        return Err(WatermarkError::Invalid {
            what: "strengths",
            why: "no strength to try".into(),
        });
    }
    if let Some(s) = opts
        .strengths
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0 && **s <= 32.0))
    {
        return Err(WatermarkError::Invalid {
            what: "strength",
            why: format!("{s} is outside (0, 32]"),
        });
    }
    if opts.bitrate_divisor == 0 {
        return Err(WatermarkError::Invalid {
            what: "bitrate divisor",
            why: "0".into(),
        });
    }
    let embed_opts = |strength: f32| EmbedOptions {
        strength,
        adaptive: opts.texture_mask,
    };
    let pattern = Pattern::new(key);
    let tile = pattern.tile(&payload.coded_bits());
    if frames.is_empty() {
        let strength = opts.strengths[0];
        let embed = embed_tile(frames, &tile, &embed_opts(strength));
        return Ok(AdaptiveReport {
            strength,
            passed: false,
            embed,
            score: 0.0,
            tries: Vec::new(),
        });
    }
    // The texture masks depend only on the original frames: compute them once for all
    // tries (unless they would take too much memory; then each try recomputes them).
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    let masks: Option<Vec<Vec<f32>>> =
        (opts.strengths.len() > 1 && frames.len() * w * h * 4 <= MASK_CACHE_BYTES).then(|| {
            frames
                .iter()
                .map(|f| frame_mask(f, w, h, frames.format(), opts.texture_mask))
                .collect()
        });
    let mut tries = Vec::with_capacity(opts.strengths.len());
    let mut kept: Option<(VideoFrames, EmbedReport)> = None;
    for &strength in &opts.strengths {
        // Always from the original frames: each try is one mark, never a mark on a mark.
        let mut marked = frames.clone();
        let embed = embed_tile_masked(&mut marked, &tile, &embed_opts(strength), masks.as_deref());
        let (delivered, delivered_bps) = attack::reencode(&marked, opts.delivery)?;
        let (attacked, attacked_bps) = attack::reencode(
            &delivered,
            VideoQuality::Bitrate(delivered_bps / opts.bitrate_divisor),
        )?;
        let detection = detect(&attacked, key, &opts.detect)?;
        let passed = opts.passes(&detection, payload);
        tries.push(AdaptiveTry {
            strength,
            psnr_db: embed.psnr_db,
            delivered_bps,
            attacked_bps,
            detection,
            passed,
        });
        kept = Some((marked, embed));
        if passed {
            break;
        }
    }
    let (marked, embed) = kept.expect("at least one strength was tried");
    *frames = marked;
    let last = tries.last().expect("at least one try");
    Ok(AdaptiveReport {
        strength: last.strength,
        passed: last.passed,
        embed,
        score: last.detection.score,
        tries,
    })
}
