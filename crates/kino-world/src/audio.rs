//! Sound: modal-synthesis impacts (timbre from the materials, loudness from the impact speed,
//! onset at the contact time to the sample), rolling/sliding noise, and ambient beds by place,
//! weather and time of day.

use crate::camera::camera_at;
use crate::error::{Result, WorldError};
use crate::rng::Rng;
use crate::sim::{Contact, Simulation};
use crate::spec::SceneSpec;
use crate::vocab::{Floor, Kind, Material, TimeOfDay, Weather};
use kino_media::AudioBuffer;
use serde::{Deserialize, Serialize};

/// Which layers [`sound_with`] mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoundOptions {
    pub impacts: bool,
    pub rolling: bool,
    pub ambient: bool,
}

impl Default for SoundOptions {
    fn default() -> Self {
        SoundOptions {
            impacts: true,
            rolling: true,
            ambient: true,
        }
    }
}

/// One resonant mode: frequency (Hz), decay time constant (s), amplitude.
type Mode = (f32, f32, f32);

/// The modes of a struck material.
pub fn modes(material: Material) -> &'static [Mode] {
    match material {
        Material::Wood => &[
            (180.0, 0.05, 1.0),
            (410.0, 0.035, 0.6),
            (930.0, 0.02, 0.4),
            (1800.0, 0.012, 0.25),
        ],
        Material::Stone => &[
            (620.0, 0.018, 0.8),
            (1450.0, 0.012, 0.6),
            (2900.0, 0.008, 0.5),
            (4300.0, 0.005, 0.3),
        ],
        Material::Grass => &[(90.0, 0.03, 0.9), (160.0, 0.02, 0.4)],
        Material::Metal => &[
            (523.0, 0.35, 0.7),
            (1392.0, 0.28, 0.5),
            (2615.0, 0.2, 0.4),
            (3980.0, 0.15, 0.3),
            (5600.0, 0.1, 0.2),
        ],
        Material::Water => &[(320.0, 0.03, 0.3)],
        Material::Rubber => &[(140.0, 0.04, 1.0), (300.0, 0.02, 0.3)],
        Material::Glass => &[
            (1800.0, 0.12, 0.6),
            (4100.0, 0.08, 0.4),
            (6300.0, 0.05, 0.3),
        ],
        Material::Paper => &[(300.0, 0.01, 0.3)],
    }
}

/// How much broadband "click" noise a strike of the material has, and its decay (s).
fn click(material: Material) -> (f32, f32) {
    match material {
        Material::Stone => (0.6, 0.003),
        Material::Grass => (0.5, 0.012),
        Material::Water => (0.9, 0.09),
        Material::Metal => (0.3, 0.002),
        Material::Glass => (0.3, 0.002),
        Material::Paper => (0.4, 0.008),
        _ => (0.25, 0.002),
    }
}

/// The first audio sample at or after the contact time: the impact's onset.
pub fn onset_sample(time_s: f64, sample_rate: u32) -> usize {
    (time_s * sample_rate as f64 - 1e-9).ceil().max(0.0) as usize
}

/// Peak amplitude of an impact at `speed` m/s.
pub fn impact_gain(speed: f32) -> f32 {
    (0.75 * (speed / 6.0).powf(0.9)).clamp(0.0, 0.8)
}

/// The clip's sound (stereo, objects panned by their place in the frame).
pub fn sound(spec: &SceneSpec, sim: &Simulation, sample_rate: u32) -> Result<AudioBuffer> {
    sound_with(spec, sim, sample_rate, &SoundOptions::default())
}

