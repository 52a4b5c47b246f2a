//! Checking a *claimed* payload: "is this clip's mark the one clip X was given?"
//!
//! [`detect`](super::detect) must read 48 unknown bits out of the mark, which needs more
//! surviving mark than a small, heavily re-encoded clip may keep (see docs/provenance.md,
//! "Why the 1/4-bitrate losses are a payload-capacity problem"). Testing one known payload
//! needs less: a yes/no answer, not 48 bits.
//!
//! **Where to look.** Two (scale, shift) hypotheses: the best sync peak over all scales of
//! [`DetectOptions::scales`] (refined to 1/8 px), and the clip's own geometry (scale 1,
//! shift 0, refined within half a pixel), which is where a re-encode that neither crops nor
//! scales leaves the mark even when its sync is too weak to stand out of the 163,840
//! hypotheses [`detect`](super::detect) searches. Both are chosen from the sync
//! coefficients only, which are disjoint from the payload's.
//!
//! **The statistic.** At each hypothesis, the soft value `x_i` of each coded bit that
//! depends on the clip hash (coded bits 32..140: the first 32 depend on the generator id
//! alone, which every kino clip shares) is read off the spectrum, and with `c_i = +1` where
//! the claim's coded bit is 0 and `-1` where it is 1:
//!
//! `Z = sum_i c_i x_i / sqrt(sum_i x_i^2)`.
//!
//! **Unmarked clips** (or another key's mark): the whitened phases are independent and
//! uniform, so each `x_i` is symmetric and independent of the others and of the sync-chosen
//! hypothesis; the signs of the `x_i` are then fair coins independent of their sizes and
//! Hoeffding's inequality gives `P(Z >= t) <= exp(-t^2 / 2)` for each hypothesis, whatever
//! the content. The threshold is `t = sqrt(2 ln(2 / false_positive_rate))` (two
//! hypotheses): 5.39 at 1e-6.
//!
//! **Another clip's mark** (the same generator, another clip id): with a strong mark,
//! `x_i ~ c'_i s_i`, so `Z ~ (n - 2 d) / sqrt(n)` where `d` is the number of the `n = 108`
//! tested coded bits in which the two codewords differ. The clip hash is SHA-256 of the clip
//! id, so `d` is that of a random other hash; `Z >= 5.39` needs `d <= 26`. The rate at which
//! this happens is measured (not bounded) by `examples/watermark_fpr` over random hashes
//! (see docs/provenance.md).
//!
//! So a confirmed claim says: this clip carries the kino mark for this payload, with a false
//! confirmation rate of at most 1e-6 on unmarked video; it does not read the payload, and a
//! clip whose payload [`detect`](super::detect) can read should be judged by that.

use super::pattern::Pattern;
use super::{
    luma_sum, refine_shift, scale_spectra, soft_bits, sync_candidates, DetectOptions, Payload,
    Result, WatermarkError, WatermarkKey, CODED_BITS,
};
use kino_media::VideoFrames;
use serde::{Deserialize, Serialize};

/// Coded bits that depend on the generator id alone (2 per message bit of the 16-bit
/// generator): left out of the claim statistic, since every clip of a generator shares them.
pub const GENERATOR_CODED_BITS: usize = 32;

/// Coded bits the claim statistic tests.
pub const CLAIM_CODED_BITS: usize = CODED_BITS - GENERATOR_CODED_BITS;

/// Hypotheses a claim is tested at (the best sync peak and the untouched geometry).
pub const CLAIM_HYPOTHESES: usize = 2;

/// The outcome of [`check_claim`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimCheck {
    /// The claim's statistic reached the threshold.
    pub confirmed: bool,
    /// The payload tested.
    pub claim: Payload,
    /// The statistic `Z` at the better hypothesis (see the module docs).
    pub score: f64,
    /// `sqrt(2 ln(hypotheses / false_positive_rate))`.
    pub threshold: f64,
    /// `hypotheses * exp(-score^2 / 2)` (at most 1): the bound on the chance that an
    /// unmarked clip scores this high.
    pub p_value: f64,
    /// Tested coded bits whose sign agrees with the claim, at the better hypothesis (about
    /// half on an unmarked clip).
    pub agreeing_bits: usize,
    /// [`CLAIM_CODED_BITS`].
    pub tested_bits: usize,
    /// Scale and shift of the better hypothesis.
    pub scale: f32,
    pub shift: (f32, f32),
    /// Frames looked at.
    pub frames: usize,
}

