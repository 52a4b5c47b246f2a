//! The consent clip check: is a cameo's consent clip a live recording of someone speaking?
//!
//! A person registers their likeness with a short clip of themselves (server:
//! `POST /v1/videos/characters`). [`ConsentCheck::check`] measures, on the decoded pictures
//! (luma planes) and sound (mono PCM), signal-level properties a live recording of a person
//! speaking has and a still photo, a looped animation, silence, a test tone or noise do not:
//!
//! | property ([`Property`]) | measured | passes when (defaults, [`ConsentCheck`]) |
//! |---|---|---|
//! | `duration` | frames / fps | ≥ 2.0 s |
//! | `motion` | per pair of frames ~0.1 s apart: the mean absolute luma difference over the 10 % most-changed cells of a ≤32×32 grid | ≥ 1.5 levels (of 255) in ≥ 30 % of the pairs |
//! | `not_a_loop` | for every lag L from 2 frames to half the clip: mean absolute grid difference of frames L apart, over that of consecutive frames | the smallest ratio is > 0.25 (a loop repeats: frames one period apart are near-identical) |
//! | `voice_activity` | 10 ms steps of the 100–4000 Hz level; noise floor = its 10th percentile | ≥ 0.5 s of steps ≥ 10 dB above the floor and above −60 dBFS |
//! | `speech_band` | over the loud steps (within 20 dB of the loudest): share of the energy in 100–4000 Hz | ≥ 0.5 |
//! | `not_a_tone` | over the loud steps: share of the 100–4000 Hz energy away (> 3 FFT bins) from the strongest bin | ≥ 0.1 |
//! | `syllabic_rhythm` | the level envelope's modulation spectrum: RMS of its 2–8 Hz part, and that part's share of 0.5–25 Hz | ≥ 3 dB and ≥ 0.25 |
//!
//! What it does **not** establish: that the face in the clip is the person registering (there
//! is no face detector or face matching), that a face is in the clip at all, that the voice
//! says a consent sentence or a challenge phrase (no speech recognition), or that the clip was
//! not synthesised: a generated talking-head video with synthetic speech passes. It turns away
//! the cheap substitutes (a photo, a GIF-like loop, a silent or music-less upload, a tone).
//!
//! The thresholds were chosen on synthetic clips (the tests below: a moving scene with a
//! formant-filtered glottal pulse train at a 4 Hz syllable rate passes with a wide margin on
//! each measurement); they are tunable because real recordings vary (a speaker holding very
//! still, a noisy room).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::error::{Location, SafetyError};

/// Thresholds of the consent clip check. `Default` is kino's; an operator overrides any of
/// them with TOML ([`ConsentCheck::from_toml`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentCheck {
    /// Shortest clip, in seconds of video.
    pub min_duration_s: f64,
    /// A pair of frames "moves" when the mean absolute luma difference over its most-changed
    /// 10 % of grid cells reaches this (0-255 levels).
    pub motion_floor: f32,
    /// Share of frame pairs (~0.1 s apart) that must move.
    pub min_moving_share: f32,
    /// A lag of 2+ frames whose frame difference is at most this fraction of the
    /// consecutive-frame difference marks the clip as a loop.
    pub max_loop_ratio: f32,
    /// A 10 ms step is voiced when its speech-band level is this far above the noise floor.
    pub voice_above_floor_db: f32,
    /// ... and above this absolute level (dBFS, mean square; a full-scale sine is −3 dBFS).
    pub min_voice_level_dbfs: f32,
    /// Least voiced time, in seconds.
    pub min_voiced_s: f64,
    /// Least share of the loud steps' energy in 100-4000 Hz.
    pub min_speech_band_share: f32,
    /// Least share of the speech-band energy away from its strongest frequency.
    pub min_spectral_spread: f32,
    /// Least RMS (dB) of the level envelope's 2-8 Hz modulation.
    pub min_syllabic_modulation_db: f32,
    /// Least share of the envelope's 0.5-25 Hz modulation energy in 2-8 Hz.
    pub min_syllabic_share: f32,
}

impl Default for ConsentCheck {
    fn default() -> Self {
        Self {
            min_duration_s: 2.0,
            motion_floor: 1.5,
            min_moving_share: 0.3,
            max_loop_ratio: 0.25,
            voice_above_floor_db: 10.0,
            min_voice_level_dbfs: -60.0,
            min_voiced_s: 0.5,
            min_speech_band_share: 0.5,
            min_spectral_spread: 0.1,
            min_syllabic_modulation_db: 3.0,
            min_syllabic_share: 0.25,
        }
    }
}