/// Like [`sound`] with chosen layers.
pub fn sound_with(
    spec: &SceneSpec,
    sim: &Simulation,
    sample_rate: u32,
    opts: &SoundOptions,
) -> Result<AudioBuffer> {
    if !(8_000..=96_000).contains(&sample_rate) {
        return Err(WorldError::option(
            "sample_rate",
            format!("{sample_rate} Hz; must be 8000..=96000"),
        ));
    }
    let sr = sample_rate as f32;
    let n = (spec.duration_s as f64 * sample_rate as f64).round() as usize;
    let mut left = vec![0.0f32; n];
    let mut right = vec![0.0f32; n];
    if opts.impacts {
        for (ci, c) in sim.contacts.iter().enumerate() {
            impact(spec, c, ci, sample_rate, &mut left, &mut right);
        }
    }
    if opts.rolling {
        rolling(spec, sim, sample_rate, &mut left, &mut right);
    }
    if opts.ambient {
        ambient(spec, sr, &mut left, &mut right);
    }
    let mut inter = Vec::with_capacity(2 * n);
    for (l, r) in left.iter().zip(&right) {
        inter.push(l.clamp(-1.0, 1.0));
        inter.push(r.clamp(-1.0, 1.0));
    }
    Ok(AudioBuffer::new(sample_rate, 2, inter)?)
}

fn pan_gains(spec: &SceneSpec, x: f32, t: f32) -> (f32, f32) {
    let cam = camera_at(spec, t);
    let half_w = cam.view_h * spec.width as f32 / spec.height as f32 / 2.0;
    let p = ((x - cam.cx) / half_w).clamp(-1.0, 1.0) * 0.7;
    let a = (p + 1.0) * std::f32::consts::FRAC_PI_4;
    (a.cos(), a.sin())
}

fn impact(
    spec: &SceneSpec,
    c: &Contact,
    ci: usize,
    sample_rate: u32,
    left: &mut [f32],
    right: &mut [f32],
) {
    let sr = sample_rate as f32;
    let nyquist = sr * 0.45;
    let n0 = onset_sample(c.time_s, sample_rate);
    if n0 >= left.len() {
        return;
    }
    let delta = (n0 as f64 / sample_rate as f64 - c.time_s) as f32;
    let obj = &spec.objects[c.object];
    let size_gain = 0.6 + 0.4 * obj.size.scale().min(1.2);
    let amp = impact_gain(c.speed) * size_gain;
    let pitch = match obj.size {
        crate::vocab::Size::Small => 1.35,
        crate::vocab::Size::Medium => 1.0,
        crate::vocab::Size::Large => 0.75,
    };
    let surface = modes(c.material);
    let own = modes(c.object_material);
    let (click_a, click_tau) = click(c.material);
    let mut longest = click_tau * 6.0;
    for m in surface.iter().chain(own) {
        longest = longest.max(m.1 * 5.0);
    }
    let len = ((longest * sr) as usize).min(left.len() - n0);
    let (gl, gr) = pan_gains(spec, c.position[0], c.time_s as f32);
    let mut rng = Rng::stream(spec.seed, 10_000 + ci as u64);
    // Bubbles for splashes.
    let bubbles: Vec<(f32, f32)> = if c.material == Material::Water {
        (0..6)
            .map(|_| (rng.range(0.01, 0.2), rng.range(500.0, 1100.0)))
            .collect()
    } else {
        Vec::new()
    };
    // Each mode is a damped complex oscillator: z <- z * r e^{i w}, output a * Im(z).
    let mut osc: Vec<[f64; 5]> = Vec::new(); // re, im, step_re, step_im, amp
    let mut add_mode = |f: f32, d: f32, a: f32| {
        if f >= nyquist {
            return;
        }
        let w = std::f64::consts::TAU * f as f64;
        let tau0 = delta as f64;
        let mag0 = (-tau0 / d as f64).exp();
        let r = (-1.0 / (d as f64 * sr as f64)).exp();
        let step = w / sr as f64;
        osc.push([
            mag0 * (w * tau0).cos(),
            mag0 * (w * tau0).sin(),
            r * step.cos(),
            r * step.sin(),
            a as f64,
        ]);
    };
    for &(f, d, a) in surface {
        add_mode(f, d, 0.6 * a);
    }
    for &(f, d, a) in own {
        add_mode(f * pitch, d, 0.4 * a);
    }
    let click_r = (-1.0 / (click_tau * sr)).exp();
    let mut env = (-delta / click_tau).exp();
    let mut lp = 0.0f32;
    for k in 0..len {
        let tau = k as f32 / sr + delta;
        if k % 256 == 255 {
            // Drop modes that have died away.
            osc.retain(|o| (o[0] * o[0] + o[1] * o[1]).sqrt() * o[4] > 1e-5);
            if osc.is_empty() && env < 1e-5 && bubbles.is_empty() {
                break;
            }
        }
        let mut s = 0.0f32;
        for o in osc.iter_mut() {
            s += (o[4] * o[1]) as f32;
            let (re, im) = (o[0] * o[2] - o[1] * o[3], o[0] * o[3] + o[1] * o[2]);
            o[0] = re;
            o[1] = im;
        }
        let white = rng.range(-1.0, 1.0);
        let noise = if matches!(c.material, Material::Grass | Material::Water) {
            lp += 0.12 * (white - lp);
            lp * 3.0
        } else {
            white
        };
        // The click starts at full strength on the onset sample.
        s += click_a * env * if k == 0 { 1.0 } else { noise };
        env *= click_r;
        for &(start, f0) in &bubbles {
            let bt = tau - start;
            if bt > 0.0 && bt < 0.06 {
                let f = f0 * (1.0 + 8.0 * bt);
                let e = (bt / 0.004).min(1.0) * (-bt / 0.02).exp();
                s += 0.25 * e * (std::f32::consts::TAU * f * bt).sin();
            }
        }
        let v = amp * s;
        left[n0 + k] += v * gl;
        right[n0 + k] += v * gr;
    }
}

