//! The typed plan the engine consumes: [`ShotPlan`] and everything in it.
//!
//! Every type here is plain data: `serde` (de)serializable, JSON-stable
//! (snake_case names, internally tagged enums with a `"type"` field) and
//! versioned through [`ShotPlan::schema_version`]. Every extracted item keeps
//! the [`Span`] (line:col) of the prompt text it came from.
//!
//! Times are always measured in seconds from the start of the clip.

use serde::{Deserialize, Serialize};

/// Version of the JSON layout of [`ShotPlan`]. Bumped on any breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// A place in the prompt: 1-based line and column, counted in characters
/// (Unicode scalar values, not bytes), and the length in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Length of the spanned text, in characters (may run over line ends).
    pub len: u32,
}

impl Span {
    /// A span at `line:col` of `len` characters.
    pub fn new(line: u32, col: u32, len: u32) -> Self {
        Span { line, col, len }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A value together with the span of the text it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// The whole plan for one clip: settings plus one or more shots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotPlan {
    /// Always [`SCHEMA_VERSION`] for plans made by this crate.
    pub schema_version: u32,
    /// Clip-wide settings (duration, size, fps, seed, preset).
    pub clip: ClipSettings,
    /// Directives written before the first `Shot N:` header. They apply to
    /// every shot (see [`Shot::effective`]): scene, motion, audio, dialogue and
    /// negatives add to each shot's own, timed items go to the shot(s) whose
    /// time range they fall in, and a shot's own camera or style replaces the
    /// global one.
    pub global: Directives,
    /// The shots in order; their ranges tile `0..clip.duration_s`.
    pub shots: Vec<Shot>,
}

/// Clip-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipSettings {
    /// Clip length in seconds.
    pub duration_s: f64,
    /// Frame width in pixels (even).
    pub width: u32,
    /// Frame height in pixels (even).
    pub height: u32,
    /// Aspect ratio as written (`"16:9"`) or reduced from the size.
    pub aspect: String,
    /// Frames per second.
    pub fps: u32,
    /// Random seed, when given.
    pub seed: Option<u64>,
    /// Named style preset (lower case), when given.
    pub style_preset: Option<String>,
    /// Where each setting was written; `None` where the default was used.
    pub spans: ClipSpans,
}

/// Source spans of the clip settings (`None` = default or derived).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClipSpans {
    /// Span of the `Duration:` value (or inline "8-second clip").
    pub duration: Option<Span>,
    /// Span of the `Size:` value.
    pub size: Option<Span>,
    /// Span of the `Aspect:` value (or inline "in 16:9").
    pub aspect: Option<Span>,
    /// Span of the `FPS:` value.
    pub fps: Option<Span>,
    /// Span of the `Seed:` value.
    pub seed: Option<Span>,
    /// Span of the `Preset:` value.
    pub style_preset: Option<Span>,
}

/// How a shot's time range was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShotTiming {
    /// Written as a range: `Shot 1 (0:00-0:04):`.
    Explicit,
    /// Written as a length: `Shot 2 (3s):` or `Duration:` inside the shot.
    Duration,
    /// Not written: the free time was split evenly between such shots.
    Even,
}

/// One shot of the clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shot {
    /// 1-based position of the shot in the clip.
    pub index: u32,
    /// Number written in the `Shot N` header, if any.
    pub number: Option<u32>,
    /// Start time in seconds (inclusive).
    pub start_s: f64,
    /// End time in seconds (exclusive).
    pub end_s: f64,
    /// How `start_s..end_s` was decided.
    pub timing: ShotTiming,
    /// The shot header, `[cut]` marker, or first text of the shot.
    pub span: Span,
    /// What this shot itself says (global directives live in [`ShotPlan::global`]).
    #[serde(flatten)]
    pub content: Directives,
}

/// Everything a prompt (or one shot of it) asks for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Directives {
    /// What is seen: subjects, setting, action in prose.
    pub scene: Vec<Phrase>,
    /// Camera moves, lens, depth of field, framing and angle.
    pub camera: Camera,
    /// Motion beats (`Motion:` items and timed prose events).
    pub motion: Vec<Phrase>,
    /// Ambient beds, sound effects, music and speech.
    pub audio: Vec<AudioCue>,
    /// Spoken lines.
    pub dialogue: Vec<DialogueLine>,
    /// Look: lighting, palette, grain, vignette, film look, other phrases.
    pub style: Vec<StyleAttr>,
    /// Things to avoid.
    pub negatives: Vec<Negative>,
}

