//! An invisible, keyed video watermark that carries a 48-bit [`Payload`].
//!
//! **Scheme.** A secret [`WatermarkKey`] picks a 128x128-pixel tile whose spectrum lives in a
//! ring of low/mid spatial frequencies (5..25 cycles per tile, 0.039..0.195 cycles per
//! pixel, both axes left out). 22% of the ring's coefficients carry a fixed keyed
//! *sync* pattern (unit magnitude, random phase); the rest carry the payload: 48 bits + a
//! CRC-16, convolutionally coded (K = 7, rate 1/2) to 140 bits, each spread over keyed
//! real/imaginary parts of coefficients with keyed signs. The tile is repeated over the
//! whole frame (anchored at the top-left corner) and added to the luma of **every** frame,
//! scaled by a texture mask so flat areas get less and busy areas more.
//!
//! **Detection** sums the luma of all frames (the mark is the same in each, the content is
//! not), removes the local mean, divides by the local RMS (so edges and busy texture do not
//! drown what is left of the mark elsewhere), and for each candidate scale resamples the sum
//! back to the embedding resolution and folds it modulo the tile. A crop only circularly
//! shifts the folded tile, so a phase-only circular cross-correlation with the sync spectrum
//! (one 128x128 FFT) finds the shift; its peak, normalised to N(0,1) under "no watermark",
//! is the detection score. Candidates over [`DetectOptions::threshold`] have their payload
//! decoded; "found" needs the decoded CRC-16 to match. The threshold is set so that
//! `128 * 128 * scales * P(N(0,1) > threshold) * 2 * 2^-16` (Bonferroni over the
//! hypotheses, times the chance a random decode passes the CRC, with a factor of 2 for what
//! a fixed key's content-dependent pass rate was measured to exceed 2^-16 by; see
//! [`decode_pass_allowance`]) equals [`DetectOptions::false_positive_rate`] (1e-6 by
//! default).
//!
//! **Strength.** [`embed`] marks at a fixed [`EmbedOptions::strength`]; [`embed_adaptive`]
//! (closed loop) tries 3.0, 3.5, 4.0, 4.5 on the original frames and keeps the weakest whose
//! mark survives a simulated delivery (kino's default quality) and re-encode at 1/4 of that
//! bitrate.
//!
//! See `docs/provenance.md` for the parameters and the measured robustness.

pub mod adaptive;
pub mod attack;
mod claim;
mod pattern;
mod payload;
mod signal;

pub use adaptive::{embed_adaptive, AdaptiveOptions, AdaptiveReport, AdaptiveTry};
pub use claim::{
    check_claim, check_claim_luma_sum, identify, identify_luma_sum, ClaimCheck, Identification,
    CLAIM_CODED_BITS, CLAIM_HYPOTHESES, GENERATOR_CODED_BITS,
};
pub use pattern::{WatermarkKey, BAND_HI, BAND_LO, SYNC_SHARE, TILE};
pub use payload::{crc16, Payload, CODED_BITS, CRC_BITS, MESSAGE_BITS, PAYLOAD_BITS};
pub use signal::{gaussian_tail, psnr};

use kino_media::{PixelFormat, VideoFrames};
use pattern::{amplitude, fft2, Freq, Pattern};
use rustfft::num_complex::Complex;
use serde::{Deserialize, Serialize};

/// What can go wrong embedding or detecting.
#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error(transparent)]
    Media(#[from] kino_media::MediaError),
}

pub type Result<T, E = WatermarkError> = std::result::Result<T, E>;

/// How strongly to embed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmbedOptions {
    /// RMS of the luma change in 8-bit levels before masking (3.0 gives about 38.5 dB PSNR).
    pub strength: f32,
    /// Scale the mark with local texture (less in flat areas, more in busy ones), keeping
    /// the frame's mean squared change the same.
    pub adaptive: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            strength: 3.0,
            adaptive: true,
        }
    }
}