fn rolling(
    spec: &SceneSpec,
    sim: &Simulation,
    sample_rate: u32,
    left: &mut [f32],
    right: &mut [f32],
) {
    let sr = sample_rate as f32;
    let floor_gain = match spec.floor {
        Floor::Wood => 1.0,
        Floor::Stone => 1.2,
        Floor::Grass => 0.5,
        Floor::Metal => 1.1,
        Floor::Water => 0.0,
    };
    if floor_gain == 0.0 {
        return;
    }
    for (i, o) in spec.objects.iter().enumerate() {
        if !o.kind.is_rigid_faller() && o.kind != Kind::Leaf {
            continue;
        }
        let mut rng = Rng::stream(spec.seed, 20_000 + i as u64);
        let (mut lp1, mut lp2) = (0.0f32, 0.0f32);
        let mut env = 0.0f32;
        let mut gains = (0.707f32, 0.707f32);
        let mut next_pan = 0usize;
        let per_step = sample_rate as f64 * sim.dt;
        let k_env = (1.0 / (0.01 * sr)).min(1.0);
        for k in 0..left.len() {
            let t = k as f64 / sample_rate as f64;
            let step = ((k as f64 / per_step) as usize).min(sim.states.len() - 1);
            let st = &sim.states[step][i];
            let target = 0.035 * floor_gain * st.ground_speed.min(3.0);
            if target == 0.0 && env < 1e-5 {
                env = 0.0;
                continue;
            }
            env += (target - env) * k_env;
            if env < 1e-5 {
                continue;
            }
            let white = rng.range(-1.0, 1.0);
            // Rolling rumbles (low), sliding hisses (brighter).
            let a = if st.sliding { 0.35 } else { 0.06 };
            lp1 += a * (white - lp1);
            lp2 += a * (lp1 - lp2);
            let v = env * lp2 * if st.sliding { 2.5 } else { 6.0 };
            if k >= next_pan {
                gains = pan_gains(spec, st.x, t as f32);
                next_pan = k + 512;
            }
            left[k] += v * gains.0.max(0.5);
            right[k] += v * gains.1.max(0.5);
        }
    }
}

