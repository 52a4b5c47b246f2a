//! The keyed tile: which spatial frequencies carry the sync pattern and which carry the
//! coded payload, and the tile itself.

use super::payload::CODED_BITS;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;
use sha2::{Digest, Sha256};

/// Tile period in pixels (at the resolution the watermark was embedded at).
pub const TILE: usize = 128;
/// Lowest and highest radial frequency used, in cycles per tile (0.039..0.195 cycles per
/// pixel: periods of 5 to 26 pixels).
pub const BAND_LO: f32 = 5.0;
pub const BAND_HI: f32 = 25.0;
/// Share of the band's coefficients that carry the sync pattern (the rest carry the coded
/// payload, which needs more energy than the sync to decode at the same noise).
pub const SYNC_SHARE: f32 = 0.22;
/// Coefficient amplitude goes as `(BAND_LO / radius)^TILT`. 0 (flat) measured best: tilting
/// energy to the low frequencies (1.0) or the high ones (-0.7) lost detection score.
pub const TILT: f32 = 0.0;

/// Relative amplitude of the tile at frequency `f`.
pub(crate) fn amplitude(f: Freq) -> f32 {
    let r = ((f.u * f.u + f.v * f.v) as f32).sqrt();
    (BAND_LO / r).powf(TILT)
}

/// The secret that decides the pattern. Without it the watermark can be neither found nor
/// forged (short of estimating it from many marked clips).
#[derive(Clone, PartialEq, Eq)]
pub struct WatermarkKey([u8; 32]);

impl WatermarkKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        WatermarkKey(bytes)
    }

    /// A key from a passphrase (SHA-256 of a domain tag and the phrase).
    pub fn from_passphrase(phrase: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"kino-watermark-key-v1\0");
        h.update(phrase.as_bytes());
        WatermarkKey(h.finalize().into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for WatermarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret; a short fingerprint tells keys apart.
        let fp = Sha256::digest(self.0);
        write!(
            f,
            "WatermarkKey({:02x}{:02x}{:02x}{:02x}..)",
            fp[0], fp[1], fp[2], fp[3]
        )
    }
}

/// SplitMix64 seeded from the key: deterministic keyed randomness.
pub(crate) struct KeyedRng(u64);

impl KeyedRng {
    pub fn new(key: &WatermarkKey, domain: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(key.0);
        h.update(domain);
        let d = h.finalize();
        KeyedRng(u64::from_le_bytes([
            d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7],
        ]))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One frequency of the half plane, as signed (u, v) cycles per tile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freq {
    pub u: i32,
    pub v: i32,
}

impl Freq {
    /// Index into a TILE x TILE row-major spectrum (row = v, column = u).
    pub fn index(self) -> usize {
        let m = |a: i32| a.rem_euclid(TILE as i32) as usize;
        m(self.v) * TILE + m(self.u)
    }
    pub fn conj_index(self) -> usize {
        Freq {
            u: -self.u,
            v: -self.v,
        }
        .index()
    }
}

/// A message coefficient: its real part carries coded bit `re.0` with sign `re.1`, its
/// imaginary part coded bit `im.0` with sign `im.1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsgCoef {
    pub f: Freq,
    pub re: (usize, f32),
    pub im: (usize, f32),
}

/// The keyed layout and the spectra of the sync and message patterns.
pub(crate) struct Pattern {
    /// Sync coefficients and their unit phasors.
    pub sync: Vec<(Freq, Complex<f32>)>,
    pub msg: Vec<MsgCoef>,
}

/// Half-plane frequencies in the band, leaving out both axes (where block edges, frame
/// borders and row/column structure put their energy).
pub(crate) fn band() -> Vec<Freq> {
    let r = BAND_HI.ceil() as i32;
    let mut out = Vec::new();
    for v in 1..=r {
        for u in -r..=r {
            if u == 0 {
                continue;
            }
            let rad = ((u * u + v * v) as f32).sqrt();
            if (BAND_LO..=BAND_HI).contains(&rad) {
                out.push(Freq { u, v });
            }
        }
    }
    out
}

impl Pattern {
    pub fn new(key: &WatermarkKey) -> Pattern {
        let mut freqs = band();
        let mut rng = KeyedRng::new(key, b"layout");
        for i in (1..freqs.len()).rev() {
            let j = rng.below(i + 1);
            freqs.swap(i, j);
        }
        let n_sync = (freqs.len() as f32 * SYNC_SHARE).round() as usize;
        let (sync_f, msg_f) = freqs.split_at(n_sync);
        let sync = sync_f
            .iter()
            .map(|&f| {
                let phase = rng.unit() as f32 * std::f32::consts::TAU;
                (f, Complex::from_polar(1.0, phase))
            })
            .collect();
        // Real chips, spread round-robin over the coded bits in a keyed order.
        let n_chips = 2 * msg_f.len();
        let mut order: Vec<usize> = (0..n_chips).map(|c| c % CODED_BITS).collect();
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        let mut sign = || if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
        let msg = msg_f
            .iter()
            .enumerate()
            .map(|(i, &f)| MsgCoef {
                f,
                re: (order[2 * i], sign()),
                im: (order[2 * i + 1], sign()),
            })
            .collect();
        Pattern { sync, msg }
    }

    /// The spatial tile (unit RMS) for the coded bits `coded`.
    pub fn tile(&self, coded: &[u8]) -> Vec<f32> {
        let mut spec = vec![Complex::new(0.0f32, 0.0); TILE * TILE];
        let mut put = |f: Freq, c: Complex<f32>| {
            spec[f.index()] = c;
            spec[f.conj_index()] = c.conj();
        };
        for &(f, c) in &self.sync {
            put(f, c * amplitude(f));
        }
        let s = std::f32::consts::FRAC_1_SQRT_2;
        for m in &self.msg {
            let bit = |(j, sign): (usize, f32)| if coded[j] == 0 { sign } else { -sign };
            put(
                m.f,
                Complex::new(bit(m.re) * s, bit(m.im) * s) * amplitude(m.f),
            );
        }
        fft2(&mut spec, true);
        let tile: Vec<f32> = spec.iter().map(|c| c.re).collect();
        let rms = (tile.iter().map(|x| x * x).sum::<f32>() / tile.len() as f32).sqrt();
        tile.iter().map(|x| x / rms).collect()
    }
}

/// In-place 2-D FFT of a TILE x TILE row-major array (unnormalised both ways).
pub(crate) fn fft2(data: &mut [Complex<f32>], inverse: bool) {
    let mut planner = FftPlanner::<f32>::new();
    let fft = if inverse {
        planner.plan_fft_inverse(TILE)
    } else {
        planner.plan_fft_forward(TILE)
    };
    for row in data.chunks_exact_mut(TILE) {
        fft.process(row);
    }
    let mut col = vec![Complex::new(0.0f32, 0.0); TILE];
    for x in 0..TILE {
        for y in 0..TILE {
            col[y] = data[y * TILE + x];
        }
        fft.process(&mut col);
        for y in 0..TILE {
            data[y * TILE + x] = col[y];
        }
    }
}