impl Directives {
    /// True when nothing at all is directed.
    pub fn is_empty(&self) -> bool {
        self.scene.is_empty()
            && self.camera.is_empty()
            && self.motion.is_empty()
            && self.audio.is_empty()
            && self.dialogue.is_empty()
            && self.style.is_empty()
            && self.negatives.is_empty()
    }
}

/// A piece of prompt text, optionally anchored in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phrase {
    /// The text, with any time expression taken out.
    pub text: String,
    /// When it happens, if a time was written.
    pub at: Option<TimeRange>,
    /// Where the phrase was written.
    pub span: Span,
}

/// A point (`end_s == None`) or a range in clip time, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Start (or the point) in seconds from the clip start.
    pub start_s: f64,
    /// End in seconds for ranges like `00:02-00:04`.
    pub end_s: Option<f64>,
    /// Where the time expression was written.
    pub span: Span,
}

/// Camera directives of a shot (or of the whole prompt).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Camera {
    /// Camera moves in the order written.
    pub moves: Vec<CameraDirective>,
    /// Lens focal length (`50mm`).
    pub lens: Option<Lens>,
    /// Depth of field (`shallow depth of field`, `deep focus`).
    pub depth_of_field: Option<Spanned<DepthOfField>>,
    /// Shot size (`wide`, `close-up`...). The first one written wins.
    pub framing: Option<Spanned<Framing>>,
    /// Camera angle (`low angle`, `overhead`...). The first one written wins.
    pub angle: Option<Spanned<Angle>>,
    /// The camera text as written, one item per clause.
    pub phrases: Vec<Phrase>,
}

impl Camera {
    /// True when no camera information was given.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
            && self.lens.is_none()
            && self.depth_of_field.is_none()
            && self.framing.is_none()
            && self.angle.is_none()
            && self.phrases.is_empty()
    }
}

/// One camera move with the words it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraDirective {
    /// The typed move (flattened: `"type": "push", "direction": "in", ...`).
    #[serde(flatten)]
    pub movement: CameraMove,
    /// The clause it was read from (`"Slow push-in"`).
    pub text: String,
    /// When it happens, if a time was written in the clause.
    pub at: Option<TimeRange>,
    /// Where the move's key words were written.
    pub span: Span,
}

/// Camera movement vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CameraMove {
    /// Locked-off / static / tripod: the camera does not move.
    Static,
    /// Dolly / push-in (`In`) or pull-out (`Out`): the camera travels along the lens axis.
    Push {
        /// Towards (`in`) or away from (`out`) the subject.
        direction: InOut,
        /// How fast.
        speed: Speed,
    },
    /// The camera turns horizontally on its axis.
    Pan {
        /// Left or right, if said.
        direction: Option<Horizontal>,
        /// How fast.
        speed: Speed,
    },
    /// The camera turns vertically on its axis ("pan up" is read as a tilt).
    Tilt {
        /// Up or down, if said.
        direction: Option<Vertical>,
        /// How fast.
        speed: Speed,
    },
    /// The camera travels sideways ("truck left", "camera moves right").
    Truck {
        /// Left or right, if said.
        direction: Option<Horizontal>,
        /// How fast.
        speed: Speed,
    },
    /// The camera travels straight up or down.
    Pedestal {
        /// Up or down, if said.
        direction: Option<Vertical>,
        /// How fast.
        speed: Speed,
    },
    /// The camera circles the subject (`right` = clockwise seen from above).
    Orbit {
        /// Left (counter-clockwise) or right (clockwise), if said.
        direction: Option<Horizontal>,
        /// How fast.
        speed: Speed,
    },
    /// Crane / boom / jib shot.
    Crane {
        /// Up or down, if said.
        direction: Option<Vertical>,
        /// How fast.
        speed: Speed,
    },
    /// Optical zoom.
    Zoom {
        /// In or out.
        direction: InOut,
        /// How fast ("crash zoom" is fast).
        speed: Speed,
    },
    /// Tracking / follow shot.
    Track {
        /// How fast.
        speed: Speed,
    },
    /// Hand-held camera feel.
    HandHeld,
}

