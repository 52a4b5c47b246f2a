//! Rendering with tiny-skia: sky gradient, sun or moon and stars, parallax hills, textured
//! floor or water, soft shadows, shaded objects, rain, splashes, vignette and grain.

use crate::camera::{camera_at, CameraState};
use crate::error::{Result, WorldError};
use crate::rng::hash01;
use crate::sim::{ContactWith, Simulation};
use crate::spec::SceneSpec;
use crate::vocab::{Floor, Kind, TimeOfDay, Weather};
use kino_media::{PixelFormat, Rational, VideoFrames};
use tiny_skia::{
    Color, FillRule, GradientStop, Paint, PathBuilder, Pixmap, Point, RadialGradient, Rect,
    SpreadMode, Stroke, Transform,
};

fn rgba(c: [f32; 3], a: f32) -> Color {
    Color::from_rgba(
        c[0].clamp(0.0, 1.0),
        c[1].clamp(0.0, 1.0),
        c[2].clamp(0.0, 1.0),
        a.clamp(0.0, 1.0),
    )
    .unwrap_or(Color::BLACK)
}

fn mul(c: [f32; 3], k: [f32; 3]) -> [f32; 3] {
    [c[0] * k[0], c[1] * k[1], c[2] * k[2]]
}
fn scale(c: [f32; 3], k: f32) -> [f32; 3] {
    [c[0] * k, c[1] * k, c[2] * k]
}
fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn solid(c: [f32; 3], a: f32) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(rgba(c, a));
    p.anti_alias = true;
    p
}

/// World-to-pixel transform for a camera, with an optional parallax factor (1 = on the
/// action plane, 0 = at infinity).
fn world_transform(cam: &CameraState, w: u32, h: u32, parallax: f32) -> Transform {
    let s = cam.scale(h);
    let cx = cam.cx * parallax;
    let cy = cam.cy * parallax + (1.0 - parallax) * 1.55;
    Transform::from_row(
        s,
        0.0,
        0.0,
        -s,
        w as f32 / 2.0 - s * cx,
        h as f32 / 2.0 + s * cy,
    )
}

/// The world x-range a layer with `parallax` shows (with a margin).
fn visible_x(cam: &CameraState, w: u32, h: u32, parallax: f32) -> (f32, f32) {
    let half = w as f32 / 2.0 / cam.scale(h);
    let c = cam.cx * parallax;
    (c - half - 0.6, c + half + 0.6)
}

/// Renders every frame of the clip as RGB8.
pub fn render(spec: &SceneSpec, sim: &Simulation) -> Result<VideoFrames> {
    spec.validate()?;
    let (w, h) = (spec.width, spec.height);
    let fps = Rational::integer(spec.fps)?;
    let mut frames = VideoFrames::new(w, h, fps, PixelFormat::Rgb8)?;
    let mut pixmap = Pixmap::new(w, h)
        .ok_or_else(|| WorldError::Render(format!("cannot allocate a {w}x{h} canvas")))?;
    let post = Post::new(spec);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    for i in 0..spec.frame_count() {
        let t = i as f32 / spec.fps as f32;
        draw_frame(&mut pixmap, spec, sim, t);
        post.apply(pixmap.data(), &mut rgb, i as u64);
        frames.push(&rgb)?;
    }
    Ok(frames)
}

struct Post {
    vignette: Vec<f32>,
    grain: f32,
    seed: u64,
}

impl Post {
    fn new(spec: &SceneSpec) -> Post {
        let (w, h) = (spec.width as usize, spec.height as usize);
        let v = spec.style.vignette;
        let vignette = if v > 0.0 {
            let mut out = Vec::with_capacity(w * h);
            for y in 0..h {
                for x in 0..w {
                    let dx = (x as f32 + 0.5) / w as f32 * 2.0 - 1.0;
                    let dy = (y as f32 + 0.5) / h as f32 * 2.0 - 1.0;
                    let r2 = (dx * dx + dy * dy) / 2.0;
                    out.push(1.0 - v * 0.55 * r2 * r2.sqrt());
                }
            }
            out
        } else {
            Vec::new()
        };
        Post {
            vignette,
            grain: spec.style.grain,
            seed: spec.seed,
        }
    }

