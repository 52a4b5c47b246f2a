//! The camera path: where each shot looks, and how it moves.

use crate::spec::SceneSpec;
use crate::vocab::{CameraMove, Framing};
use serde::{Deserialize, Serialize};

/// Where the camera looks at one instant: the world point at the frame centre and how many
/// metres of world the frame's height shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CameraState {
    pub cx: f32,
    pub cy: f32,
    pub view_h: f32,
    /// Which shot this instant belongs to.
    pub shot: usize,
}

impl CameraState {
    /// Pixels per metre for a frame `height` pixels tall.
    pub fn scale(&self, height: u32) -> f32 {
        height as f32 / self.view_h
    }
    /// World point to pixel coordinates (x right, y down).
    pub fn to_pixel(&self, x: f32, y: f32, width: u32, height: u32) -> [f32; 2] {
        let s = self.scale(height);
        [
            (x - self.cx) * s + width as f32 / 2.0,
            height as f32 / 2.0 - (y - self.cy) * s,
        ]
    }
}

/// Metres of world a wide shot shows vertically.
pub const WIDE_VIEW_H: f32 = 3.6;

fn framing_base(spec: &SceneSpec, framing: Framing) -> (f32, f32, f32) {
    // Closer framings look at the middle of the objects.
    let n = spec.objects.len().max(1) as f32;
    let focus = (spec.objects.iter().map(|o| o.position[0]).sum::<f32>() / n).clamp(-1.5, 1.5);
    match framing {
        Framing::Wide => (0.0, 1.55, WIDE_VIEW_H),
        Framing::Medium => (focus * 0.5, 1.1, 2.6),
        Framing::Close => (focus, 0.75, 1.8),
    }
}

/// The camera at time `t` seconds.
pub fn camera_at(spec: &SceneSpec, t: f32) -> CameraState {
    let shot_index = spec.shot_at(t);
    let shot = &spec.shots[shot_index];
    let (mut cx, mut cy, mut view_h) = framing_base(spec, shot.framing);
    let tau = (t - shot.start_s).max(0.0);
    let f = shot.speed.factor();
    let k = view_h / WIDE_VIEW_H;
    match shot.camera {
        CameraMove::Static => {}
        CameraMove::PanLeft => cx -= 0.4 * f * k * tau,
        CameraMove::PanRight => cx += 0.4 * f * k * tau,
        CameraMove::TiltUp => cy += 0.3 * f * k * tau,
        CameraMove::TiltDown => cy -= 0.3 * f * k * tau,
        CameraMove::PushIn => {
            let z = (-0.2 * f * tau).exp();
            // Zoom towards a point near the floor so the action stays framed.
            cy = 0.6 + (cy - 0.6) * z;
            view_h *= z;
        }
        CameraMove::PullOut => {
            let z = (0.2 * f * tau).exp();
            cy = 0.6 + (cy - 0.6) * z;
            view_h *= z;
        }
        CameraMove::HandHeld => {
            let ph = crate::rng::hash01(spec.seed, 900 + shot_index as u64) * std::f32::consts::TAU;
            let a = 0.05 * f * k;
            let w = std::f32::consts::TAU;
            cx += a * (0.6 * (w * 1.3 * tau + ph).sin() + 0.4 * (w * 2.9 * tau + 2.0 * ph).sin());
            cy += a * (0.6 * (w * 1.7 * tau + 3.0 * ph).sin() + 0.4 * (w * 3.3 * tau + ph).sin());
        }
    }
    CameraState {
        cx,
        cy,
        view_h,
        shot: shot_index,
    }
}