/// What [`embed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmbedReport {
    pub frames: usize,
    /// PSNR of the marked frames against the originals (RGB, 8-bit peak), in dB.
    pub psnr_db: f64,
}

/// How hard to look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectOptions {
    /// Candidate ratios of the clip's size to the size it was marked at.
    pub scales: Vec<f32>,
    /// Per-clip false-positive rate the detection threshold is set for.
    pub false_positive_rate: f64,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            scales: vec![1.0, 0.9, 0.8, 0.75, 2.0 / 3.0, 0.6, 0.5, 1.25, 1.5, 2.0],
            false_positive_rate: 1e-6,
        }
    }
}

impl DetectOptions {
    /// Number of (scale, shift) hypotheses the score is maximised over.
    pub fn hypotheses(&self) -> f64 {
        (self.scales.len() * TILE * TILE) as f64
    }

    /// The sync score a candidate must reach to have its payload decoded:
    /// `hypotheses * P(N(0,1) > threshold) * decode_pass_allowance() = false_positive_rate`.
    ///
    /// A clip is only reported found when, in addition, the decoded payload's CRC matches.
    /// At most one decode is made per hypothesis over the threshold, and a decode of an
    /// unmarked clip passes the CRC with probability `2^-CRC_BITS` on average over keys,
    /// independently of the sync score (disjoint coefficients); for a fixed key the rate
    /// depends on the content, and [`decode_pass_allowance`] allows twice that. So the
    /// per-clip false-positive rate is about `hypotheses * P(score > threshold) *
    /// decode_pass_allowance()`.
    pub fn threshold(&self) -> f64 {
        self.threshold_for_pass_rate(decode_pass_allowance())
    }