    fn apply(&self, rgba: &[u8], rgb: &mut [u8], frame: u64) {
        let plain = self.vignette.is_empty() && self.grain <= 0.0;
        let mut state = self.seed ^ frame.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
        for (p, (src, dst)) in rgba
            .chunks_exact(4)
            .zip(rgb.chunks_exact_mut(3))
            .enumerate()
        {
            if plain {
                dst.copy_from_slice(&src[..3]);
                continue;
            }
            let k = self.vignette.get(p).copied().unwrap_or(1.0);
            let n = if self.grain > 0.0 {
                // xorshift per pixel: cheap deterministic grain.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * self.grain * 22.0
            } else {
                0.0
            };
            for c in 0..3 {
                dst[c] = (src[c] as f32 * k + n).clamp(0.0, 255.0) as u8;
            }
        }
    }
}

fn draw_frame(pm: &mut Pixmap, spec: &SceneSpec, sim: &Simulation, t: f32) {
    let (w, h) = (spec.width, spec.height);
    let cam = camera_at(spec, t);
    let tod = spec.time_of_day;
    let light = tod.light();
    let full = Rect::from_xywh(0.0, 0.0, w as f32, h as f32);

    // Sky.
    let (horizon, top) = tod.sky();
    let sky_t = world_transform(&cam, w, h, 0.3);
    let mut p0 = Point::from_xy(0.0, 0.0);
    let mut p1 = Point::from_xy(0.0, 6.0);
    sky_t.map_point(&mut p0);
    sky_t.map_point(&mut p1);
    // A vertical gradient, written row by row (much cheaper than a gradient shader).
    let (y0, y1) = (p0.y, p1.y);
    let row_len = w as usize * 4;
    for (row, px) in pm.data_mut().chunks_exact_mut(row_len).enumerate() {
        let t = if (y1 - y0).abs() < 1e-6 {
            0.0
        } else {
            ((row as f32 + 0.5 - y0) / (y1 - y0)).clamp(0.0, 1.0)
        };
        let c = mix(horizon, top, t);
        let rgba = [
            (c[0].clamp(0.0, 1.0) * 255.0 + 0.5) as u8,
            (c[1].clamp(0.0, 1.0) * 255.0 + 0.5) as u8,
            (c[2].clamp(0.0, 1.0) * 255.0 + 0.5) as u8,
            255,
        ];
        for p in px.chunks_exact_mut(4) {
            p.copy_from_slice(&rgba);
        }
    }
    let _ = full;

    // Sun / moon and stars, far away.
    let far = world_transform(&cam, w, h, 0.15);
    if tod == TimeOfDay::Night {
        let (lo, hi) = visible_x(&cam, w, h, 0.15);
        let mut stars = PathBuilder::new();
        for i in 0..40u64 {
            let x = hash01(spec.seed, 300 + i) * 16.0 - 8.0;
            if x < lo || x > hi {
                continue;
            }
            let y = 1.0 + hash01(spec.seed, 400 + i) * 6.0;
            let r = 0.012 + 0.012 * hash01(spec.seed, 600 + i);
            stars.push_circle(x, y, r);
        }
        if let Some(path) = stars.finish() {
            pm.fill_path(
                &path,
                &solid([0.85, 0.85, 0.8], 1.0),
                FillRule::Winding,
                far,
                None,
            );
        }
    }
    let (sun_pos, sun_col, sun_r) = match tod {
        TimeOfDay::Dawn => ([-2.2, 0.5], [1.0, 0.93, 0.8], 0.28),
        TimeOfDay::Noon => ([1.2, 4.6], [1.0, 1.0, 0.92], 0.24),
        TimeOfDay::Dusk => ([2.2, 0.45], [1.0, 0.85, 0.7], 0.32),
        TimeOfDay::Night => ([1.4, 3.9], [0.92, 0.93, 0.88], 0.2),
    };
    glow(pm, far, sun_pos[0], sun_pos[1], sun_r * 3.0, sun_col, 0.25);
    fill_circle(pm, far, sun_pos[0], sun_pos[1], sun_r, sun_col, 1.0);

    // Hills at mid distance.
    let mid = world_transform(&cam, w, h, 0.5);
    let hill_col = mix(horizon, scale(spec.floor.rgb(), 0.5), 0.45);
    let grey = (hill_col[0] + hill_col[1] + hill_col[2]) / 3.0;
    let hill_col = mix(hill_col, [grey, grey, grey], 0.6);
    let ph = hash01(spec.seed, 11) * 6.0;
    let mut pb = PathBuilder::new();
    let (lo, hi) = visible_x(&cam, w, h, 0.5);
    let x0 = (lo / 0.2).floor() * 0.2;
    pb.move_to(x0, -0.5);
    let mut x = x0;
    while x <= hi + 0.2 {
        let y = 0.35 + 0.22 * (x * 0.9 + ph).sin() + 0.12 * (x * 2.3 + 2.0 * ph).sin();
        pb.line_to(x, y);
        x += 0.2;
    }
    pb.line_to(x, -0.5);
    pb.close();
    if let Some(path) = pb.finish() {
        pm.fill_path(
            &path,
            &solid(mul(hill_col, light), 1.0),
            FillRule::Winding,
            mid,
            None,
        );
    }

    // Clouds drift far away; a fence stands between the hills and the action. Both give
    // the picture texture that camera moves can be measured on.
    let cloud_t = world_transform(&cam, w, h, 0.3);
    let cloud_col = mix(
        top,
        [1.0, 1.0, 1.0],
        if tod == TimeOfDay::Night { 0.15 } else { 0.6 },
    );
    let mut clouds = PathBuilder::new();
    let (lo, hi) = visible_x(&cam, w, h, 0.3);
    for i in 0..14u64 {
        let x = hash01(spec.seed, 1200 + i) * 14.0 - 7.0;
        let y = 2.2 + hash01(spec.seed, 1300 + i) * 3.0;
        let r = 0.25 + 0.3 * hash01(spec.seed, 1400 + i);
        if x + 2.0 * r < lo || x - 2.0 * r > hi {
            continue;
        }
        for k in 0..3 {
            let dx = (k as f32 - 1.0) * r * 0.8;
            let dy = if k == 1 { r * 0.35 } else { 0.0 };
            clouds.push_circle(x + dx, y + dy, r * (0.7 + 0.15 * k as f32));
        }
    }
    if let Some(path) = clouds.finish() {
        pm.fill_path(
            &path,
            &solid(cloud_col, 0.55),
            FillRule::Winding,
            cloud_t,
            None,
        );
    }
    let fence_t = world_transform(&cam, w, h, 0.75);
    let fence_col = mul(
        mix(scale(spec.floor.rgb(), 0.45), [0.3, 0.3, 0.3], 0.6),
        light,
    );
    let mut pb = PathBuilder::new();
    let (lo, hi) = visible_x(&cam, w, h, 0.75);
    for k in ((lo / 0.45).floor() as i32 - 1)..=((hi / 0.45).ceil() as i32 + 1) {
        let x = k as f32 * 0.45 + 0.1 * (k as f32 * 1.7).sin();
        if let Some(r) = Rect::from_xywh(x - 0.03, 0.0, 0.06, 0.4 + 0.08 * (k as f32 * 2.3).cos()) {
            pb.push_rect(r);
        }
    }
    if let Some(r) = Rect::from_ltrb(lo, 0.26, hi, 0.295) {
        pb.push_rect(r);
    }
    if let Some(path) = pb.finish() {
        pm.fill_path(
            &path,
            &solid(fence_col, 1.0),
            FillRule::Winding,
            fence_t,
            None,
        );
    }

    let near = world_transform(&cam, w, h, 1.0);
    draw_floor(pm, spec, near, light, visible_x(&cam, w, h, 1.0));

    // Shadows.
    if spec.floor != Floor::Water {
        for (i, o) in spec.objects.iter().enumerate() {
            let s = sim.state_at(t as f64, i);
            let [hw, hh] = o.kind.half_extents(o.size);
            let height = (s.y - hh).max(0.0);
            let alpha = 0.4 * (-height / 1.2).exp();
            if alpha < 0.02 {
                continue;
            }
            let sx = s.x + tod.sun_x() * 0.25 * height;
            let rx = hw * (1.1 + 0.25 * height);
            let ry = 0.05 + 0.01 * height;
            let shader = RadialGradient::new(
                Point::from_xy(0.0, 0.0),
                Point::from_xy(0.0, 0.0),
                1.0,
                vec![
                    GradientStop::new(0.0, rgba([0.0, 0.0, 0.0], alpha)),
                    GradientStop::new(1.0, rgba([0.0, 0.0, 0.0], 0.0)),
                ],
                SpreadMode::Pad,
                Transform::identity(),
            );
            if let (Some(shader), Some(path)) = (shader, PathBuilder::from_circle(0.0, 0.0, 1.0)) {
                let paint = Paint {
                    shader,
                    anti_alias: true,
                    ..Paint::default()
                };
                let tf = near.pre_translate(sx, 0.0).pre_scale(rx, ry);
                pm.fill_path(&path, &paint, FillRule::Winding, tf, None);
            }
        }
    }

    // Objects.
    for (i, o) in spec.objects.iter().enumerate() {
        let s = sim.state_at(t as f64, i);
        let tf = near
            .pre_translate(s.x, s.y)
            .pre_rotate(s.angle.to_degrees());
        draw_object(
            pm,
            o.kind,
            o.kind.half_extents(o.size),
            mul(o.colour.rgb(), light),
            tf,
            tod,
        );
    }

    if spec.floor == Floor::Water {
        draw_water(pm, spec, sim, near, light, t, visible_x(&cam, w, h, 1.0));
    }
    if spec.weather == Weather::Rain {
        draw_rain(pm, spec, &cam, near, t);
    }
}

