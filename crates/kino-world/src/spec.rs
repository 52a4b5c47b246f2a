//! `SceneSpec`: everything needed to simulate, render and sound one clip.

use crate::error::{Result, WorldError};
use crate::rng::Rng;
use crate::vocab::*;
use serde::{Deserialize, Serialize};

/// One object in the scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectSpec {
    pub kind: Kind,
    pub colour: Colour,
    pub size: Size,
    /// Centre in metres (x right, y up; the floor's top is y = 0).
    pub position: [f32; 2],
    /// Initial velocity in m/s.
    #[serde(default)]
    pub velocity: [f32; 2],
    /// Initial angle in radians.
    #[serde(default)]
    pub angle: f32,
    /// Initial angular velocity in rad/s.
    #[serde(default)]
    pub spin: f32,
}

impl ObjectSpec {
    /// An object resting on the floor at `x`.
    pub fn resting(kind: Kind, colour: Colour, size: Size, x: f32) -> Self {
        let [_, hh] = kind.half_extents(size);
        ObjectSpec {
            kind,
            colour,
            size,
            position: [x, hh],
            velocity: [0.0, 0.0],
            angle: 0.0,
            spin: 0.0,
        }
    }
    /// An object dropped from height `y` (centre) at `x`.
    pub fn dropped(kind: Kind, colour: Colour, size: Size, x: f32, y: f32) -> Self {
        ObjectSpec {
            position: [x, y],
            ..ObjectSpec::resting(kind, colour, size, x)
        }
    }
    /// "small red ball"
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.size, self.colour, self.kind)
    }
}

/// One shot: from `start_s` until the next shot (or the end) the camera does `camera`.
/// A new shot starts with a cut to its own framing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotSpec {
    pub start_s: f32,
    pub camera: CameraMove,
    pub speed: Speed,
    pub framing: Framing,
}

impl ShotSpec {
    pub fn new(start_s: f32, camera: CameraMove, speed: Speed, framing: Framing) -> Self {
        ShotSpec {
            start_s,
            camera,
            speed,
            framing,
        }
    }
}

/// Picture style options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Style {
    /// Film grain strength, 0 (none) to 1.
    #[serde(default)]
    pub grain: f32,
    /// Vignette strength, 0 (none) to 1.
    #[serde(default)]
    pub vignette: f32,
}

/// Everything needed to make one clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneSpec {
    pub objects: Vec<ObjectSpec>,
    pub floor: Floor,
    pub time_of_day: TimeOfDay,
    #[serde(default = "default_weather")]
    pub weather: Weather,
    pub shots: Vec<ShotSpec>,
    #[serde(default)]
    pub style: Style,
    pub duration_s: f32,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    /// Gravity in m/s^2 (pointing down).
    pub gravity: f32,
    /// Audio sample rate in Hz.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Seed for everything procedural (textures, grain, ambient sound, shake).
    pub seed: u64,
}

fn default_weather() -> Weather {
    Weather::Clear
}
fn default_sample_rate() -> u32 {
    16_000
}

/// Standard gravity.
pub const EARTH_G: f32 = 9.81;
/// Half width of the playable area in metres (walls stand just outside).
pub const ARENA_HALF_WIDTH: f32 = 2.4;

/// Options for [`SceneSpec::random`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomOptions {
    pub duration_s: f32,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub sample_rate: u32,
    /// At most this many objects (1..=4).
    pub max_objects: usize,
    /// At most this many shots.
    pub max_shots: usize,
    /// Allow water instead of a floor.
    pub allow_water: bool,
    /// Allow rain.
    pub allow_rain: bool,
    /// Allow rising/fluttering objects (lantern, balloon, leaf).
    pub allow_non_rigid: bool,
    /// Allow grain and vignette.
    pub allow_style: bool,
}

impl Default for RandomOptions {
    fn default() -> Self {
        RandomOptions {
            duration_s: 2.0,
            fps: 24,
            width: 128,
            height: 128,
            sample_rate: 16_000,
            max_objects: 4,
            max_shots: 2,
            allow_water: true,
            allow_rain: true,
            allow_non_rigid: true,
            allow_style: true,
        }
    }
}

