//! The 48-bit payload, its CRC-16 check and the rate-1/2 convolutional code around it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Information bits the watermark carries: a 16-bit generator id and a 32-bit clip-id hash.
pub const PAYLOAD_BITS: usize = 48;
/// Check bits appended to the payload (CRC-16/CCITT-FALSE).
pub const CRC_BITS: usize = 16;
/// Payload + CRC.
pub const MESSAGE_BITS: usize = PAYLOAD_BITS + CRC_BITS;
/// Constraint length of the convolutional code.
const K: usize = 7;
/// Zero tail that returns the encoder to state 0.
const TAIL: usize = K - 1;
/// Generator polynomials (octal 133, 171: the NASA / 802.11 code).
const G: [u32; 2] = [0o133, 0o171];
/// Coded bits on the channel: 2 * (64 + 6).
pub const CODED_BITS: usize = 2 * (MESSAGE_BITS + TAIL);

/// What the watermark says: which generator made the clip, and a hash of the clip's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Payload {
    /// Which generator (model / deployment) made the clip.
    pub generator: u16,
    /// The first 32 bits of SHA-256 of the clip's id (see [`Payload::from_clip_id`]).
    pub clip_hash: u32,
}

impl Payload {
    pub fn new(generator: u16, clip_hash: u32) -> Self {
        Payload {
            generator,
            clip_hash,
        }
    }

    /// A payload for `clip_id` (any string: a UUID, a manifest id, a file digest).
    pub fn from_clip_id(generator: u16, clip_id: &str) -> Self {
        let digest = Sha256::digest(clip_id.as_bytes());
        let clip_hash = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        Payload::new(generator, clip_hash)
    }

    /// The six payload bytes, big-endian: generator, then clip hash.
    pub fn to_bytes(&self) -> [u8; 6] {
        let g = self.generator.to_be_bytes();
        let c = self.clip_hash.to_be_bytes();
        [g[0], g[1], c[0], c[1], c[2], c[3]]
    }

    pub fn from_bytes(b: [u8; 6]) -> Self {
        Payload::new(
            u16::from_be_bytes([b[0], b[1]]),
            u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
        )
    }

    /// Payload bits then CRC bits, most significant first.
    pub fn message_bits(&self) -> [u8; MESSAGE_BITS] {
        let bytes = self.to_bytes();
        let crc = crc16(&bytes).to_be_bytes();
        let mut out = [0u8; MESSAGE_BITS];
        for (i, byte) in bytes.iter().chain(crc.iter()).enumerate() {
            for b in 0..8 {
                out[i * 8 + b] = (byte >> (7 - b)) & 1;
            }
        }
        out
    }

    /// The coded bits the watermark carries for this payload: [`Payload::message_bits`]
    /// convolutionally coded with a zero tail ([`CODED_BITS`] of them).
    pub fn coded_bits(&self) -> Vec<u8> {
        conv_encode(&self.message_bits())
    }

    /// The payload in `bits` if its CRC matches.
    pub fn from_message_bits(bits: &[u8]) -> Option<Payload> {
        if bits.len() != MESSAGE_BITS {
            return None;
        }
        let mut bytes = [0u8; 8];
        for (i, bit) in bits.iter().enumerate() {
            bytes[i / 8] |= (bit & 1) << (7 - i % 8);
        }
        let payload = [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]];
        (crc16(&payload) == u16::from_be_bytes([bytes[6], bytes[7]]))
            .then(|| Payload::from_bytes(payload))
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "generator {:#06x}, clip {:#010x}",
            self.generator, self.clip_hash
        )
    }
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn parity(x: u32) -> u8 {
    (x.count_ones() & 1) as u8
}

/// Convolutionally encodes `bits` (plus a zero tail): two output bits per input bit.
pub fn conv_encode(bits: &[u8]) -> Vec<u8> {
    let mut state: u32 = 0;
    let mut out = Vec::with_capacity(2 * (bits.len() + TAIL));
    for &b in bits.iter().chain([0u8; TAIL].iter()) {
        let reg = (u32::from(b & 1) << (K - 1)) | state;
        out.push(parity(reg & G[0]));
        out.push(parity(reg & G[1]));
        state = reg >> 1;
    }
    out
}

