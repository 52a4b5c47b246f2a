//! `GroundTruth`: the JSON log written next to every clip.

use crate::camera::{camera_at, CameraState};
use crate::sim::{Contact, Simulation, PHYSICS_HZ};
use crate::spec::SceneSpec;
use crate::vocab::{CameraMove, Framing, Speed};
use serde::{Deserialize, Serialize};

/// Version of the ground-truth JSON layout.
pub const TRUTH_VERSION: u32 = 1;

/// One object in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectTruth {
    /// Index into `spec.objects`.
    pub id: usize,
    /// Centre in metres.
    pub position: [f32; 2],
    /// Velocity in m/s.
    pub velocity: [f32; 2],
    /// Angle in radians.
    pub angle: f32,
    /// Centre in pixels (x right, y down).
    pub pixel: [f32; 2],
    /// Axis-aligned box in pixels: [x0, y0, x1, y1] (may extend past the frame).
    pub bbox: [f32; 4],
    /// Whether any of the box is inside the frame.
    pub visible: bool,
}

/// One video frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameTruth {
    pub index: usize,
    pub time_s: f64,
    pub camera: CameraState,
    pub objects: Vec<ObjectTruth>,
}

/// One shot as rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotTruth {
    pub start_s: f32,
    pub end_s: f32,
    pub camera: CameraMove,
    pub speed: Speed,
    pub framing: Framing,
}

/// Everything true about a clip: the spec, per-frame objects and camera, every contact,
/// the shots and the captions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub version: u32,
    pub spec: SceneSpec,
    pub physics_hz: u32,
    pub frames: Vec<FrameTruth>,
    pub contacts: Vec<Contact>,
    pub shots: Vec<ShotTruth>,
    #[serde(default)]
    pub captions: Vec<String>,
}

impl GroundTruth {
    /// Builds the log from a spec and its simulation (captions empty; see [`crate::captions`]).
    pub fn new(spec: &SceneSpec, sim: &Simulation) -> GroundTruth {
        let (w, h) = (spec.width, spec.height);
        let frames = (0..spec.frame_count())
            .map(|index| {
                let t = index as f64 / spec.fps as f64;
                let camera = camera_at(spec, t as f32);
                let s = camera.scale(h);
                let objects = spec
                    .objects
                    .iter()
                    .enumerate()
                    .map(|(id, o)| {
                        let st = sim.state_at(t, id);
                        let [hw, hh] = o.kind.half_extents(o.size);
                        let (c, sn) = (st.angle.cos().abs(), st.angle.sin().abs());
                        let ex = (c * hw + sn * hh) * s;
                        let ey = (sn * hw + c * hh) * s;
                        let pixel = camera.to_pixel(st.x, st.y, w, h);
                        let bbox = [pixel[0] - ex, pixel[1] - ey, pixel[0] + ex, pixel[1] + ey];
                        let visible = bbox[2] > 0.0
                            && bbox[0] < w as f32
                            && bbox[3] > 0.0
                            && bbox[1] < h as f32;
                        ObjectTruth {
                            id,
                            position: [st.x, st.y],
                            velocity: [st.vx, st.vy],
                            angle: st.angle,
                            pixel,
                            bbox,
                            visible,
                        }
                    })
                    .collect();
                FrameTruth {
                    index,
                    time_s: t,
                    camera,
                    objects,
                }
            })
            .collect();
        let shots = spec
            .shots
            .iter()
            .enumerate()
            .map(|(i, s)| ShotTruth {
                start_s: s.start_s,
                end_s: spec
                    .shots
                    .get(i + 1)
                    .map(|n| n.start_s)
                    .unwrap_or(spec.duration_s),
                camera: s.camera,
                speed: s.speed,
                framing: s.framing,
            })
            .collect();
        GroundTruth {
            version: TRUTH_VERSION,
            spec: spec.clone(),
            physics_hz: PHYSICS_HZ,
            frames,
            contacts: sim.contacts.clone(),
            shots,
            captions: Vec::new(),
        }
    }
}