impl SceneSpec {
    /// A one-shot static scene with defaults (2 s, 24 fps, 128x128, wood, noon).
    pub fn new(objects: Vec<ObjectSpec>) -> Self {
        SceneSpec {
            objects,
            floor: Floor::Wood,
            time_of_day: TimeOfDay::Noon,
            weather: Weather::Clear,
            shots: vec![ShotSpec::new(
                0.0,
                CameraMove::Static,
                Speed::Normal,
                Framing::Wide,
            )],
            style: Style::default(),
            duration_s: 2.0,
            fps: 24,
            width: 128,
            height: 128,
            gravity: EARTH_G,
            sample_rate: 16_000,
            seed: 0,
        }
    }

    /// Samples the vocabulary: 1..=max_objects objects, a floor or water, a time of day,
    /// 1..=max_shots shots with camera moves, style. Deterministic per seed.
    pub fn random(seed: u64, opts: &RandomOptions) -> Result<SceneSpec> {
        let mut rng = Rng::stream(seed, 1);
        let max_objects = opts.max_objects.clamp(1, 4);
        let n = 1 + rng.below(max_objects);
        let floor = if opts.allow_water && rng.chance(0.1) {
            Floor::Water
        } else {
            rng.pick(&Floor::ALL[..4])
        };
        let time_of_day = rng.pick(TimeOfDay::ALL);
        let weather = if opts.allow_rain && rng.chance(0.12) {
            Weather::Rain
        } else {
            Weather::Clear
        };
        let mut objects: Vec<ObjectSpec> = Vec::new();
        let mut used_colours = Vec::new();
        for _ in 0..n {
            let kind = if opts.allow_non_rigid && rng.chance(0.2) {
                rng.pick(&[Kind::Lantern, Kind::Balloon, Kind::Leaf])
            } else {
                rng.pick(&Kind::ALL[..5])
            };
            // Distinct colours keep the judge's colour tracker unambiguous.
            let mut colour = rng.pick(Colour::ALL);
            while used_colours.contains(&colour) {
                colour = rng.pick(Colour::ALL);
            }
            used_colours.push(colour);
            let size = rng.pick(Size::ALL);
            let [hw, hh] = kind.half_extents(size);
            let mut x = 0.0;
            for _ in 0..20 {
                x = rng.range(-1.3, 1.3);
                if objects.iter().all(|o| {
                    let [ow, _] = o.kind.half_extents(o.size);
                    (o.position[0] - x).abs() > ow + hw + 0.08
                }) {
                    break;
                }
            }
            let o = match kind {
                Kind::Lantern | Kind::Balloon => {
                    let mut o =
                        ObjectSpec::dropped(kind, colour, size, x, hh + rng.range(0.1, 0.8));
                    o.velocity = [rng.range(-0.2, 0.2), 0.0];
                    o
                }
                Kind::Leaf => {
                    let mut o = ObjectSpec::dropped(kind, colour, size, x, rng.range(2.4, 3.1));
                    o.angle = rng.range(-0.4, 0.4);
                    o
                }
                _ if rng.chance(0.1) => ObjectSpec::resting(kind, colour, size, x),
                _ => {
                    let mut o =
                        ObjectSpec::dropped(kind, colour, size, x, hh + rng.range(0.8, 2.6));
                    o.velocity = [rng.range(-0.8, 0.8), rng.range(-1.0, 1.0)];
                    o.angle = rng.range(-0.6, 0.6);
                    o.spin = rng.range(-2.0, 2.0);
                    o
                }
            };
            objects.push(o);
        }
        let n_shots = 1 + rng.below(opts.max_shots.max(1));
        let mut shots = Vec::new();
        for i in 0..n_shots {
            let start_s = opts.duration_s * i as f32 / n_shots as f32;
            let camera = if rng.chance(0.3) {
                CameraMove::Static
            } else {
                rng.pick(CameraMove::ALL)
            };
            let framing = if i == 0 {
                Framing::Wide
            } else {
                rng.pick(&[Framing::Wide, Framing::Medium, Framing::Close])
            };
            shots.push(ShotSpec::new(
                start_s,
                camera,
                rng.pick(Speed::ALL),
                framing,
            ));
        }
        let style = if opts.allow_style && rng.chance(0.3) {
            Style {
                grain: rng.pick(&[0.0, 0.4, 0.8]),
                vignette: rng.pick(&[0.0, 0.5, 0.9]),
            }
        } else {
            Style::default()
        };
        let spec = SceneSpec {
            objects,
            floor,
            time_of_day,
            weather,
            shots,
            style,
            duration_s: opts.duration_s,
            fps: opts.fps,
            width: opts.width,
            height: opts.height,
            gravity: EARTH_G,
            sample_rate: opts.sample_rate,
            seed,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Changes the clip's length, moving shot starts proportionally so they stay inside.
    pub fn set_duration(&mut self, seconds: f32) {
        if !(seconds.is_finite() && seconds > 0.0) {
            self.duration_s = seconds;
            return;
        }
        let k = seconds / self.duration_s.max(1e-6);
        for s in &mut self.shots {
            s.start_s *= k;
        }
        self.duration_s = seconds;
    }

    /// Number of video frames.
    pub fn frame_count(&self) -> usize {
        (self.duration_s * self.fps as f32).round().max(1.0) as usize
    }

    /// The shot index active at time `t`.
    pub fn shot_at(&self, t: f32) -> usize {
        self.shots
            .iter()
            .rposition(|s| s.start_s <= t + 1e-6)
            .unwrap_or(0)
    }

    /// Checks every field; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.objects.is_empty() || self.objects.len() > 8 {
            return Err(WorldError::spec(
                "objects",
                format!("{} objects; a scene has 1..=8", self.objects.len()),
            ));
        }
        for (i, o) in self.objects.iter().enumerate() {
            let ok = o.position.iter().chain(&o.velocity).all(|v| v.is_finite())
                && o.angle.is_finite()
                && o.spin.is_finite();
            if !ok {
                return Err(WorldError::spec(
                    format!("objects[{i}]"),
                    "position, velocity, angle and spin must be finite",
                ));
            }
            if o.position[0].abs() > ARENA_HALF_WIDTH || !(-1.0..=10.0).contains(&o.position[1]) {
                return Err(WorldError::spec(
                    format!("objects[{i}].position"),
                    format!(
                        "{:?} is outside x in -{ARENA_HALF_WIDTH}..={ARENA_HALF_WIDTH}, y in -1..=10 m",
                        o.position
                    ),
                ));
            }
            if o.velocity.iter().any(|v| v.abs() > 30.0) || o.spin.abs() > 100.0 {
                return Err(WorldError::spec(
                    format!("objects[{i}].velocity"),
                    "speeds must be below 30 m/s and spin below 100 rad/s",
                ));
            }
        }
        if !(12..=60).contains(&self.fps) {
            return Err(WorldError::spec(
                "fps",
                format!("{}; the world renders 12..=60 fps", self.fps),
            ));
        }
        if !(16..=1920).contains(&self.width) || !(16..=1920).contains(&self.height) {
            return Err(WorldError::spec(
                "width/height",
                format!(
                    "{}x{}; each side must be 16..=1920",
                    self.width, self.height
                ),
            ));
        }
        if !(self.duration_s.is_finite() && (0.25..=60.0).contains(&self.duration_s)) {
            return Err(WorldError::spec(
                "duration_s",
                format!("{}; clips are 0.25..=60 s", self.duration_s),
            ));
        }
        if !(self.gravity.is_finite() && (0.5..=40.0).contains(&self.gravity)) {
            return Err(WorldError::spec(
                "gravity",
                format!("{}; must be 0.5..=40 m/s^2", self.gravity),
            ));
        }
        if !(8_000..=96_000).contains(&self.sample_rate) {
            return Err(WorldError::spec(
                "sample_rate",
                format!("{} Hz; must be 8000..=96000", self.sample_rate),
            ));
        }
        if self.shots.is_empty() {
            return Err(WorldError::spec("shots", "at least one shot is needed"));
        }
        if self.shots[0].start_s != 0.0 {
            return Err(WorldError::spec(
                "shots[0].start_s",
                "the first shot starts at 0",
            ));
        }
        for (i, w) in self.shots.windows(2).enumerate() {
            if !(w[1].start_s.is_finite()
                && w[1].start_s > w[0].start_s
                && w[1].start_s < self.duration_s)
            {
                return Err(WorldError::spec(
                    format!("shots[{}].start_s", i + 1),
                    "shot starts must increase and lie inside the clip",
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.style.grain) || !(0.0..=1.0).contains(&self.style.vignette) {
            return Err(WorldError::spec("style", "grain and vignette are 0..=1"));
        }
        Ok(())
    }
}
