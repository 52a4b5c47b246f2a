//! Physics invariants, audio onsets and determinism.

use kino_world::audio::{onset_sample, sound_with, SoundOptions};
use kino_world::sim::{simulate, ContactWith, MIN_IMPACT_SPEED};
use kino_world::vocab::*;
use kino_world::{ObjectSpec, SceneSpec};

fn ball_drop(floor: Floor, height: f32) -> SceneSpec {
    let mut spec = SceneSpec::new(vec![ObjectSpec::dropped(
        Kind::Ball,
        Colour::Red,
        Size::Medium,
        0.0,
        height,
    )]);
    spec.floor = floor;
    spec.duration_s = 3.0;
    spec
}

/// Least-squares fit of y = a + b t + c t^2; returns (2c, R^2).
fn fit_parabola(ts: &[f64], ys: &[f64]) -> (f64, f64) {
    let n = ts.len() as f64;
    let (mut s, mut m) = ([0.0f64; 5], [0.0f64; 3]);
    for (t, y) in ts.iter().zip(ys) {
        for (k, v) in s.iter_mut().enumerate() {
            *v += t.powi(k as i32);
        }
        for (k, v) in m.iter_mut().enumerate() {
            *v += y * t.powi(k as i32);
        }
    }
    let a = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
    let det = |a: [[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det(a);
    let mut coef = [0.0; 3];
    for (k, c) in coef.iter_mut().enumerate() {
        let mut b = a;
        for r in 0..3 {
            b[r][k] = m[r];
        }
        *c = det(b) / d;
    }
    let mean = ys.iter().sum::<f64>() / n;
    let ss_tot: f64 = ys.iter().map(|y| (y - mean).powi(2)).sum();
    let ss_res: f64 = ts
        .iter()
        .zip(ys)
        .map(|(t, y)| (y - coef[0] - coef[1] * t - coef[2] * t * t).powi(2))
        .sum();
    (2.0 * coef[2], 1.0 - ss_res / ss_tot)
}

#[test]
fn dropped_ball_falls_with_the_scenes_gravity() {
    for g in [9.81f32, 3.7] {
        let mut spec = ball_drop(Floor::Wood, 2.5);
        spec.gravity = g;
        let sim = simulate(&spec);
        let first = sim.contacts.first().expect("the ball lands").time_s;
        let (ts, ys): (Vec<f64>, Vec<f64>) = sim
            .states
            .iter()
            .enumerate()
            .map(|(k, s)| (k as f64 * sim.dt, s[0].y as f64))
            .filter(|(t, _)| *t < first - 0.01)
            .unzip();
        let (accel, r2) = fit_parabola(&ts, &ys);
        assert!(r2 > 0.9999, "free fall R^2 {r2}");
        assert!(
            (-accel - g as f64).abs() / (g as f64) < 0.01,
            "fitted g {} vs {g}",
            -accel
        );
        // Landing time matches free fall from 2.3 m of clearance.
        let expect = (2.0 * 2.3 / g as f64).sqrt();
        assert!(
            (first - expect).abs() < 0.01,
            "contact at {first}, expected {expect}"
        );
    }
}

#[test]
fn bounce_apexes_decrease_as_restitution_implies() {
    let spec = ball_drop(Floor::Metal, 2.0);
    let sim = simulate(&spec);
    let hits: Vec<f64> = sim
        .contacts
        .iter()
        .filter(|c| c.with == ContactWith::Floor && c.speed > 0.5)
        .map(|c| c.time_s)
        .collect();
    assert!(hits.len() >= 3, "expected several bounces, got {hits:?}");
    let r = Kind::Ball.half_extents(Size::Medium)[0];
    let apex: Vec<f32> = hits
        .windows(2)
        .map(|w| {
            let (a, b) = ((w[0] / sim.dt) as usize, (w[1] / sim.dt) as usize);
            sim.states[a..b]
                .iter()
                .map(|s| s[0].y - r)
                .fold(0.0, f32::max)
        })
        .collect();
    let e = expected_restitution(Kind::Ball, Floor::Metal);
    eprintln!(
        "apex {apex:?} hits {hits:?} {:?}",
        sim.contacts
            .iter()
            .map(|c| (c.time_s, c.speed))
            .collect::<Vec<_>>()
    );
    let big: Vec<f32> = apex.iter().copied().filter(|a| *a > 0.15).collect();
    assert!(big.len() >= 2, "apexes {apex:?}");
    for w in apex.windows(2) {
        assert!(w[1] < w[0], "apex must decrease: {apex:?}");
    }
    for w in big.windows(2) {
        let ratio = w[1] / w[0];
        assert!(
            (ratio - e * e).abs() < 0.12,
            "apex ratio {ratio} vs e^2 {}",
            e * e
        );
    }
    // Impact speeds decay by e per bounce too.
    let speeds: Vec<f32> = sim
        .contacts
        .iter()
        .filter(|c| c.speed > 0.5)
        .map(|c| c.speed)
        .collect();
    assert!(
        (speeds[1] / speeds[0] - e).abs() < 0.06,
        "speeds {speeds:?}, e {e}"
    );
}

#[test]
fn objects_at_rest_stay_at_rest() {
    let mut spec = SceneSpec::new(vec![
        ObjectSpec::resting(Kind::Box, Colour::Blue, Size::Large, -0.8),
        ObjectSpec::resting(Kind::Can, Colour::Green, Size::Medium, 0.6),
        ObjectSpec::resting(Kind::Ball, Colour::Red, Size::Small, 1.4),
    ]);
    spec.floor = Floor::Stone;
    let sim = simulate(&spec);
    let last = sim.states.last().unwrap();
    for (i, (s0, s1)) in sim.states[0].iter().zip(last).enumerate() {
        let d = (s1.x - s0.x).hypot(s1.y - s0.y);
        assert!(d < 0.01, "object {i} drifted {d} m");
    }
    assert!(
        sim.contacts.iter().all(|c| c.speed < 0.3),
        "resting objects made impacts: {:?}",
        sim.contacts
    );
    // And they are silent apart from ambience.
    let a = sound_with(
        &spec,
        &sim,
        16_000,
        &SoundOptions {
            impacts: true,
            rolling: true,
            ambient: false,
        },
    )
    .unwrap();
    let peak = a.samples().iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak < 0.05, "resting scene peak {peak}");
}

#[test]
fn lanterns_rise_leaves_flutter_and_water_splashes() {
    let mut spec = SceneSpec::new(vec![
        ObjectSpec::dropped(Kind::Lantern, Colour::Orange, Size::Medium, -1.0, 0.6),
        ObjectSpec::dropped(Kind::Leaf, Colour::Yellow, Size::Medium, 0.5, 2.8),
        ObjectSpec::dropped(Kind::Box, Colour::Blue, Size::Medium, 1.3, 1.5),
    ]);
    spec.floor = Floor::Water;
    let sim = simulate(&spec);
    let (s0, s1) = (&sim.states[0], sim.states.last().unwrap());
    assert!(
        s1[0].y > s0[0].y + 0.5,
        "lantern rose from {} to {}",
        s0[0].y,
        s1[0].y
    );
    // The leaf falls much slower than free fall and sways sideways.
    let t1 = (1.0 / sim.dt) as usize;
    let fall = s0[1].y - sim.states[t1][1].y;
    assert!(fall > 0.3 && fall < 2.0, "leaf fell {fall} m in 1 s");
    let xs: Vec<f32> = sim.states.iter().map(|s| s[1].x).collect();
    let sway =
        xs.iter().fold(f32::MIN, |m, v| m.max(*v)) - xs.iter().fold(f32::MAX, |m, v| m.min(*v));
    assert!(sway > 0.05, "leaf sway {sway}");
    let splash = sim
        .contacts
        .iter()
        .find(|c| c.with == ContactWith::Water && c.object == 2);
    let splash = splash.expect("the box splashes into the water");
    assert_eq!(splash.material, Material::Water);
    // It floats: it ends near the surface, not on the pool bottom.
    assert!(s1[2].y > -0.5, "box sank to {}", s1[2].y);
}

#[test]
fn impact_sound_starts_on_the_contact_sample() {
    for floor in [Floor::Wood, Floor::Metal, Floor::Grass, Floor::Stone] {
        let spec = ball_drop(floor, 1.7);
        let sim = simulate(&spec);
        let c = sim.contacts.first().unwrap();
        assert!(c.speed > MIN_IMPACT_SPEED);
        let opts = SoundOptions {
            impacts: true,
            rolling: false,
            ambient: false,
        };
        for sr in [16_000u32, 44_100] {
            let a = sound_with(&spec, &sim, sr, &opts).unwrap().to_mono();
            let x = a.samples();
            let first = x.iter().position(|v| v.abs() > 0.0).unwrap();
            let onset_s = first as f64 / sr as f64;
            let period = 1.0 / sr as f64;
            assert_eq!(first, onset_sample(c.time_s, sr));
            assert!(
                onset_s >= c.time_s - 1e-9 && onset_s - c.time_s < period,
                "{floor:?} @ {sr}: onset {onset_s} vs contact {}",
                c.time_s
            );
        }
        // The contact time itself is sub-step: within one physics step of the analytic one.
        let analytic = (2.0 * (1.7 - 0.2) / 9.81f64).sqrt();
        assert!(
            (c.time_s - analytic).abs() < sim.dt,
            "contact {} vs analytic {analytic}",
            c.time_s
        );
    }
}

fn spectral_centroid(x: &[f32], sr: f32) -> f32 {
    let n = 2048.min(x.len());
    let mut planner = realfft::RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(n);
    let mut input = x[..n].to_vec();
    let mut out = fft.make_output_vec();
    fft.process(&mut input, &mut out).unwrap();
    let (mut num, mut den) = (0.0, 0.0);
    for (k, c) in out.iter().enumerate() {
        let f = k as f32 * sr / n as f32;
        num += f * c.norm_sqr();
        den += c.norm_sqr();
    }
    num / den
}

#[test]
fn timbre_follows_material_and_loudness_follows_speed() {
    let opts = SoundOptions {
        impacts: true,
        rolling: false,
        ambient: false,
    };
    let hit = |floor: Floor, h: f32| {
        let spec = ball_drop(floor, h);
        let sim = simulate(&spec);
        let n0 = onset_sample(sim.contacts[0].time_s, 16_000);
        let a = sound_with(&spec, &sim, 16_000, &opts).unwrap().to_mono();
        a.samples()[n0..n0 + 2048].to_vec()
    };
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (low, high) = (hit(Floor::Wood, 0.6), hit(Floor::Wood, 2.5));
    assert!(
        peak(&high) > 1.5 * peak(&low),
        "louder when faster: {} vs {}",
        peak(&high),
        peak(&low)
    );
    let (wood, metal, grass) = (
        hit(Floor::Wood, 2.0),
        hit(Floor::Metal, 2.0),
        hit(Floor::Grass, 2.0),
    );
    let (cw, cm, cg) = (
        spectral_centroid(&wood, 16e3),
        spectral_centroid(&metal, 16e3),
        spectral_centroid(&grass, 16e3),
    );
    assert!(
        cm > cw && cw > cg,
        "centroids metal {cm} > wood {cw} > grass {cg}"
    );
    // Metal rings longer than wood.
    let tail = |x: &[f32]| x[1600..2048].iter().map(|v| v * v).sum::<f32>();
    assert!(tail(&metal) > 10.0 * tail(&wood));
}

#[test]
fn clips_are_deterministic_per_seed() {
    let opts = kino_world::RandomOptions {
        duration_s: 1.0,
        ..Default::default()
    };
    let a = kino_world::sample(&SceneSpec::random(7, &opts).unwrap()).unwrap();
    let b = kino_world::sample(&SceneSpec::random(7, &opts).unwrap()).unwrap();
    assert_eq!(a.video, b.video);
    assert_eq!(a.audio, b.audio);
    assert_eq!(
        serde_json::to_string(&a.truth).unwrap(),
        serde_json::to_string(&b.truth).unwrap()
    );
    assert_eq!(a.captions, b.captions);
    let c = kino_world::sample(&SceneSpec::random(8, &opts).unwrap()).unwrap();
    assert_ne!(a.video, c.video);
}

#[test]
fn renders_any_size_and_rate() {
    for (w, h, fps) in [
        (64u32, 48u32, 12u32),
        (128, 128, 24),
        (320, 180, 30),
        (1280, 720, 24),
    ] {
        let mut spec = SceneSpec::new(vec![ObjectSpec::dropped(
            Kind::Box,
            Colour::Teal,
            Size::Large,
            0.0,
            1.0,
        )]);
        spec.width = w;
        spec.height = h;
        spec.fps = fps;
        spec.duration_s = if w > 500 { 0.25 } else { 1.0 };
        spec.style.grain = 0.5;
        spec.style.vignette = 0.8;
        let sim = simulate(&spec);
        let v = kino_world::render(&spec, &sim).unwrap();
        assert_eq!((v.width(), v.height(), v.fps().num), (w, h, fps));
        assert_eq!(v.len(), spec.frame_count());
        // Not blank: the sky and the object differ.
        let f = v.frame_rgb(0).unwrap();
        let distinct: std::collections::HashSet<&[u8]> = f.chunks_exact(3).collect();
        assert!(distinct.len() > 20);
    }
}

#[test]
fn bad_specs_are_errors_that_name_the_field() {
    let base = SceneSpec::new(vec![ObjectSpec::dropped(
        Kind::Ball,
        Colour::Red,
        Size::Small,
        0.0,
        1.0,
    )]);
    type Edit = Box<dyn Fn(&mut SceneSpec)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("fps", Box::new(|s| s.fps = 0)),
        ("width", Box::new(|s| s.width = 0)),
        ("duration_s", Box::new(|s| s.duration_s = f32::NAN)),
        ("gravity", Box::new(|s| s.gravity = -1.0)),
        ("objects", Box::new(|s| s.objects.clear())),
        (
            "objects[0]",
            Box::new(|s| s.objects[0].position[0] = f32::INFINITY),
        ),
        ("shots", Box::new(|s| s.shots.clear())),
        ("sample_rate", Box::new(|s| s.sample_rate = 100)),
    ];
    for (field, f) in cases {
        let mut s = base.clone();
        f(&mut s);
        let e = kino_world::sample(&s).expect_err(field).to_string();
        assert!(e.contains(field), "{e} should name {field}");
    }
}

#[test]
fn shortening_a_clip_keeps_its_shots_inside() {
    let mut spec = kino_world::scene_from_prompt(
        "a red ball falls onto grass, static wide shot, then cuts to a slow pan left",
    )
    .unwrap();
    assert_eq!(spec.shots.len(), 2);
    spec.set_duration(0.8);
    spec.validate().unwrap();
    assert!((spec.shots[1].start_s - 0.4).abs() < 1e-6);
}