/// What the check looks at: the decoded clip's pictures as luma planes and its sound as mono
/// PCM. Build it from whatever decoder you have (the server uses `kino_media`).
#[derive(Debug, Clone)]
pub struct ClipSignals<'a> {
    pub width: usize,
    pub height: usize,
    /// Frames per second of `luma`.
    pub fps: f64,
    /// One plane per frame, `width * height` bytes (BT.601 luma, e.g. the Y plane of I420).
    pub luma: Vec<&'a [u8]>,
    /// Sample rate of `audio`.
    pub sample_rate: u32,
    /// Mono samples in -1..1; empty when the clip has no sound.
    pub audio: &'a [f32],
}

/// One of the properties the check establishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    Duration,
    Motion,
    NotALoop,
    VoiceActivity,
    SpeechBand,
    NotATone,
    SyllabicRhythm,
}

impl Property {
    pub const ALL: [Property; 7] = [
        Property::Duration,
        Property::Motion,
        Property::NotALoop,
        Property::VoiceActivity,
        Property::SpeechBand,
        Property::NotATone,
        Property::SyllabicRhythm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Property::Duration => "duration",
            Property::Motion => "motion",
            Property::NotALoop => "not_a_loop",
            Property::VoiceActivity => "voice_activity",
            Property::SpeechBand => "speech_band",
            Property::NotATone => "not_a_tone",
            Property::SyllabicRhythm => "syllabic_rhythm",
        }
    }
}

impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one property: what was measured against which threshold, and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyResult {
    pub property: Property,
    pub passed: bool,
    /// The main measurement (unit in `detail`).
    pub measured: f64,
    pub threshold: f64,
    /// For people: what was measured, or what is missing.
    pub detail: String,
}

/// The raw measurements behind [`ConsentReport::results`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub duration_s: f64,
    pub frames: usize,
    pub fps: f64,
    /// Share of frame pairs (`motion_step` frames apart) that moved.
    pub moving_pair_share: f64,
    /// Median of the pairs' motion (levels).
    pub median_motion: f64,
    /// Frames between the pairs compared for motion (~0.1 s).
    pub motion_step: usize,
    /// Smallest (frame difference at lag L) / (consecutive-frame difference), L >= 2.
    pub loop_ratio: f64,
    /// The lag of `loop_ratio`, in frames.
    pub loop_lag: usize,
    pub audio_s: f64,
    pub sample_rate: u32,
    /// 10th percentile of the 10 ms speech-band levels (dBFS).
    pub noise_floor_dbfs: f64,
    /// Loudest 10 ms speech-band level (dBFS).
    pub peak_dbfs: f64,
    pub voiced_s: f64,
    pub speech_band_share: f64,
    pub spectral_spread: f64,
    pub syllabic_modulation_db: f64,
    pub syllabic_share: f64,
}

/// What [`ConsentCheck::check`] found. `passed` only when every property passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentReport {
    pub passed: bool,
    pub results: Vec<PropertyResult>,
    pub measurements: Measurements,
    /// What this check does not establish, for the record.
    pub not_checked: Vec<String>,
}

impl ConsentReport {
    /// The properties that failed, in [`Property::ALL`] order.
    pub fn failed(&self) -> Vec<Property> {
        self.results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.property)
            .collect()
    }

    pub fn result(&self, p: Property) -> Option<&PropertyResult> {
        self.results.iter().find(|r| r.property == p)
    }

    /// One sentence naming what is missing, for an API error; `None` when it passed.
    pub fn refusal_message(&self) -> Option<String> {
        if self.passed {
            return None;
        }
        let parts: Vec<String> = self
            .results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{} ({})", r.property, r.detail))
            .collect();
        Some(format!(
            "The consent clip does not look like a live recording of a person speaking: {}.",
            parts.join("; ")
        ))
    }
}

/// What is never checked, stated in every report.
pub const NOT_CHECKED: [&str; 3] = [
    "face: no face detection or matching; the likeness is not compared with anyone",
    "words: no speech recognition; no consent sentence or challenge phrase is verified",
    "synthesis: a generated or replayed recording of a person speaking is not detected",
];

impl ConsentCheck {
    /// Thresholds from TOML: any of the fields, the rest keep their defaults.
    pub fn from_toml(text: &str) -> Result<Self, SafetyError> {
        toml::from_str(text).map_err(|e| SafetyError::ConsentToml {
            location: Location::at("consent TOML", text, e.span().map_or(0, |s| s.start)),
            message: e.message().trim().to_string(),
        })
    }