fn ambient(spec: &SceneSpec, sr: f32, left: &mut [f32], right: &mut [f32]) {
    let n = left.len();
    let mut rng = Rng::stream(spec.seed, 30_000);
    let tod = spec.time_of_day;
    let wind_amp = match (tod, spec.floor) {
        (_, Floor::Grass) => 0.02,
        (TimeOfDay::Dusk, _) => 0.014,
        _ => 0.01,
    };
    let (mut w1, mut w2, mut w3) = (0.0f32, 0.0f32, 0.0f32);
    let mut hp_prev = 0.0f32;
    let mut rain_lp = 0.0f32;
    let ph = rng.range(0.0, std::f32::consts::TAU);
    let mut swell = 0.6f32;
    for k in 0..n {
        let t = k as f32 / sr;
        let white = rng.range(-1.0, 1.0);
        let white2 = rng.range(-1.0, 1.0);
        // Wind: slow-swelling low noise.
        w1 += 0.02 * (white - w1);
        w2 += 0.02 * (w1 - w2);
        if k % 256 == 0 {
            swell = 0.6 + 0.4 * (std::f32::consts::TAU * 0.15 * t + ph).sin();
        }
        let wind = wind_amp * 8.0 * w2 * swell;
        let mut l = wind;
        let mut r = wind * 0.9;
        if spec.weather == Weather::Rain {
            let hp = white2 - hp_prev;
            hp_prev = white2;
            rain_lp += 0.5 * (hp - rain_lp);
            l += 0.02 * rain_lp;
            r += 0.02 * hp;
        }
        if spec.floor == Floor::Water {
            w3 += 0.05 * (white2 - w3);
            let lap = 0.012 * 4.0 * w3 * (0.7 + 0.3 * (std::f32::consts::TAU * 0.4 * t).sin());
            l += lap;
            r += lap;
        }
        left[k] += l;
        right[k] += r;
    }
    // Birds at dawn (a few at noon), crickets at dusk and night.
    let birds = match tod {
        TimeOfDay::Dawn => 3.0,
        TimeOfDay::Noon => 0.6,
        _ => 0.0,
    };
    let duration = n as f32 / sr;
    let count = (birds * duration).round() as usize;
    for _ in 0..count {
        let start = rng.range(0.0, duration);
        let len = rng.range(0.08, 0.16);
        let f0 = rng.range(2500.0, 3500.0).min(sr * 0.4);
        let f1 = (f0 * rng.range(1.1, 1.4)).min(sr * 0.45);
        let pan = rng.range(0.2, 0.8);
        let s0 = (start * sr) as usize;
        let m = (len * sr) as usize;
        let mut phase = 0.0f32;
        for k in 0..m {
            if s0 + k >= n {
                break;
            }
            let u = k as f32 / m as f32;
            let env = (std::f32::consts::PI * u).sin().powi(2);
            phase += std::f32::consts::TAU * (f0 + (f1 - f0) * u) / sr;
            let v = 0.018 * env * phase.sin();
            left[s0 + k] += v * (1.0 - pan);
            right[s0 + k] += v * pan;
        }
    }
    if matches!(tod, TimeOfDay::Dusk | TimeOfDay::Night) {
        let carrier = 4500.0f32.min(sr * 0.4);
        let amp = if tod == TimeOfDay::Night {
            0.012
        } else {
            0.008
        };
        let step = std::f32::consts::TAU * carrier / sr;
        let (cs, sn) = (step.cos(), step.sin());
        let (mut re, mut im) = (1.0f32, 0.0f32);
        for k in 0..n {
            let t = k as f32 / sr;
            // Chirps of three pulses every 0.45 s, smooth envelopes.
            let cyc = (t / 0.45).fract() * 0.45;
            let (nre, nim) = (re * cs - im * sn, re * sn + im * cs);
            re = nre;
            im = nim;
            if k % 4096 == 0 {
                let m = (re * re + im * im).sqrt().max(1e-6);
                re /= m;
                im /= m;
            }
            if cyc >= 0.1 {
                continue;
            }
            let env = (std::f32::consts::PI * cyc / 0.1).sin()
                * (0.5 + 0.5 * (std::f32::consts::TAU * 30.0 * cyc).cos());
            let v = amp * env * im;
            left[k] += v * 0.8;
            right[k] += v;
        }
    }
}