fn fill_circle(pm: &mut Pixmap, tf: Transform, x: f32, y: f32, r: f32, c: [f32; 3], a: f32) {
    if let Some(path) = PathBuilder::from_circle(x, y, r) {
        pm.fill_path(&path, &solid(c, a), FillRule::Winding, tf, None);
    }
}

fn glow(pm: &mut Pixmap, tf: Transform, x: f32, y: f32, r: f32, c: [f32; 3], a: f32) {
    let shader = RadialGradient::new(
        Point::from_xy(x, y),
        Point::from_xy(x, y),
        r,
        vec![
            GradientStop::new(0.0, rgba(c, a)),
            GradientStop::new(1.0, rgba(c, 0.0)),
        ],
        SpreadMode::Pad,
        Transform::identity(),
    );
    if let (Some(shader), Some(path)) = (shader, PathBuilder::from_circle(x, y, r)) {
        let paint = Paint {
            shader,
            anti_alias: true,
            ..Paint::default()
        };
        pm.fill_path(&path, &paint, FillRule::Winding, tf, None);
    }
}

fn rect_path(l: f32, t: f32, r: f32, b: f32) -> Option<tiny_skia::Path> {
    Rect::from_ltrb(l.min(r), t.min(b), l.max(r), t.max(b)).map(PathBuilder::from_rect)
}