    /// Measures `clip` and judges every property.
    pub fn check(&self, clip: &ClipSignals<'_>) -> ConsentReport {
        let mut m = Measurements {
            frames: clip.luma.len(),
            fps: clip.fps,
            sample_rate: clip.sample_rate,
            ..Default::default()
        };
        m.duration_s = if clip.fps > 0.0 {
            clip.luma.len() as f64 / clip.fps
        } else {
            0.0
        };
        let grids = grids(clip);
        video_measures(&grids, clip.fps, self, &mut m);
        audio_measures(clip.audio, clip.sample_rate, self, &mut m);

        let mut results = Vec::new();
        let mut push = |property, passed: bool, measured: f64, threshold: f64, detail: String| {
            results.push(PropertyResult {
                property,
                passed,
                measured: round3(measured),
                threshold: round3(threshold),
                detail,
            })
        };
        push(
            Property::Duration,
            m.duration_s >= self.min_duration_s,
            m.duration_s,
            self.min_duration_s,
            format!(
                "{:.2} s of video, at least {} s needed",
                m.duration_s, self.min_duration_s
            ),
        );
        push(
            Property::Motion,
            m.frames >= 2 && m.moving_pair_share >= self.min_moving_share as f64,
            m.moving_pair_share,
            self.min_moving_share as f64,
            if m.frames < 2 {
                "a single frame: a still image".to_string()
            } else {
                format!(
                    "{:.0}% of frame pairs show movement (median change {:.2} levels), at least {:.0}% needed; a still image or a near-static clip does not",
                    m.moving_pair_share * 100.0,
                    m.median_motion,
                    self.min_moving_share * 100.0
                )
            },
        );
        let still = m.loop_lag == 0;
        let loop_ok = !still && m.loop_ratio > self.max_loop_ratio as f64;
        push(
            Property::NotALoop,
            loop_ok,
            m.loop_ratio,
            self.max_loop_ratio as f64,
            if still {
                "the frames do not change, nothing to compare".to_string()
            } else if loop_ok {
                format!(
                    "no repetition: frames {} apart differ {:.2}x as much as consecutive ones",
                    m.loop_lag, m.loop_ratio
                )
            } else {
                format!(
                    "the pictures repeat every {} frames ({:.2} s): a loop",
                    m.loop_lag,
                    m.loop_lag as f64 / clip.fps.max(1e-9)
                )
            },
        );
        push(
            Property::VoiceActivity,
            m.voiced_s >= self.min_voiced_s,
            m.voiced_s,
            self.min_voiced_s,
            if clip.audio.is_empty() {
                "no audio track".to_string()
            } else {
                format!(
                    "{:.2} s of speech-band sound {} dB above the noise floor ({:.1} dBFS), at least {} s needed",
                    m.voiced_s, self.voice_above_floor_db, m.noise_floor_dbfs, self.min_voiced_s
                )
            },
        );
        push(
            Property::SpeechBand,
            m.speech_band_share >= self.min_speech_band_share as f64,
            m.speech_band_share,
            self.min_speech_band_share as f64,
            format!(
                "{:.0}% of the sound's energy is in 100-4000 Hz, at least {:.0}% needed",
                m.speech_band_share * 100.0,
                self.min_speech_band_share * 100.0
            ),
        );
        push(
            Property::NotATone,
            m.spectral_spread >= self.min_spectral_spread as f64,
            m.spectral_spread,
            self.min_spectral_spread as f64,
            format!(
                "{:.0}% of the speech-band energy lies away from its strongest frequency, at least {:.0}% needed (a single tone has none)",
                m.spectral_spread * 100.0,
                self.min_spectral_spread * 100.0
            ),
        );
        push(
            Property::SyllabicRhythm,
            m.syllabic_modulation_db >= self.min_syllabic_modulation_db as f64
                && m.syllabic_share >= self.min_syllabic_share as f64,
            m.syllabic_modulation_db,
            self.min_syllabic_modulation_db as f64,
            format!(
                "the loudness rises and falls by {:.1} dB RMS at 2-8 Hz (syllable rate), {:.0}% of its modulation; at least {} dB and {:.0}% needed",
                m.syllabic_modulation_db,
                m.syllabic_share * 100.0,
                self.min_syllabic_modulation_db,
                self.min_syllabic_share * 100.0
            ),
        );
        let passed = results.iter().all(|r| r.passed);
        round_measurements(&mut m);
        ConsentReport {
            passed,
            results,
            measurements: m,
            not_checked: NOT_CHECKED.iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn round_measurements(m: &mut Measurements) {
    for x in [
        &mut m.duration_s,
        &mut m.moving_pair_share,
        &mut m.median_motion,
        &mut m.loop_ratio,
        &mut m.audio_s,
        &mut m.noise_floor_dbfs,
        &mut m.peak_dbfs,
        &mut m.voiced_s,
        &mut m.speech_band_share,
        &mut m.spectral_spread,
        &mut m.syllabic_modulation_db,
        &mut m.syllabic_share,
    ] {
        *x = round3(*x);
    }
}

// ---------- pictures ----------

/// Largest grid side: cells average out sensor and codec noise.
const GRID: usize = 32;

/// Per frame, the mean luma of each cell of a grid of up to 32x32 cells.
fn grids(clip: &ClipSignals<'_>) -> Vec<Vec<f32>> {
    let (w, h) = (clip.width, clip.height);
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let (gw, gh) = (w.min(GRID), h.min(GRID));
    clip.luma
        .iter()
        .filter(|f| f.len() >= w * h)
        .map(|f| {
            let mut sum = vec![0f32; gw * gh];
            let mut count = vec![0u32; gw * gh];
            for y in 0..h {
                let cy = y * gh / h;
                let row = &f[y * w..(y + 1) * w];
                for (x, &v) in row.iter().enumerate() {
                    let c = cy * gw + x * gw / w;
                    sum[c] += v as f32;
                    count[c] += 1;
                }
            }
            sum.iter()
                .zip(&count)
                .map(|(s, &n)| s / n.max(1) as f32)
                .collect()
        })
        .collect()
}

fn abs_diffs(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect()
}

fn mean(xs: &[f32]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64
    }
}

/// Mean of the largest 10 % of `d` (at least one value).
fn top_decile_mean(mut d: Vec<f32>) -> f64 {
    d.sort_by(|a, b| b.total_cmp(a));
    let k = (d.len() / 10).max(1).min(d.len());
    mean(&d[..k])
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Consecutive frames closer than this (mean levels) do not change at all.
const STILL_EPS: f64 = 0.05;

fn video_measures(grids: &[Vec<f32>], fps: f64, cfg: &ConsentCheck, m: &mut Measurements) {
    let n = grids.len();
    if n < 2 {
        return;
    }
    // Motion: pairs ~0.1 s apart, so the measure does not depend on the frame rate.
    let step = ((fps * 0.1).round() as usize).clamp(1, n - 1);
    m.motion_step = step;
    let motions: Vec<f64> = (0..n - step)
        .map(|i| top_decile_mean(abs_diffs(&grids[i], &grids[i + step])))
        .collect();
    let moving = motions
        .iter()
        .filter(|&&x| x >= cfg.motion_floor as f64)
        .count();
    m.moving_pair_share = moving as f64 / motions.len() as f64;
    m.median_motion = median(motions);

    // Loops: frames one period apart are near-identical, consecutive ones are not.
    let lag_diff = |lag: usize| -> f64 {
        let total: f64 = (0..n - lag)
            .map(|i| mean(&abs_diffs(&grids[i], &grids[i + lag])))
            .sum();
        total / (n - lag) as f64
    };
    let d1 = lag_diff(1);
    if d1 < STILL_EPS {
        m.loop_ratio = 0.0;
        m.loop_lag = 0;
        return;
    }
    let max_lag = (n / 2).min(600);
    let mut best = (f64::INFINITY, 0usize);
    for lag in 2..=max_lag {
        let r = lag_diff(lag) / d1;
        if r < best.0 {
            best = (r, lag);
        }
    }
    if best.1 == 0 {
        // Too few frames for a repeat to show.
        best = (1.0, 1);
    }
    m.loop_ratio = best.0;
    m.loop_lag = best.1;
}

// ---------- sound ----------

const SPEECH_LO_HZ: f64 = 100.0;
const SPEECH_HI_HZ: f64 = 4000.0;
/// Sound longer than this is analysed up to here.
const MAX_AUDIO_S: f64 = 60.0;

/// Spectra of windowed frames of one length, with the FFT planned once and its buffers
/// reused from frame to frame.
struct FrameSpectrum {
    fft: Arc<dyn Fft<f32>>,
    buf: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl FrameSpectrum {
    fn new(n: usize) -> Self {
        let fft = FftPlanner::new().plan_fft_forward(n);
        let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
        Self {
            fft,
            buf: vec![Complex::default(); n],
            scratch,
        }
    }

    /// The DFT of `frame * window` (both of the planned length), unnormalised.
    fn dft(&mut self, frame: &[f32], window: &[f32]) -> &[Complex<f32>] {
        for ((b, &x), &w) in self.buf.iter_mut().zip(frame).zip(window) {
            *b = Complex::new(x * w, 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.buf, &mut self.scratch);
        &self.buf
    }
}

/// Per 10 ms step: speech-band power, total power (both mean-square), and the speech-band
/// energy away from the strongest bin.
struct Step {
    band: f64,
    total: f64,
    spread_energy: f64,
}

fn spectra(audio: &[f32], sr: u32) -> (Vec<Step>, f64) {
    let sr_f = sr as f64;
    let n = ((sr_f * 0.032) as usize).max(64).next_power_of_two();
    let hop = ((sr_f / 100.0) as usize).max(1);
    if audio.len() < n {
        return (Vec::new(), hop as f64 / sr_f);
    }
    let window: Vec<f32> = (0..n)
        .map(|i| {
            let x = std::f64::consts::PI * 2.0 * i as f64 / n as f64;
            (0.5 - 0.5 * x.cos()) as f32
        })
        .collect();
    let wsum2: f64 = window.iter().map(|&w| (w * w) as f64).sum();
    let norm = 2.0 / (n as f64 * wsum2);
    let bin_hz = sr_f / n as f64;
    let lo = (SPEECH_LO_HZ / bin_hz).ceil() as usize;
    let hi = ((SPEECH_HI_HZ / bin_hz).floor() as usize).min(n / 2 - 1);
    let first = (20.0 / bin_hz).ceil().max(1.0) as usize;
    let mut spectrum = FrameSpectrum::new(n);
    let mut steps = Vec::new();
    let mut start = 0;
    while start + n <= audio.len() {
        let power: Vec<f64> = spectrum.dft(&audio[start..start + n], &window)[..n / 2]
            .iter()
            .map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2))
            .collect();
        let band: f64 = power[lo..=hi].iter().sum();
        let total: f64 = power[first..].iter().sum();
        let peak = (lo..=hi)
            .max_by(|&a, &b| power[a].total_cmp(&power[b]))
            .unwrap_or(lo);
        let near: f64 = power[peak.saturating_sub(3).max(lo)..=(peak + 3).min(hi)]
            .iter()
            .sum();
        steps.push(Step {
            band: band * norm,
            total: total * norm,
            spread_energy: (band - near).max(0.0) * norm,
        });
        start += hop;
    }
    (steps, hop as f64 / sr_f)
}

fn db(p: f64) -> f64 {
    10.0 * (p + 1e-12).log10()
}

fn audio_measures(audio: &[f32], sr: u32, cfg: &ConsentCheck, m: &mut Measurements) {
    if audio.is_empty() || sr == 0 {
        return;
    }
    m.audio_s = audio.len() as f64 / sr as f64;
    let limit = ((MAX_AUDIO_S * sr as f64) as usize).min(audio.len());
    let (steps, step_s) = spectra(&audio[..limit], sr);
    if steps.is_empty() {
        return;
    }
    let levels: Vec<f64> = steps.iter().map(|s| db(s.band)).collect();
    let mut sorted = levels.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[sorted.len() / 10];
    let peak = sorted[sorted.len() - 1];
    m.noise_floor_dbfs = floor;
    m.peak_dbfs = peak;

    let voiced = levels
        .iter()
        .filter(|&&l| {
            l >= floor + cfg.voice_above_floor_db as f64 && l >= cfg.min_voice_level_dbfs as f64
        })
        .count();
    m.voiced_s = voiced as f64 * step_s;

    // Spectral shape over the loud steps (within 20 dB of the loudest, above silence).
    let loud: Vec<&Step> = steps
        .iter()
        .zip(&levels)
        .filter(|(s, &l)| l >= peak - 20.0 && db(s.total) >= cfg.min_voice_level_dbfs as f64 - 10.0)
        .map(|(s, _)| s)
        .collect();
    let band: f64 = loud.iter().map(|s| s.band).sum();
    let total: f64 = loud.iter().map(|s| s.total).sum();
    let spread: f64 = loud.iter().map(|s| s.spread_energy).sum();
    if total > 0.0 && !loud.is_empty() {
        m.speech_band_share = band / total;
    }
    if band > 0.0 {
        m.spectral_spread = spread / band;
    }

    // Syllabic rhythm: the modulation spectrum of the level envelope (dB, clamped at the
    // floor so silent gaps count as "down" rather than as -120 dB).
    let env: Vec<f64> = levels.iter().map(|&l| l.max(floor)).collect();
    let len = env.len();
    if len < 8 {
        return;
    }
    let mu = env.iter().sum::<f64>() / len as f64;
    let x: Vec<f64> = env.iter().map(|v| v - mu).collect();
    let rate = 1.0 / step_s;
    let (mut syl, mut all) = (0.0, 0.0);
    for k in 1..len.div_ceil(2) {
        let f = k as f64 * rate / len as f64;
        if !(0.5..=25.0).contains(&f) {
            continue;
        }
        let (mut a, mut b) = (0.0, 0.0);
        for (t, v) in x.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * (k * t % len) as f64 / len as f64;
            a += v * ph.cos();
            b -= v * ph.sin();
        }
        // Parseval: this bin pair's share of the mean square.
        let p = 2.0 * (a * a + b * b) / (len * len) as f64;
        all += p;
        if (2.0..=8.0).contains(&f) {
            syl += p;
        }
    }
    m.syllabic_modulation_db = syl.sqrt();
    if all > 0.0 {
        m.syllabic_share = syl / all;
    }
}

// ---------- synthetic clips ----------

/// Synthetic clips for tests and demos: a moving picture and a voice-like sound.
pub mod synthetic {
    /// A tiny deterministic random generator (xorshift).
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        /// Uniform in -1..1.
        pub fn uniform(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        }
    }

    /// RGB frames (row-major) of a scene that moves: a lit disc (a "head") drifting and bobbing
    /// over a textured background that slowly pans, with a little sensor noise.
    pub fn moving_scene_rgb(width: u32, height: u32, fps: u32, seconds: f64) -> Vec<Vec<u8>> {
        let frames = (seconds * fps as f64).round() as usize;
        let (w, h) = (width as usize, height as usize);
        let mut rng = Rng::new(7);
        (0..frames)
            .map(|i| {
                let t = i as f64 / fps as f64;
                let cx = w as f64 * (0.5 + 0.18 * (0.9 * t).sin());
                let cy = h as f64 * (0.45 + 0.06 * (2.3 * t).sin());
                let r = w.min(h) as f64 * (0.22 + 0.02 * (4.0 * t).sin());
                let mouth = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin();
                let pan = t * 9.0;
                let mut f = Vec::with_capacity(w * h * 3);
                for y in 0..h {
                    for x in 0..w {
                        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                        let d = (dx * dx + dy * dy).sqrt();
                        let noise = rng.uniform() as f64 * 2.0;
                        let px = if d < r {
                            // Skin-ish disc with a dark mouth that opens at 4 Hz.
                            let in_mouth = dy > r * 0.25
                                && dy < r * (0.3 + 0.25 * mouth)
                                && dx.abs() < r * 0.35;
                            if in_mouth {
                                [60.0, 30.0, 30.0]
                            } else {
                                [205.0, 160.0, 130.0]
                            }
                        } else {
                            let u = (x as f64 + pan) * 0.21;
                            let v = y as f64 * 0.17;
                            let tex =
                                40.0 * (u.sin() * v.cos()) + 25.0 * (0.37 * u + 0.5 * v).sin();
                            [90.0 + tex, 110.0 + tex, 140.0 + tex * 0.5]
                        };
                        for c in px {
                            f.push((c + noise).clamp(0.0, 255.0) as u8);
                        }
                    }
                }
                f
            })
            .collect()
    }

    /// A voice-like sound: a glottal pulse train (F0 around 120 Hz with slow drift) through
    /// three formant resonators (vowel formants changing per syllable), amplitude-modulated
    /// at a 4 Hz syllable rate with short gaps, over a quiet noise floor (-60 dB).
    pub fn voiced_speech(sample_rate: u32, seconds: f64) -> Vec<f32> {
        let sr = sample_rate as f64;
        let n = (seconds * sr) as usize;
        let mut rng = Rng::new(11);
        // (F1, F2, F3) of a few vowels.
        let vowels = [
            (730.0, 1090.0, 2440.0),
            (270.0, 2290.0, 3010.0),
            (530.0, 1840.0, 2480.0),
            (570.0, 840.0, 2410.0),
            (300.0, 870.0, 2240.0),
        ];
        let bws = [90.0, 110.0, 170.0];
        let mut state = [[0.0f64; 2]; 3];
        let mut phase = 0.0f64;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f64 / sr;
            let f0 = 120.0 + 15.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += f0 / sr;
            // Glottal pulse: a sharp closure once per period (a decaying derivative pulse).
            let src = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            } + 0.02 * rng.uniform() as f64;
            let syllable = (t * 4.0) as usize;
            let (f1, f2, f3) = vowels[syllable % vowels.len()];
            let mut y = src;
            for (k, f) in [f1, f2, f3].into_iter().enumerate() {
                let r = (-std::f64::consts::PI * bws[k] / sr).exp();
                let a1 = 2.0 * r * (2.0 * std::f64::consts::PI * f / sr).cos();
                let a2 = -r * r;
                let g = 1.0 - r;
                let v = g * y + a1 * state[k][0] + a2 * state[k][1];
                state[k][1] = state[k][0];
                state[k][0] = v;
                y = v;
            }
            // Syllables: a raised-sine envelope at 4 Hz with a gap between syllables.
            let ph = (t * 4.0).fract();
            let env = if ph < 0.8 {
                (std::f64::consts::PI * ph / 0.8).sin().powi(2)
            } else {
                0.0
            };
            out.push((y * env) as f32);
        }
        let peak = out.iter().fold(0f32, |a, &b| a.max(b.abs())).max(1e-9);
        out.iter_mut()
            .for_each(|s| *s = *s / peak * 0.5 + 0.001 * rng.uniform());
        out
    }

    /// BT.601 luma of an RGB frame.
    pub fn luma(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(3)
            .map(|p| {
                (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round() as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::synthetic::{luma, moving_scene_rgb, voiced_speech, Rng};
    use super::*;

    const W: u32 = 96;
    const H: u32 = 72;
    const FPS: u32 = 24;
    const SR: u32 = 16_000;
    const SECONDS: f64 = 3.0;

    fn moving_luma() -> Vec<Vec<u8>> {
        moving_scene_rgb(W, H, FPS, SECONDS)
            .iter()
            .map(|f| luma(f))
            .collect()
    }

    fn run(frames: &[Vec<u8>], audio: &[f32]) -> ConsentReport {
        let clip = ClipSignals {
            width: W as usize,
            height: H as usize,
            fps: FPS as f64,
            luma: frames.iter().map(|f| f.as_slice()).collect(),
            sample_rate: SR,
            audio,
        };
        let r = ConsentCheck::default().check(&clip);
        eprintln!("{}", serde_json::to_string(&r.measurements).unwrap());
        r
    }

    fn assert_only_audio_ok(r: &ConsentReport) {
        for p in [Property::Duration, Property::Motion, Property::NotALoop] {
            assert!(r.result(p).unwrap().passed, "{p}: {:?}", r.result(p));
        }
    }

    #[test]
    fn a_moving_speaking_clip_passes() {
        let r = run(&moving_luma(), &voiced_speech(SR, SECONDS));
        assert!(r.passed, "{:#?}", r);
        assert!(r.refusal_message().is_none());
        let m = &r.measurements;
        // Margins over the defaults.
        assert!(m.moving_pair_share > 0.9, "{m:?}");
        assert!(m.loop_ratio > 1.0, "{m:?}");
        assert!(m.voiced_s > 1.2, "{m:?}");
        assert!(m.speech_band_share > 0.8, "{m:?}");
        assert!(m.spectral_spread > 0.3, "{m:?}");
        assert!(m.syllabic_modulation_db > 6.0, "{m:?}");
        assert!(m.syllabic_share > 0.5, "{m:?}");
    }

    #[test]
    fn also_at_48khz() {
        let frames = moving_luma();
        let audio = voiced_speech(48_000, SECONDS);
        let clip = ClipSignals {
            width: W as usize,
            height: H as usize,
            fps: FPS as f64,
            luma: frames.iter().map(|f| f.as_slice()).collect(),
            sample_rate: 48_000,
            audio: &audio,
        };
        let r = ConsentCheck::default().check(&clip);
        eprintln!("{}", serde_json::to_string(&r.measurements).unwrap());
        assert!(r.passed, "{:#?}", r);
    }

    #[test]
    fn a_still_image_fails_motion() {
        let first = moving_luma().swap_remove(0);
        let frames = vec![first; (FPS as f64 * SECONDS) as usize];
        let r = run(&frames, &voiced_speech(SR, SECONDS));
        assert!(!r.passed);
        assert!(r.failed().contains(&Property::Motion), "{:?}", r.failed());
        assert!(r.result(Property::VoiceActivity).unwrap().passed);
        assert!(r.refusal_message().unwrap().contains("motion"));
    }

    #[test]
    fn a_two_frame_loop_fails_as_a_loop() {
        let all = moving_luma();
        let (a, b) = (all[0].clone(), all[12].clone());
        let frames: Vec<Vec<u8>> = (0..all.len())
            .map(|i| if i % 2 == 0 { a.clone() } else { b.clone() })
            .collect();
        let r = run(&frames, &voiced_speech(SR, SECONDS));
        // Frames 0.1 s (2 frames) apart are identical, so it does not move either.
        assert_eq!(
            r.failed(),
            vec![Property::Motion, Property::NotALoop],
            "{r:#?}"
        );
        assert_eq!(r.measurements.loop_lag, 2);
    }

    #[test]
    fn a_longer_loop_fails_too() {
        // Half a second of the moving scene, repeated.
        let all = moving_luma();
        let period = 12;
        let frames: Vec<Vec<u8>> = (0..all.len()).map(|i| all[i % period].clone()).collect();
        let r = run(&frames, &voiced_speech(SR, SECONDS));
        assert_eq!(r.failed(), vec![Property::NotALoop], "{r:#?}");
        assert_eq!(r.measurements.loop_lag, period);
    }

    #[test]
    fn silence_fails_voice_activity() {
        let r = run(&moving_luma(), &vec![0.0; (SR as f64 * SECONDS) as usize]);
        assert_only_audio_ok(&r);
        assert!(r.failed().contains(&Property::VoiceActivity));
        assert!(r.failed().contains(&Property::SyllabicRhythm));
    }

    #[test]
    fn no_audio_track_fails_voice_activity() {
        let r = run(&moving_luma(), &[]);
        assert_only_audio_ok(&r);
        let v = r.result(Property::VoiceActivity).unwrap();
        assert!(!v.passed);
        assert_eq!(v.detail, "no audio track");
    }

    #[test]
    fn a_pure_tone_fails() {
        let tone: Vec<f32> = (0..(SR as f64 * SECONDS) as usize)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / SR as f32).sin())
            .collect();
        let r = run(&moving_luma(), &tone);
        assert_only_audio_ok(&r);
        let failed = r.failed();
        assert!(failed.contains(&Property::VoiceActivity), "{failed:?}");
        assert!(failed.contains(&Property::NotATone), "{failed:?}");
        assert!(failed.contains(&Property::SyllabicRhythm), "{failed:?}");
        assert!(r.result(Property::SpeechBand).unwrap().passed);
    }

    #[test]
    fn a_tone_pulsed_at_syllable_rate_still_fails_as_a_tone() {
        let tone: Vec<f32> = (0..(SR as f64 * SECONDS) as usize)
            .map(|i| {
                let t = i as f32 / SR as f32;
                let env = (std::f32::consts::PI * 4.0 * t).sin().powi(2);
                0.5 * env * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            })
            .collect();
        let r = run(&moving_luma(), &tone);
        assert_eq!(r.failed(), vec![Property::NotATone], "{r:#?}");
    }

    #[test]
    fn white_noise_fails() {
        let mut rng = Rng::new(3);
        let noise: Vec<f32> = (0..(SR as f64 * SECONDS) as usize)
            .map(|_| 0.3 * rng.uniform())
            .collect();
        let r = run(&moving_luma(), &noise);
        assert_only_audio_ok(&r);
        let failed = r.failed();
        assert!(failed.contains(&Property::VoiceActivity), "{failed:?}");
        assert!(failed.contains(&Property::SyllabicRhythm), "{failed:?}");
        // 16 kHz audio: 100-4000 Hz is half of the 0-8000 Hz spectrum.
        assert!(
            r.measurements.speech_band_share < 0.55,
            "{:?}",
            r.measurements
        );
    }

    #[test]
    fn white_noise_at_48khz_is_out_of_the_speech_band() {
        let mut rng = Rng::new(5);
        let noise: Vec<f32> = (0..(48_000.0 * SECONDS) as usize)
            .map(|_| 0.3 * rng.uniform())
            .collect();
        let frames = moving_luma();
        let clip = ClipSignals {
            width: W as usize,
            height: H as usize,
            fps: FPS as f64,
            luma: frames.iter().map(|f| f.as_slice()).collect(),
            sample_rate: 48_000,
            audio: &noise,
        };
        let r = ConsentCheck::default().check(&clip);
        assert!(r.failed().contains(&Property::SpeechBand), "{r:#?}");
        assert!(r.failed().contains(&Property::VoiceActivity), "{r:#?}");
    }

    #[test]
    fn too_short_fails_duration() {
        let frames: Vec<Vec<u8>> = moving_luma().into_iter().take(FPS as usize).collect();
        let r = run(&frames, &voiced_speech(SR, 1.0));
        assert!(r.failed().contains(&Property::Duration), "{:?}", r.failed());
    }

    #[test]
    fn thresholds_come_from_toml() {
        let c = ConsentCheck::from_toml("min_duration_s = 1.0\nmin_voiced_s = 0.2\n").unwrap();
        assert_eq!(c.min_duration_s, 1.0);
        assert_eq!(c.min_voiced_s, 0.2);
        assert_eq!(c.motion_floor, ConsentCheck::default().motion_floor);
        assert!(ConsentCheck::from_toml("min_duraton_s = 1").is_err());
        // A clip of one second passes with the lowered minimum.
        let frames: Vec<Vec<u8>> = moving_luma().into_iter().take(FPS as usize).collect();
        let audio = voiced_speech(SR, 1.0);
        let clip = ClipSignals {
            width: W as usize,
            height: H as usize,
            fps: FPS as f64,
            luma: frames.iter().map(|f| f.as_slice()).collect(),
            sample_rate: SR,
            audio: &audio,
        };
        let r = c.check(&clip);
        assert!(r.passed, "{r:#?}");
    }

    #[test]
    fn the_report_serialises_with_property_names() {
        let r = run(&moving_luma(), &[]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["results"][3]["property"], "voice_activity");
        assert_eq!(v["passed"], false);
        assert_eq!(v["not_checked"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn fft_matches_a_direct_dft() {
        let n = 64;
        let x: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let mut spectrum = FrameSpectrum::new(n);
        let got = spectrum.dft(&x, &vec![1.0; n]);
        let (re, im): (Vec<f32>, Vec<f32>) = got.iter().map(|c| (c.re, c.im)).unzip();
        for k in [0, 1, 5, 31, 63] {
            let (mut a, mut b) = (0.0f64, 0.0f64);
            for (t, v) in x.iter().enumerate() {
                let ph = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                a += *v as f64 * ph.cos();
                b += *v as f64 * ph.sin();
            }
            assert!((re[k] as f64 - a).abs() < 1e-3 && (im[k] as f64 - b).abs() < 1e-3);
        }
    }
}