impl DetectOptions {
    /// The claim statistic's threshold: [`CLAIM_HYPOTHESES`] `* exp(-t^2 / 2) =
    /// false_positive_rate`.
    pub fn claim_threshold(&self) -> f64 {
        self.identify_threshold(1)
    }
}

/// Tests whether `frames` carry the mark `key` makes for `claim`.
pub fn check_claim(
    frames: &VideoFrames,
    key: &WatermarkKey,
    claim: &Payload,
    opts: &DetectOptions,
) -> Result<ClaimCheck> {
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    check_claim_luma_sum(&luma_sum(frames), w, h, frames.len(), key, claim, opts)
}

/// [`check_claim`] on the per-pixel sum of the luma of `n_frames` frames.
pub fn check_claim_luma_sum(
    sum: &[f32],
    w: usize,
    h: usize,
    n_frames: usize,
    key: &WatermarkKey,
    claim: &Payload,
    opts: &DetectOptions,
) -> Result<ClaimCheck> {
    check_inputs(sum, w, h, opts)?;
    let threshold = opts.claim_threshold();
    let mut result = ClaimCheck {
        confirmed: false,
        claim: *claim,
        score: 0.0,
        threshold,
        p_value: 1.0,
        agreeing_bits: 0,
        tested_bits: CLAIM_CODED_BITS,
        scale: 1.0,
        shift: (0.0, 0.0),
        frames: n_frames,
    };
    if n_frames == 0 {
        return Ok(result);
    }
    let hypotheses = claim_hypotheses(sum, w, h, key, opts);
    if let Some((z, agreeing, hyp)) = best_hypothesis(&hypotheses, &claim.coded_bits()) {
        result.score = z;
        result.confirmed = z >= threshold;
        result.p_value = hoeffding_p_value(CLAIM_HYPOTHESES, z);
        result.agreeing_bits = agreeing;
        result.scale = hyp.scale;
        result.shift = hyp.shift;
    }
    Ok(result)
}

/// The hypothesis at which `coded` (a claim's coded bits) scores highest, with its
/// statistic and agreeing bits (the first of equals); `None` without hypotheses.
fn best_hypothesis<'a>(
    hypotheses: &'a [Hypothesis],
    coded: &[u8],
) -> Option<(f64, usize, &'a Hypothesis)> {
    let mut best: Option<(f64, usize, &Hypothesis)> = None;
    for hyp in hypotheses {
        let (z, agreeing) = claim_statistic(&hyp.soft, coded);
        if best.is_none_or(|b| z > b.0) {
            best = Some((z, agreeing, hyp));
        }
    }
    best
}

/// `hypotheses * exp(-z^2 / 2)`, at most 1.
fn hoeffding_p_value(hypotheses: usize, z: f64) -> f64 {
    (hypotheses as f64 * (-0.5 * z.max(0.0) * z.max(0.0)).exp()).min(1.0)
}

/// One place the claim statistic reads the mark at, and the soft coded bits read there.
struct Hypothesis {
    scale: f32,
    shift: (f32, f32),
    soft: Vec<f32>,
}

/// The (at most [`CLAIM_HYPOTHESES`]) hypotheses of the module docs, chosen from the sync
/// coefficients alone, with their soft bits.
fn claim_hypotheses(
    sum: &[f32],
    w: usize,
    h: usize,
    key: &WatermarkKey,
    opts: &DetectOptions,
) -> Vec<Hypothesis> {
    let pattern = Pattern::new(key);
    // The clip's own geometry first, so that it is spectrum 0 when scale 1 is tried.
    let mut scales = vec![1.0f32];
    scales.extend(opts.scales.iter().copied().filter(|&s| s != 1.0));
    let spectra = scale_spectra(
        sum,
        w,
        h,
        &DetectOptions {
            scales,
            ..opts.clone()
        },
    );
    let mut places: Vec<(f32, usize, (f32, f32))> = Vec::with_capacity(CLAIM_HYPOTHESES);
    if let Some((_, spec)) = spectra.first().filter(|(s, _)| *s == 1.0) {
        // Refined within half a pixel of no shift.
        let mut best = ((0.0f32, 0.0f32), f32::MIN);
        for dy in -4..=4 {
            for dx in -4..=4 {
                let s = (dx as f32 / 8.0, dy as f32 / 8.0);
                let v = super::sync_corr(&pattern, spec, s);
                if v > best.1 {
                    best = (s, v);
                }
            }
        }
        places.push((1.0, 0, best.0));
    }
    if let Some(top) = sync_candidates(&pattern, &spectra, 1).first() {
        let shift = refine_shift(&pattern, &spectra[top.spectrum].1, top.shift);
        places.push((top.scale, top.spectrum, shift));
    }
    places
        .into_iter()
        .map(|(scale, spectrum, shift)| Hypothesis {
            scale,
            shift,
            soft: soft_bits(&pattern, &spectra[spectrum].1, shift),
        })
        .collect()
}