    /// The threshold for a per-decode CRC pass probability `pass_rate`.
    fn threshold_for_pass_rate(&self, pass_rate: f64) -> f64 {
        let target = self.false_positive_rate / (self.hypotheses() * pass_rate);
        let (mut lo, mut hi) = (0.0f64, 40.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if gaussian_tail(mid) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

/// Chance that a random message passes the CRC: `2^-CRC_BITS`.
pub fn crc_pass_probability() -> f64 {
    0.5f64.powi(CRC_BITS as i32)
}

/// What [`DetectOptions::threshold`] allows for the chance that a decode of an unmarked
/// clip passes the CRC: twice [`crc_pass_probability`].
///
/// Without a watermark the chips' keyed signs make the decoded message uniform on average
/// over keys, and so the pass rate `2^-CRC_BITS`: ten test keys on the same 15,000 unmarked
/// windows passed 1.10x as often as that. But a fixed key's rate can be moved by the
/// content, and the production key (`stamp::kino_watermark_key`, the same for every
/// clip) passed 1.64x as often over four independent streams of 15,000 windows (45
/// against 27.4; `examples/watermark_fpr` with `FPR_KEY`, docs/provenance.md), so the
/// threshold is set for twice the nominal rate.
pub fn decode_pass_allowance() -> f64 {
    2.0 * crc_pass_probability()
}

/// Distinct sync-correlation peaks per scale whose payload is decoded (best first) when
/// they pass the threshold: at low bitrates the true shift is not always the highest peak.
pub const PEAKS_PER_SCALE: usize = 3;

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The score passed the threshold and the payload's CRC matched.
    pub found: bool,
    /// The payload, only when `found`.
    pub payload: Option<Payload>,
    /// Peak sync correlation, ~N(0,1) per hypothesis without a watermark.
    pub score: f64,
    /// The score `found` needs (see [`DetectOptions::threshold`]).
    pub threshold: f64,
    /// Upper bound on the chance that an unmarked clip gives this result: when `found`,
    /// `hypotheses * P(N(0,1) > score) * decode_pass_allowance()` (the score and a matching
    /// CRC);
    /// otherwise the Bonferroni bound `hypotheses * P(N(0,1) > score)` for the score alone.
    pub p_value: f64,
    /// Scale of the best hypothesis.
    pub scale: f32,
    /// Circular shift of the tile (pixels at the marking resolution).
    pub shift: (f32, f32),
    /// Coded bits (of [`CODED_BITS`]) whose hard decision disagreed with the decoded
    /// payload: the channel's bit errors that the code corrected.
    pub coded_bit_errors: Option<usize>,
    /// Frames looked at.
    pub frames: usize,
    /// Payload decodes attempted (candidates over the threshold); each is a `2^-CRC_BITS`
    /// chance of a false match on an unmarked clip.
    #[serde(default)]
    pub decodes: usize,
}

/// Adds the watermark for `payload` to every frame of `frames` (RGB8 or YUV 4:2:0), in place.
pub fn embed(
    frames: &mut VideoFrames,
    payload: &Payload,
    key: &WatermarkKey,
    opts: &EmbedOptions,
) -> Result<EmbedReport> {
    if !(opts.strength.is_finite() && opts.strength > 0.0 && opts.strength <= 32.0) {
        return Err(WatermarkError::Invalid {
            what: "strength",
            why: format!("{} is outside (0, 32]", opts.strength),
        });
    }
    let pattern = Pattern::new(key);
    let coded = payload.coded_bits();
    let tile = pattern.tile(&coded);
    Ok(embed_tile(frames, &tile, opts))
}

/// Adds the unit-RMS TILE x TILE `tile`, repeated from the top-left corner, to the luma of
/// every frame, scaled by `opts.strength` and (if `opts.adaptive`) the texture mask.
pub(crate) fn embed_tile(
    frames: &mut VideoFrames,
    tile: &[f32],
    opts: &EmbedOptions,
) -> EmbedReport {
    embed_tile_masked(frames, tile, opts, None)
}

/// The per-pixel scale of frame `frame`'s mark before `strength`: the texture mask if
/// `adaptive`, else ones.
pub(crate) fn frame_mask(
    frame: &[u8],
    w: usize,
    h: usize,
    format: PixelFormat,
    adaptive: bool,
) -> Vec<f32> {
    if adaptive {
        signal::texture_mask(&signal::luma_of(frame, w, h, format), w, h)
    } else {
        vec![1.0; w * h]
    }
}

/// [`embed_tile`] with each frame's [`frame_mask`] given (`masks[i]`, computed on the
/// unmarked frame) instead of computed; the result is the same.
pub(crate) fn embed_tile_masked(
    frames: &mut VideoFrames,
    tile: &[f32],
    opts: &EmbedOptions,
    masks: Option<&[Vec<f32>]>,
) -> EmbedReport {
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    let format = frames.format();
    let mut sq_err = 0.0f64;
    let mut samples = 0usize;
    let n = frames.len();
    for i in 0..n {
        let frame = frames.frame_mut(i).expect("frame index in range");
        let computed;
        let mask: &[f32] = match masks {
            Some(m) => &m[i],
            None => {
                computed = frame_mask(frame, w, h, format, opts.adaptive);
                &computed
            }
        };
        for y in 0..h {
            let trow = &tile[(y % TILE) * TILE..(y % TILE + 1) * TILE];
            for x in 0..w {
                let d = opts.strength * mask[y * w + x] * trow[x % TILE];
                let p = y * w + x;
                match format {
                    PixelFormat::Rgb8 => {
                        for c in 0..3 {
                            let old = frame[p * 3 + c];
                            let new = (f32::from(old) + d).round().clamp(0.0, 255.0) as u8;
                            frame[p * 3 + c] = new;
                            let e = f64::from(new) - f64::from(old);
                            sq_err += e * e;
                        }
                        samples += 3;
                    }
                    PixelFormat::Yuv420p => {
                        let old = frame[p];
                        let new = (f32::from(old) + d * (219.0 / 255.0))
                            .round()
                            .clamp(16.0, 235.0) as u8;
                        frame[p] = new;
                        let e = (f64::from(new) - f64::from(old)) * (255.0 / 219.0);
                        sq_err += e * e;
                        samples += 1;
                    }
                }
            }
        }
    }
    let mse = sq_err / samples.max(1) as f64;
    EmbedReport {
        frames: n,
        psnr_db: signal::psnr_from_mse(mse),
    }
}

impl Detection {
    /// Nothing found (no frames, or no candidate to score).
    fn absent(threshold: f64, frames: usize) -> Self {
        Detection {
            found: false,
            payload: None,
            score: 0.0,
            threshold,
            p_value: 1.0,
            scale: 1.0,
            shift: (0.0, 0.0),
            coded_bit_errors: None,
            frames,
            decodes: 0,
        }
    }
}

/// Looks for the watermark `key` makes in `frames` (any size, any number of frames).
pub fn detect(frames: &VideoFrames, key: &WatermarkKey, opts: &DetectOptions) -> Result<Detection> {
    let threshold = opts.threshold();
    let none = |frames| Detection::absent(threshold, frames);
    if frames.is_empty() || opts.scales.is_empty() {
        return Ok(none(frames.len()));
    }
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    detect_luma_sum(&luma_sum(frames), w, h, frames.len(), key, opts)
}

/// The per-pixel sum of the luma of every frame (the mark is the same in each frame, the
/// content is not).
pub(crate) fn luma_sum(frames: &VideoFrames) -> Vec<f32> {
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    let mut sum = vec![0.0f32; w * h];
    for frame in frames.iter() {
        let luma = signal::luma_of(frame, w, h, frames.format());
        for (s, l) in sum.iter_mut().zip(&luma) {
            *s += l;
        }
    }
    sum
}

/// [`detect`] on the per-pixel sum of the luma of `n_frames` frames.
pub fn detect_luma_sum(
    sum: &[f32],
    w: usize,
    h: usize,
    n_frames: usize,
    key: &WatermarkKey,
    opts: &DetectOptions,
) -> Result<Detection> {
    if sum.len() != w * h {
        return Err(WatermarkError::Invalid {
            what: "luma",
            why: format!("{} samples for {w}x{h}", sum.len()),
        });
    }
    let threshold = opts.threshold();
    let pattern = Pattern::new(key);
    let spectra = scale_spectra(sum, w, h, opts);
    let candidates = sync_candidates(&pattern, &spectra, PEAKS_PER_SCALE);
    let hyp = opts.hypotheses();
    let Some(top) = candidates.first() else {
        return Ok(Detection::absent(threshold, n_frames));
    };
    let mut result = Detection {
        found: false,
        payload: None,
        score: top.score,
        threshold,
        p_value: (hyp * gaussian_tail(top.score)).min(1.0),
        scale: top.scale,
        shift: (top.shift.0 as f32, top.shift.1 as f32),
        coded_bit_errors: None,
        frames: n_frames,
        decodes: 0,
    };
    for c in candidates.iter().take_while(|c| c.score >= threshold) {
        result.decodes += 1;
        let spec = &spectra[c.spectrum].1;
        let shift = refine_shift(&pattern, spec, c.shift);
        let (bits, errors) = decode_message(&pattern, spec, shift);
        if let Some(p) = Payload::from_message_bits(&bits) {
            result = Detection {
                found: true,
                payload: Some(p),
                score: c.score,
                threshold,
                p_value: (hyp * gaussian_tail(c.score) * decode_pass_allowance()).min(1.0),
                scale: c.scale,
                shift,
                coded_bit_errors: Some(errors),
                frames: n_frames,
                decodes: result.decodes,
            };
            break;
        }
    }
    Ok(result)
}

/// The folded, whitened 128x128 spectrum of the luma sum `sum` at each candidate scale of
/// `opts` (scale, spectrum); scales that give a frame under 16 or over 8192 px are skipped.
pub(crate) fn scale_spectra(
    sum: &[f32],
    w: usize,
    h: usize,
    opts: &DetectOptions,
) -> Vec<(f32, Vec<Complex<f32>>)> {
    let residual = signal::high_pass(sum, w, h, 12);
    let residual = signal::normalize_local_energy(&residual, w, h);
    let mut spectra = Vec::new();
    for &scale in &opts.scales {
        if !(scale.is_finite() && scale > 0.0) {
            continue;
        }
        let (wo, ho) = (
            (w as f32 / scale).round() as usize,
            (h as f32 / scale).round() as usize,
        );
        if wo < 16 || ho < 16 || wo > 8192 || ho > 8192 {
            continue;
        }
        let img = signal::resample(&residual, w, h, wo, ho);
        let mut spec = signal::fold(&img, wo, ho);
        fft2(&mut spec, false);
        signal::whiten(&mut spec);
        spectra.push((scale, spec));
    }
    spectra
}

/// A (scale, shift) hypothesis and its sync score.
pub(crate) struct Candidate {
    /// Sync correlation normalised to N(0, 1) under "no watermark".
    pub score: f64,
    pub scale: f32,
    pub shift: (usize, usize),
    /// Index into the spectra it was found in.
    pub spectrum: usize,
}

/// The `per_scale` best separated sync-correlation peaks of each spectrum, best first.
pub(crate) fn sync_candidates(
    pattern: &Pattern,
    spectra: &[(f32, Vec<Complex<f32>>)],
    per_scale: usize,
) -> Vec<Candidate> {
    // Under "no watermark" the whitened phases are uniform, so sum_k a_k cos(phase_k) has
    // variance sum_k a_k^2 / 2; the inverse FFT below returns twice that sum.
    let norm = (2.0
        * pattern
            .sync
            .iter()
            .map(|&(f, _)| f64::from(amplitude(f).powi(2)))
            .sum::<f64>())
    .sqrt();
    let mut candidates = Vec::new();
    for (i, (scale, spec)) in spectra.iter().enumerate() {
        let mut corr = vec![Complex::new(0.0f32, 0.0); TILE * TILE];
        for &(f, s) in &pattern.sync {
            let g = spec[f.index()] * s.conj() * amplitude(f);
            corr[f.index()] = g;
            corr[f.conj_index()] = g.conj();
        }
        fft2(&mut corr, true);
        let values: Vec<f32> = corr.iter().map(|c| c.re).collect();
        for (best, value) in top_peaks(&values, per_scale) {
            candidates.push(Candidate {
                score: f64::from(value) / norm,
                scale: *scale,
                shift: (best % TILE, best / TILE),
                spectrum: i,
            });
        }
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates
}

/// The `k` highest values of the circular TILE x TILE correlation surface that are local
/// maxima at least 3 px (circularly) apart, best first.
fn top_peaks(values: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let by_value = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]);
    // Peaks are sharp: the best few hundred values hold the top few separated peaks.
    let head = 512.min(order.len());
    if head < order.len() {
        order.select_nth_unstable_by(head - 1, by_value);
        order[..head].sort_unstable_by(by_value);
        let picked = separated_peaks(values, &order[..head], k);
        if picked.len() == k {
            return picked;
        }
    }
    order.sort_unstable_by(by_value);
    separated_peaks(values, &order, k)
}

fn separated_peaks(values: &[f32], order: &[usize], k: usize) -> Vec<(usize, f32)> {
    let dist = |a: usize, b: usize| {
        let d = |p: usize, q: usize| {
            let t = p.abs_diff(q);
            t.min(TILE - t)
        };
        d(a % TILE, b % TILE).max(d(a / TILE, b / TILE))
    };
    let mut out: Vec<(usize, f32)> = Vec::with_capacity(k);
    for &i in order {
        if out.len() == k {
            break;
        }
        if out.iter().all(|&(j, _)| dist(i, j) >= 3) {
            out.push((i, values[i]));
        }
    }
    out
}

fn phasor(f: Freq, shift: (f32, f32)) -> Complex<f32> {
    let a = std::f32::consts::TAU * (f.u as f32 * shift.0 + f.v as f32 * shift.1) / TILE as f32;
    Complex::from_polar(1.0, a)
}

/// Sync correlation at a fractional shift.
fn sync_corr(pattern: &Pattern, spec: &[Complex<f32>], shift: (f32, f32)) -> f32 {
    pattern
        .sync
        .iter()
        .map(|&(f, s)| (spec[f.index()] * s.conj() * phasor(f, shift)).re * amplitude(f))
        .sum()
}

/// The integer peak refined to 1/8 pixel.
pub(crate) fn refine_shift(
    pattern: &Pattern,
    spec: &[Complex<f32>],
    shift: (usize, usize),
) -> (f32, f32) {
    let mut best = (shift.0 as f32, shift.1 as f32);
    let mut best_v = sync_corr(pattern, spec, best);
    let base = best;
    for dy in -4..=4 {
        for dx in -4..=4 {
            let s = (base.0 + dx as f32 / 8.0, base.1 + dy as f32 / 8.0);
            let v = sync_corr(pattern, spec, s);
            if v > best_v {
                best_v = v;
                best = s;
            }
        }
    }
    best
}

/// The soft value of each coded bit at `shift`: the sum of its chips, each read off the
/// whitened spectrum with its keyed sign. `> 0` favours the coded bit being 0.
pub(crate) fn soft_bits(pattern: &Pattern, spec: &[Complex<f32>], shift: (f32, f32)) -> Vec<f32> {
    let mut soft = vec![0.0f32; CODED_BITS];
    for m in &pattern.msg {
        let a = spec[m.f.index()] * phasor(m.f, shift) * amplitude(m.f);
        soft[m.re.0] += m.re.1 * a.re;
        soft[m.im.0] += m.im.1 * a.im;
    }
    soft
}

/// Soft-decodes the coded payload at `shift`; returns the message bits and the number of
/// coded bits whose hard decision disagrees with the decoded message.
fn decode_message(pattern: &Pattern, spec: &[Complex<f32>], shift: (f32, f32)) -> (Vec<u8>, usize) {
    let soft = soft_bits(pattern, spec, shift);
    let bits = payload::viterbi_decode(&soft, MESSAGE_BITS);
    let recoded = payload::conv_encode(&bits);
    let errors = recoded
        .iter()
        .zip(&soft)
        .filter(|(&c, &s)| (c == 0) != (s > 0.0))
        .count();
    (bits, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_accounts_for_the_crc() {
        let opts = DetectOptions::default();
        let t = opts.threshold();
        let rate = opts.hypotheses() * gaussian_tail(t) * decode_pass_allowance();
        assert!(
            (rate / opts.false_positive_rate - 1.0).abs() < 1e-3,
            "{t} {rate}"
        );
        // Twice the nominal CRC rate: the 2^-16 threshold (4.94) is below this one.
        let nominal = DetectOptions::default().threshold_for_pass_rate(crc_pass_probability());
        assert!(
            t > nominal + 0.1 && (nominal - 4.94).abs() < 0.01,
            "{t} {nominal}"
        );
        // Without the CRC factor the same rate would need a much higher score.
        assert!(opts.hypotheses() * gaussian_tail(t) > 1e4 * opts.false_positive_rate);
        assert!(t > 4.5 && t < 5.5, "{t}");
    }

    #[test]
    fn peaks_are_separated_and_sorted() {
        let mut v = vec![0.0f32; TILE * TILE];
        v[5 * TILE + 5] = 10.0;
        v[5 * TILE + 6] = 9.0; // a shoulder of the first peak
        v[127 * TILE + 4] = 8.0; // 6 rows away circularly
        v[40 * TILE + 90] = 7.0;
        v[41 * TILE + 127] = 6.0;
        let p = top_peaks(&v, 3);
        let idx: Vec<usize> = p.iter().map(|&(i, _)| i).collect();
        assert_eq!(idx, vec![5 * TILE + 5, 127 * TILE + 4, 40 * TILE + 90]);
        assert_eq!(top_peaks(&v, 1).len(), 1);
    }
}