/// Soft-decision Viterbi decoding of [`conv_encode`]'s output. `soft[i] > 0` favours coded
/// bit `i` being 0. Returns the `n_bits` information bits.
pub fn viterbi_decode(soft: &[f32], n_bits: usize) -> Vec<u8> {
    let steps = n_bits + TAIL;
    assert_eq!(soft.len(), 2 * steps, "soft input length");
    const STATES: usize = 1 << (K - 1);
    let mut metric = [f32::NEG_INFINITY; STATES];
    metric[0] = 0.0;
    // survivors[t][state] = (previous state, input bit)
    let mut survivors = vec![[(0u8, 0u8); STATES]; steps];
    for t in 0..steps {
        let mut next = [f32::NEG_INFINITY; STATES];
        let (s0, s1) = (soft[2 * t], soft[2 * t + 1]);
        let max_input = if t < n_bits { 1 } else { 0 };
        for (state, &m) in metric.iter().enumerate() {
            if m == f32::NEG_INFINITY {
                continue;
            }
            for b in 0..=max_input {
                let reg = ((b as u32) << (K - 1)) | state as u32;
                let o0 = parity(reg & G[0]);
                let o1 = parity(reg & G[1]);
                let gain = if o0 == 0 { s0 } else { -s0 } + if o1 == 0 { s1 } else { -s1 };
                let ns = (reg >> 1) as usize;
                if m + gain > next[ns] {
                    next[ns] = m + gain;
                    survivors[t][ns] = (state as u8, b as u8);
                }
            }
        }
        metric = next;
    }
    let mut state = 0usize;
    let mut bits = vec![0u8; steps];
    for t in (0..steps).rev() {
        let (prev, b) = survivors[t][state];
        bits[t] = b;
        state = prev as usize;
    }
    bits.truncate(n_bits);
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn message_round_trip_and_check() {
        let p = Payload::from_clip_id(0x1234, "clip-42");
        let mut bits = p.message_bits();
        assert_eq!(Payload::from_message_bits(&bits), Some(p));
        bits[5] ^= 1;
        assert_eq!(Payload::from_message_bits(&bits), None);
    }

    #[test]
    fn viterbi_corrects_errors() {
        let p = Payload::new(0xBEEF, 0xDEADBEEF);
        let bits = p.message_bits();
        let coded = conv_encode(&bits);
        assert_eq!(coded.len(), CODED_BITS);
        let mut soft: Vec<f32> = coded
            .iter()
            .map(|&c| if c == 0 { 1.0 } else { -1.0 })
            .collect();
        for i in [3, 20, 41, 77, 100, 131] {
            soft[i] = -soft[i];
        }
        assert_eq!(viterbi_decode(&soft, MESSAGE_BITS), bits.to_vec());
    }

    /// The rate at which random decodes pass the CRC, with the content taken out: i.i.d.
    /// Gaussian soft values through the Viterbi decoder and the CRC (the detector's
    /// false-positive rate assumes 2^-16). Statistical and slow (10^7 decodes by default,
    /// `CRC_RATE_DECODES` overrides), so ignored by default:
    /// `cargo test --release -p kino-provenance --lib crc_pass_rate -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn crc_pass_rate_of_random_decodes() {
        let n: u64 = std::env::var("CRC_RATE_DECODES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        let mut state = 0x5EED_u64;
        let mut uniform = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut passes = 0u64;
        let mut soft = vec![0.0f32; CODED_BITS];
        for _ in 0..n {
            for pair in soft.chunks_mut(2) {
                // Box-Muller: two standard normals.
                let (u, v) = (uniform().max(1e-300), uniform());
                let r = (-2.0 * u.ln()).sqrt();
                let a = std::f64::consts::TAU * v;
                pair[0] = (r * a.cos()) as f32;
                pair[1] = (r * a.sin()) as f32;
            }
            let bits = viterbi_decode(&soft, MESSAGE_BITS);
            passes += u64::from(Payload::from_message_bits(&bits).is_some());
        }
        let expected = n as f64 / f64::from(1u32 << CRC_BITS);
        println!(
            "{n} random decodes: {passes} CRC passes, {expected:.1} expected at 2^-16 \
             (+- {:.1}); rate {:.3}x 2^-16",
            expected.sqrt(),
            passes as f64 / expected
        );
        assert!(
            (passes as f64 - expected).abs() <= 4.0 * expected.sqrt() + 1.0,
            "{passes} passes, {expected:.1} expected"
        );
    }
}