/// The outcome of [`identify`]: which of many candidate payloads, if any, the clip carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identification {
    /// The best candidate's statistic reached [`Identification::threshold`].
    pub confirmed: bool,
    /// Index (into the candidates) of the candidate with the highest statistic; `None` when
    /// there were no candidates or no frames.
    pub best: Option<usize>,
    /// That candidate's statistic `Z` (see the module docs).
    pub score: f64,
    /// The second highest statistic (how far the best stands out of the rest); `None` with
    /// fewer than two candidates.
    pub runner_up: Option<f64>,
    /// [`DetectOptions::identify_threshold`] for this many candidates.
    pub threshold: f64,
    /// `2 * candidates * exp(-score^2 / 2)` (at most 1): the bound on the chance that an
    /// unmarked clip scores this high against any of the candidates.
    pub p_value: f64,
    /// Tested coded bits of the best candidate whose sign agrees with it.
    pub agreeing_bits: usize,
    /// Candidates tested.
    pub candidates: usize,
    /// Scale and shift of the best candidate's hypothesis.
    pub scale: f32,
    pub shift: (f32, f32),
    /// Frames looked at.
    pub frames: usize,
}

impl DetectOptions {
    /// The threshold [`identify`] sets for `candidates` claims: the union bound over
    /// `CLAIM_HYPOTHESES * candidates` tests, `sqrt(2 ln(2 candidates /
    /// false_positive_rate))`: 5.39 for one, 6.54 for 10^3, 7.21 for 10^5 (at 1e-6).
    pub fn identify_threshold(&self, candidates: usize) -> f64 {
        let tests = (CLAIM_HYPOTHESES * candidates.max(1)) as f64;
        (2.0 * (tests / self.false_positive_rate).ln()).sqrt()
    }
}

/// Which of `candidates` (distinct payloads, e.g. one per clip a server made) `frames`
/// carry, if any: [`check_claim`]'s statistic for each, at the same two hypotheses, with a
/// threshold that grows with the number of candidates so that an unmarked clip matches any
/// of them with probability at most [`DetectOptions::false_positive_rate`].
///
/// For a clip whose payload [`detect`](super::detect) cannot read any more; a readable
/// payload identifies the clip directly.
pub fn identify(
    frames: &VideoFrames,
    key: &WatermarkKey,
    candidates: &[Payload],
    opts: &DetectOptions,
) -> Result<Identification> {
    let (w, h) = (frames.width() as usize, frames.height() as usize);
    identify_luma_sum(&luma_sum(frames), w, h, frames.len(), key, candidates, opts)
}

/// [`identify`] on the per-pixel sum of the luma of `n_frames` frames.
pub fn identify_luma_sum(
    sum: &[f32],
    w: usize,
    h: usize,
    n_frames: usize,
    key: &WatermarkKey,
    candidates: &[Payload],
    opts: &DetectOptions,
) -> Result<Identification> {
    check_inputs(sum, w, h, opts)?;
    let threshold = opts.identify_threshold(candidates.len());
    let mut result = Identification {
        confirmed: false,
        best: None,
        score: 0.0,
        runner_up: None,
        threshold,
        p_value: 1.0,
        agreeing_bits: 0,
        candidates: candidates.len(),
        scale: 1.0,
        shift: (0.0, 0.0),
        frames: n_frames,
    };
    if n_frames == 0 || candidates.is_empty() {
        return Ok(result);
    }
    let hypotheses = claim_hypotheses(sum, w, h, key, opts);
    if hypotheses.is_empty() {
        return Ok(result);
    }
    // Per candidate, the better of the hypotheses.
    let (mut best, mut second) = (None::<(f64, usize, &Hypothesis, usize)>, f64::MIN);
    for (i, claim) in candidates.iter().enumerate() {
        let Some((z, agreeing, hyp)) = best_hypothesis(&hypotheses, &claim.coded_bits()) else {
            continue;
        };
        match best {
            Some((bz, ..)) if z <= bz => second = second.max(z),
            _ => {
                if let Some((bz, ..)) = best {
                    second = second.max(bz);
                }
                best = Some((z, agreeing, hyp, i));
            }
        }
    }
    if let Some((z, agreeing, hyp, i)) = best {
        result.best = Some(i);
        result.score = z;
        result.runner_up = (candidates.len() > 1).then_some(second);
        result.confirmed = z >= threshold;
        result.p_value = hoeffding_p_value(CLAIM_HYPOTHESES * candidates.len(), z);
        result.agreeing_bits = agreeing;
        result.scale = hyp.scale;
        result.shift = hyp.shift;
    }
    Ok(result)
}