/// Speed of a camera move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    /// "slow", "slowly", "gentle", "gradual".
    Slow,
    /// No speed word.
    #[default]
    Normal,
    /// "fast", "quick", "rapid", "whip", "crash".
    Fast,
}

/// Towards or away from the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InOut {
    /// Closer to the subject.
    In,
    /// Away from the subject.
    Out,
}

/// Left or right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Horizontal {
    /// To the left.
    Left,
    /// To the right.
    Right,
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vertical {
    /// Upwards.
    Up,
    /// Downwards.
    Down,
}

/// Lens focal length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lens {
    /// Focal length in millimetres (`50mm` → 50.0).
    pub focal_length_mm: f64,
    /// Where it was written.
    pub span: Span,
}

/// Depth of field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepthOfField {
    /// Shallow: "shallow depth of field", "bokeh", or a bare "depth of field".
    Shallow,
    /// Deep: "deep depth of field", "deep focus".
    Deep,
}

/// Shot size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// "extreme wide", "establishing shot".
    ExtremeWide,
    /// "wide shot", "long shot", "full shot".
    Wide,
    /// "medium shot", "mid shot".
    Medium,
    /// "medium close-up".
    MediumCloseUp,
    /// "close-up".
    CloseUp,
    /// "extreme close-up".
    ExtremeCloseUp,
}

/// Camera angle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Angle {
    /// "eye level".
    EyeLevel,
    /// "low angle", "worm's-eye".
    Low,
    /// "high angle".
    High,
    /// "overhead", "top-down", "bird's-eye".
    Overhead,
    /// "dutch angle".
    Dutch,
    /// "over-the-shoulder".
    OverTheShoulder,
    /// "POV", "point of view", "first-person".
    Pov,
}

/// Kind of sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioKind {
    /// A continuous bed: "crickets in the background", "city ambience".
    Ambient,
    /// A sound effect: "door slam", "splash".
    Effect,
    /// Music: "soft piano", "gentle guitar music".
    Music,
    /// Voice that is not a dialogue line: narration, voice-over.
    Speech,
}

/// One sound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioCue {
    /// What kind of sound.
    pub kind: AudioKind,
    /// The sound as described, time expression taken out ("door slam").
    pub description: String,
    /// When, if a time was written ("at 00:05" → 5.0).
    pub at: Option<TimeRange>,
    /// Where the cue was written.
    pub span: Span,
}

/// A spoken line: `MAYA: "We made it." (at 00:03)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialogueLine {
    /// Who speaks, if said.
    pub speaker: Option<String>,
    /// How, if a parenthetical was written: `MAYA (whispering): "..."`.
    pub delivery: Option<String>,
    /// The words spoken, without quotes.
    pub text: String,
    /// When, if a time was written.
    pub at: Option<TimeRange>,
    /// Where the line was written.
    pub span: Span,
}

/// One style phrase with its typed meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleAttr {
    /// The typed attribute (flattened: `"type": "grain", "enabled": false`).
    #[serde(flatten)]
    pub kind: StyleKind,
    /// The phrase as written ("no grain").
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

/// What a style phrase is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StyleKind {
    /// Lighting: "soft lighting", "golden hour", "neon".
    Lighting,
    /// Colour: "warm tones", "muted palette", "black and white".
    Palette,
    /// Film grain on or off ("no grain" → `enabled: false`).
    Grain {
        /// Whether grain is wanted.
        enabled: bool,
    },
    /// Vignette on or off ("subtle vignette" → `enabled: true`).
    Vignette {
        /// Whether a vignette is wanted.
        enabled: bool,
    },
    /// Film stock / format look: "35mm film", "anamorphic", "VHS".
    FilmLook,
    /// Anything else ("dreamy", "Wes Anderson").
    Other,
}

/// Something to keep out of the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Negative {
    /// What to avoid ("close-ups", "product logos").
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

impl ShotPlan {
    /// Clip length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.clip.duration_s
    }

    /// The plan as pretty-printed JSON (the stable interchange format).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl TimeRange {
    /// True when this point or range touches `start..end` (clip seconds).
    pub fn overlaps(&self, start: f64, end: f64) -> bool {
        match self.end_s {
            None => self.start_s >= start && self.start_s < end,
            Some(e) => self.start_s < end && e > start,
        }
    }
}