fn draw_floor(
    pm: &mut Pixmap,
    spec: &SceneSpec,
    tf: Transform,
    light: [f32; 3],
    range: (f32, f32),
) {
    let (lo, hi) = range;
    let ks = |step: f32| ((lo / step).floor() as i32 - 1)..=((hi / step).ceil() as i32 + 1);
    if spec.floor == Floor::Water {
        return; // drawn over the objects
    }
    let base = mul(spec.floor.rgb(), light);
    if let Some(p) = rect_path(lo, -12.0, hi, 0.0) {
        pm.fill_path(&p, &solid(base, 1.0), FillRule::Winding, tf, None);
    }
    let dark = scale(base, 0.72);
    let stroke = |width: f32| Stroke {
        width,
        ..Stroke::default()
    };
    let mut pb = PathBuilder::new();
    match spec.floor {
        Floor::Wood => {
            for k in 1..12 {
                let y = -0.12 * k as f32;
                pb.move_to(lo, y);
                pb.line_to(hi, y);
            }
            for k in ks(0.75) {
                let row = (k as f32 * 0.37).sin() * 0.3;
                let x = k as f32 * 0.75 + row;
                let r = k.rem_euclid(4) as f32;
                pb.move_to(x, -0.12 * r);
                pb.line_to(x, -0.12 * (r + 1.0));
            }
        }
        Floor::Stone => {
            for row in 0..8 {
                let y = -0.18 * row as f32;
                pb.move_to(lo, y - 0.18);
                pb.line_to(hi, y - 0.18);
                let off = if row % 2 == 0 { 0.0 } else { 0.2 };
                for k in ks(0.4) {
                    let x = k as f32 * 0.4 + off;
                    pb.move_to(x, y);
                    pb.line_to(x, y - 0.18);
                }
            }
        }
        Floor::Grass => {
            for k in ks(0.1) {
                let x = k as f32 * 0.1;
                let hgt = 0.04 + 0.05 * hash01(spec.seed, 2000 + (k as i64 + 100_000) as u64);
                pb.move_to(x, -0.02);
                pb.line_to(x + 0.02, hgt);
            }
        }
        Floor::Metal => {
            for k in ks(0.6) {
                let x = k as f32 * 0.6;
                pb.move_to(x, 0.0);
                pb.line_to(x, -2.0);
            }
            pb.move_to(lo, -0.03);
            pb.line_to(hi, -0.03);
        }
        Floor::Water => {}
    }
    if let Some(path) = pb.finish() {
        let (c, width) = match spec.floor {
            Floor::Grass => (scale(base, 0.8), 0.025),
            Floor::Metal => (scale(base, 0.8), 0.02),
            _ => (dark, 0.015),
        };
        pm.stroke_path(&path, &solid(c, 1.0), &stroke(width), tf, None);
    }
    if spec.floor == Floor::Metal {
        let mut pb = PathBuilder::new();
        for k in ks(0.6) {
            let x = k as f32 * 0.6 + 0.3;
            pb.push_circle(x, -0.12, 0.02);
            pb.push_circle(x, -0.5, 0.02);
        }
        if let Some(path) = pb.finish() {
            pm.fill_path(
                &path,
                &solid(scale(base, 1.2), 1.0),
                FillRule::Winding,
                tf,
                None,
            );
        }
    }
}