fn check_inputs(sum: &[f32], w: usize, h: usize, opts: &DetectOptions) -> Result<()> {
    if sum.len() != w * h {
        return Err(WatermarkError::Invalid {
            what: "luma",
            why: format!("{} samples for {w}x{h}", sum.len()),
        });
    }
    if !(opts.false_positive_rate > 0.0 && opts.false_positive_rate < 1.0) {
        return Err(WatermarkError::Invalid {
            what: "false_positive_rate",
            why: format!("{} is outside (0, 1)", opts.false_positive_rate),
        });
    }
    Ok(())
}

/// `Z = sum c_i x_i / sqrt(sum x_i^2)` over the tested coded bits, and how many agree in sign.
pub(crate) fn claim_statistic(soft: &[f32], coded: &[u8]) -> (f64, usize) {
    let (mut dot, mut energy, mut agreeing) = (0.0f64, 0.0f64, 0usize);
    for (x, &c) in soft[GENERATOR_CODED_BITS..]
        .iter()
        .zip(&coded[GENERATOR_CODED_BITS..])
    {
        let x = f64::from(*x);
        let signed = if c == 0 { x } else { -x };
        dot += signed;
        energy += x * x;
        agreeing += usize::from(signed > 0.0);
    }
    let z = if energy > 0.0 {
        dot / energy.sqrt()
    } else {
        0.0
    };
    (z, agreeing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_hoeffding_bound_over_two_hypotheses() {
        let opts = DetectOptions::default();
        let t = opts.claim_threshold();
        let rate = CLAIM_HYPOTHESES as f64 * (-t * t / 2.0).exp();
        assert!((rate / opts.false_positive_rate - 1.0).abs() < 1e-9, "{t}");
        assert!((t - 5.39).abs() < 0.01, "{t}");
    }

    #[test]
    fn statistic_of_a_clean_codeword_and_its_opposite() {
        let claim = Payload::new(0x4B49, 0xDEAD_BEEF);
        let coded = claim.coded_bits();
        let soft: Vec<f32> = coded
            .iter()
            .map(|&c| if c == 0 { 2.0 } else { -2.0 })
            .collect();
        let (z, agreeing) = claim_statistic(&soft, &coded);
        assert_eq!(agreeing, CLAIM_CODED_BITS);
        assert!((z - (CLAIM_CODED_BITS as f64).sqrt()).abs() < 1e-9);
        let flipped: Vec<f32> = soft.iter().map(|x| -x).collect();
        let (z, agreeing) = claim_statistic(&flipped, &coded);
        assert_eq!(agreeing, 0);
        assert!(z < -10.0);
        // The generator's coded bits do not count: a soft vector that only has them scores 0.
        let mut gen_only = soft.clone();
        gen_only[GENERATOR_CODED_BITS..]
            .iter_mut()
            .for_each(|x| *x = 0.0);
        assert_eq!(claim_statistic(&gen_only, &coded).0, 0.0);
    }

    #[test]
    fn the_first_coded_bits_depend_on_the_generator_alone() {
        // Two payloads with the same generator and different clip hashes share exactly the
        // first GENERATOR_CODED_BITS coded bits (and differ right after).
        let a = Payload::new(7, 0).coded_bits();
        let b = Payload::new(7, 0x8000_0000).coded_bits();
        assert_eq!(a[..GENERATOR_CODED_BITS], b[..GENERATOR_CODED_BITS]);
        assert_ne!(
            a[GENERATOR_CODED_BITS..GENERATOR_CODED_BITS + 2],
            b[GENERATOR_CODED_BITS..GENERATOR_CODED_BITS + 2]
        );
    }
}