fn draw_object(
    pm: &mut Pixmap,
    kind: Kind,
    he: [f32; 2],
    col: [f32; 3],
    tf: Transform,
    tod: TimeOfDay,
) {
    let [hw, hh] = he;
    let edge = scale(col, 0.7);
    let hi = mix(col, [1.0, 1.0, 1.0], 0.2);
    let outline = Stroke {
        width: 0.02 * hw.max(0.1) / 0.2,
        ..Stroke::default()
    };
    match kind {
        Kind::Ball => {
            let shader = RadialGradient::new(
                Point::from_xy(-hw * 0.35, hw * 0.35),
                Point::from_xy(0.0, 0.0),
                hw,
                vec![
                    GradientStop::new(0.0, rgba(hi, 1.0)),
                    GradientStop::new(0.6, rgba(col, 1.0)),
                    GradientStop::new(1.0, rgba(scale(col, 0.82), 1.0)),
                ],
                SpreadMode::Pad,
                Transform::identity(),
            );
            if let (Some(shader), Some(path)) = (shader, PathBuilder::from_circle(0.0, 0.0, hw)) {
                let paint = Paint {
                    shader,
                    anti_alias: true,
                    ..Paint::default()
                };
                pm.fill_path(&path, &paint, FillRule::Winding, tf, None);
            }
        }
        Kind::Box | Kind::Can => {
            if let Some(p) = rect_path(-hw, -hh, hw, hh) {
                pm.fill_path(&p, &solid(col, 1.0), FillRule::Winding, tf, None);
                pm.stroke_path(&p, &solid(edge, 1.0), &outline, tf, None);
            }
            let mut pb = PathBuilder::new();
            if kind == Kind::Box {
                pb.move_to(-hw, -hh);
                pb.line_to(hw, hh);
                pb.move_to(-hw, hh);
                pb.line_to(hw, -hh);
            } else {
                for y in [-hh * 0.7, hh * 0.7] {
                    pb.move_to(-hw, y);
                    pb.line_to(hw, y);
                }
            }
            if let Some(p) = pb.finish() {
                pm.stroke_path(&p, &solid(edge, 1.0), &outline, tf, None);
            }
        }
        Kind::Bottle => {
            let neck = hh * 0.35;
            let mut pb = PathBuilder::new();
            pb.move_to(-hw, -hh + hw * 0.3);
            pb.quad_to(-hw, -hh, -hw + hw * 0.3, -hh);
            pb.line_to(hw - hw * 0.3, -hh);
            pb.quad_to(hw, -hh, hw, -hh + hw * 0.3);
            pb.line_to(hw, hh - neck - hw * 0.4);
            pb.quad_to(hw, hh - neck, hw * 0.45, hh - neck * 0.6);
            pb.line_to(hw * 0.45, hh);
            pb.line_to(-hw * 0.45, hh);
            pb.line_to(-hw * 0.45, hh - neck * 0.6);
            pb.quad_to(-hw, hh - neck, -hw, hh - neck - hw * 0.4);
            pb.close();
            if let Some(p) = pb.finish() {
                pm.fill_path(&p, &solid(col, 1.0), FillRule::Winding, tf, None);
                pm.stroke_path(&p, &solid(edge, 1.0), &outline, tf, None);
            }
        }
        Kind::Rock => {
            let pts = crate::sim::rock_outline(hw, hh);
            let mut pb = PathBuilder::new();
            for (k, p) in pts.iter().enumerate() {
                if k == 0 {
                    pb.move_to(p[0], p[1]);
                } else {
                    pb.line_to(p[0], p[1]);
                }
            }
            pb.close();
            if let Some(p) = pb.finish() {
                pm.fill_path(&p, &solid(col, 1.0), FillRule::Winding, tf, None);
                pm.stroke_path(&p, &solid(edge, 1.0), &outline, tf, None);
            }
        }
        Kind::Lantern => {
            let glow_a = if tod == TimeOfDay::Night { 0.16 } else { 0.08 };
            glow(
                pm,
                tf,
                0.0,
                0.0,
                hh * 1.8,
                mix(col, [1.0, 0.9, 0.6], 0.5),
                glow_a,
            );
            if let Some(p) = rect_path(-hw, -hh, hw, hh) {
                pm.fill_path(&p, &solid(col, 1.0), FillRule::Winding, tf, None);
            }
            let mut pb = PathBuilder::new();
            for k in 1..4 {
                let y = -hh + 2.0 * hh * k as f32 / 4.0;
                pb.move_to(-hw, y);
                pb.line_to(hw, y);
            }
            if let Some(p) = pb.finish() {
                pm.stroke_path(&p, &solid(edge, 1.0), &outline, tf, None);
            }
        }
        Kind::Balloon => {
            let mut pb = PathBuilder::new();
            pb.move_to(0.0, -hh);
            pb.quad_to(hw * 0.3, -hh - 0.25, -hw * 0.2, -hh - 0.5);
            if let Some(p) = pb.finish() {
                let s = Stroke {
                    width: 0.012,
                    ..Stroke::default()
                };
                pm.stroke_path(&p, &solid([0.3, 0.3, 0.3], 1.0), &s, tf, None);
            }
            if let Some(r) = Rect::from_ltrb(-hw, -hh, hw, hh) {
                if let Some(p) = PathBuilder::from_oval(r) {
                    pm.fill_path(&p, &solid(col, 1.0), FillRule::Winding, tf, None);
                }
            }
            fill_circle(pm, tf, -hw * 0.35, hh * 0.4, hw * 0.18, hi, 0.8);
        }
        Kind::Leaf => {
            let mut pb = PathBuilder::new();
            pb.move_to(-hw, 0.0);
            pb.quad_to(0.0, hh * 2.0, hw, 0.0);
            pb.quad_to(0.0, -hh * 2.0, -hw, 0.0);
            pb.close();
            if let Some(p) = pb.finish() {
                pm.fill_path(&p, &solid(col, 1.0), FillRule::Winding, tf, None);
            }
            let mut pb = PathBuilder::new();
            pb.move_to(-hw * 1.15, 0.0);
            pb.line_to(hw * 0.9, 0.0);
            if let Some(p) = pb.finish() {
                pm.stroke_path(&p, &solid(edge, 1.0), &outline, tf, None);
            }
        }
    }
}

fn draw_water(
    pm: &mut Pixmap,
    spec: &SceneSpec,
    sim: &Simulation,
    tf: Transform,
    light: [f32; 3],
    t: f32,
    range: (f32, f32),
) {
    let (lo, hi) = range;
    let base = mul(Floor::Water.rgb(), light);
    let mut pb = PathBuilder::new();
    let x0 = (lo / 0.1).floor() * 0.1;
    pb.move_to(x0, -12.0);
    let mut x = x0;
    while x <= hi + 0.1 {
        pb.line_to(x, 0.015 * (x * 7.0 + t * 3.0).sin());
        x += 0.1;
    }
    pb.line_to(x, -12.0);
    pb.close();
    if let Some(p) = pb.finish() {
        pm.fill_path(&p, &solid(base, 0.72), FillRule::Winding, tf, None);
        let s = Stroke {
            width: 0.02,
            ..Stroke::default()
        };
        pm.stroke_path(
            &p,
            &solid(mix(base, [1.0, 1.0, 1.0], 0.35), 0.8),
            &s,
            tf,
            None,
        );
    }
    // Splashes: droplets and a ripple for 0.7 s after each water entry.
    let spray = mix(base, [1.0, 1.0, 1.0], 0.6);
    for (ci, c) in sim.contacts.iter().enumerate() {
        if c.with != ContactWith::Water {
            continue;
        }
        let age = t - c.time_s as f32;
        if !(0.0..0.7).contains(&age) {
            continue;
        }
        let strength = (c.speed / 4.0).clamp(0.2, 1.5);
        for d in 0..10u64 {
            let a = hash01(spec.seed ^ ci as u64, d) * 2.0 - 1.0;
            let v = strength * (1.0 + hash01(spec.seed ^ ci as u64, d + 50));
            let vx = a * v * 0.8;
            let vy = v * 1.6;
            let x = c.position[0] + vx * age;
            let y = vy * age - 0.5 * spec.gravity * age * age;
            if y > -0.02 {
                fill_circle(pm, tf, x, y, 0.025, spray, 0.85);
            }
        }
        let r = 0.1 + age * 0.8;
        if let Some(rect) = Rect::from_ltrb(c.position[0] - r, -0.03, c.position[0] + r, 0.03) {
            if let Some(p) = PathBuilder::from_oval(rect) {
                let s = Stroke {
                    width: 0.015,
                    ..Stroke::default()
                };
                pm.stroke_path(&p, &solid(spray, 0.7 * (1.0 - age / 0.7)), &s, tf, None);
            }
        }
    }
}

fn draw_rain(pm: &mut Pixmap, spec: &SceneSpec, cam: &CameraState, tf: Transform, t: f32) {
    let mut pb = PathBuilder::new();
    let half_w = cam.view_h * spec.width as f32 / spec.height as f32 / 2.0 + 0.5;
    let top = cam.cy + cam.view_h / 2.0 + 0.3;
    let span = cam.view_h + 0.6;
    for i in 0..90u64 {
        let x0 = hash01(spec.seed, 7000 + i) * 2.0 - 1.0;
        let phase = hash01(spec.seed, 8000 + i);
        let x = cam.cx + x0 * half_w;
        let fall = ((t * 6.0 / span + phase).fract()) * span;
        let y = top - fall;
        if y < 0.0 && spec.floor != Floor::Water {
            continue;
        }
        pb.move_to(x, y);
        pb.line_to(x - 0.03, y - 0.16);
    }
    if let Some(p) = pb.finish() {
        let s = Stroke {
            width: 0.012,
            ..Stroke::default()
        };
        pm.stroke_path(&p, &solid([0.78, 0.8, 0.86], 0.55), &s, tf, None);
    }
}
