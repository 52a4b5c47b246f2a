//! The world's vocabulary: objects, colours, sizes, floors, times of day, camera moves, styles.
//!
//! Every enum has a canonical prompt word (`name`) and the synonyms `scene_from_prompt`
//! accepts (`words`).

use serde::{Deserialize, Serialize};

macro_rules! vocab_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident => $canon:literal [$($syn:literal),*]),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($var),+ }
        impl $name {
            /// Every value, in a fixed order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The canonical prompt word.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $canon),+ }
            }
            /// The canonical word and its synonyms (lower case; may be several words).
            pub fn words(self) -> &'static [&'static str] {
                match self { $($name::$var => &[$canon $(, $syn)*]),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

vocab_enum!(
    /// What an object is. The first five are rigid bodies; lantern and balloon rise,
    /// a leaf flutters down with drag.
    Kind {
        Ball => "ball" ["balls", "sphere", "spheres", "orb"],
        Box => "box" ["boxes", "cube", "cubes", "crate", "crates", "block", "blocks"],
        Bottle => "bottle" ["bottles"],
        Rock => "rock" ["rocks", "pebble", "pebbles", "boulder"],
        Can => "can" ["cans", "tin", "tins"],
        Lantern => "lantern" ["lanterns", "sky lantern", "paper lantern"],
        Balloon => "balloon" ["balloons"],
        Leaf => "leaf" ["leaves"],
    }
);

vocab_enum!(
    /// Object colours (all strongly saturated so the judge can find them).
    Colour {
        Red => "red" ["crimson", "scarlet"],
        Orange => "orange" ["amber"],
        Yellow => "yellow" ["golden", "gold"],
        Green => "green" ["emerald", "lime"],
        Teal => "teal" ["cyan", "turquoise"],
        Blue => "blue" ["azure", "cobalt"],
        Purple => "purple" ["violet"],
        Pink => "pink" ["magenta", "rose"],
    }
);

vocab_enum!(
    /// Object sizes.
    Size {
        Small => "small" ["tiny", "little"],
        Medium => "medium" ["medium-sized", "mid-sized"],
        Large => "large" ["big", "huge"],
    }
);

vocab_enum!(
    /// What the objects land on. `Water` is a pool whose surface is at the floor line.
    Floor {
        Wood => "wooden floor" ["wood", "wooden", "wood floor", "planks", "wooden planks", "timber", "wooden deck"],
        Stone => "stone floor" ["stone", "stones", "cobblestones", "stone slabs", "stone ground", "paving"],
        Grass => "grass" ["grassy", "lawn", "meadow", "grass field", "grassy field"],
        Metal => "metal floor" ["metal", "metallic", "steel", "steel plate", "iron", "metal sheet"],
        Water => "water" ["pond", "pool", "lake", "water surface"],
    }
);

vocab_enum!(
    /// Time of day; sets the sky, the light and the ambient sound.
    TimeOfDay {
        Dawn => "dawn" ["sunrise", "daybreak", "early morning", "morning"],
        Noon => "noon" ["midday", "daytime", "day", "afternoon", "broad daylight"],
        Dusk => "dusk" ["sunset", "evening", "twilight"],
        Night => "night" ["midnight", "nighttime", "moonlight", "moonlit"],
    }
);

vocab_enum!(
    /// Camera moves, named as the prompt language names them.
    CameraMove {
        Static => "static" ["locked", "locked off", "still", "fixed", "static shot"],
        PanLeft => "pan left" ["pans left", "panning left"],
        PanRight => "pan right" ["pans right", "panning right"],
        TiltUp => "tilt up" ["tilts up", "tilting up"],
        TiltDown => "tilt down" ["tilts down", "tilting down"],
        PushIn => "push in" ["pushes in", "pushing in", "dolly in", "dollies in", "zoom in", "zooms in"],
        PullOut => "pull out" ["pulls out", "pulling out", "dolly out", "dollies out", "zoom out", "zooms out"],
        HandHeld => "handheld" ["hand-held", "hand held", "shaky", "shaky cam"],
    }
);

vocab_enum!(
    /// How fast a camera move runs.
    Speed {
        Slow => "slow" ["slowly", "gentle", "gently"],
        Normal => "normal" ["steady", "steadily", "moderate"],
        Fast => "fast" ["quickly", "quick", "rapid", "rapidly", "swift", "swiftly"],
    }
);

vocab_enum!(
    /// How wide a shot frames the scene.
    Framing {
        Wide => "wide" ["wide shot", "establishing"],
        Medium => "medium shot" ["mid shot"],
        Close => "close" ["close-up", "close up", "closeup"],
    }
);

vocab_enum!(
    /// Weather.
    Weather {
        Clear => "clear" ["clear sky"],
        Rain => "rain" ["raining", "rainy", "rainfall", "drizzle"],
    }
);

/// What a surface or object sounds like when struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Material {
    Wood,
    Stone,
    Grass,
    Metal,
    Water,
    Rubber,
    Glass,
    Paper,
}

impl Material {
    pub fn name(self) -> &'static str {
        match self {
            Material::Wood => "wood",
            Material::Stone => "stone",
            Material::Grass => "grass",
            Material::Metal => "metal",
            Material::Water => "water",
            Material::Rubber => "rubber",
            Material::Glass => "glass",
            Material::Paper => "paper",
        }
    }
}

impl Floor {
    /// The floor's sound material.
    pub fn material(self) -> Material {
        match self {
            Floor::Wood => Material::Wood,
            Floor::Stone => Material::Stone,
            Floor::Grass => Material::Grass,
            Floor::Metal => Material::Metal,
            Floor::Water => Material::Water,
        }
    }
    /// Restitution of the floor (combined by product with the object's).
    pub fn restitution(self) -> f32 {
        match self {
            Floor::Wood => 0.75,
            Floor::Stone => 0.65,
            Floor::Grass => 0.45,
            Floor::Metal => 0.85,
            Floor::Water => 0.0,
        }
    }
    /// Friction of the floor (combined by product with the object's).
    pub fn friction(self) -> f32 {
        match self {
            Floor::Wood => 0.6,
            Floor::Stone => 0.7,
            Floor::Grass => 0.9,
            Floor::Metal => 0.35,
            Floor::Water => 0.0,
        }
    }
    /// Short adjective form used in captions ("wooden", "stone", ...).
    pub fn adjective(self) -> &'static str {
        match self {
            Floor::Wood => "wooden",
            Floor::Stone => "stone",
            Floor::Grass => "grassy",
            Floor::Metal => "metal",
            Floor::Water => "still",
        }
    }
    /// Base colour (noon light).
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Floor::Wood => [0.55, 0.45, 0.36],
            Floor::Stone => [0.50, 0.50, 0.48],
            Floor::Grass => [0.36, 0.50, 0.31],
            Floor::Metal => [0.60, 0.62, 0.66],
            Floor::Water => [0.24, 0.38, 0.50],
        }
    }
}

impl Kind {
    /// Lanterns and balloons rise, leaves flutter: not plain rigid falls.
    pub fn is_rigid_faller(self) -> bool {
        !matches!(self, Kind::Lantern | Kind::Balloon | Kind::Leaf)
    }
    /// Half width and half height in metres at `size`.
    pub fn half_extents(self, size: Size) -> [f32; 2] {
        let s = size.scale();
        let [w, h] = match self {
            Kind::Ball => [0.2, 0.2],
            Kind::Box => [0.2, 0.2],
            Kind::Bottle => [0.09, 0.26],
            Kind::Rock => [0.22, 0.15],
            Kind::Can => [0.12, 0.17],
            Kind::Lantern => [0.16, 0.22],
            Kind::Balloon => [0.19, 0.21],
            Kind::Leaf => [0.2, 0.06],
        };
        [w * s, h * s]
    }
    /// Area of the silhouette in square metres (used by the judge to recover scale).
    pub fn area(self, size: Size) -> f32 {
        let [hw, hh] = self.half_extents(size);
        match self {
            Kind::Ball | Kind::Balloon => std::f32::consts::PI * hw * hh,
            Kind::Box | Kind::Can => 4.0 * hw * hh,
            Kind::Bottle => 4.0 * hw * hh * 0.82,
            Kind::Rock => 4.0 * hw * hh * 0.75,
            Kind::Lantern => 4.0 * hw * hh * 0.9,
            Kind::Leaf => 4.0 * hw * hh * 0.6,
        }
    }
    /// Restitution of the object (combined by product with the floor's).
    pub fn restitution(self) -> f32 {
        match self {
            Kind::Ball => 0.92,
            Kind::Box => 0.45,
            Kind::Bottle => 0.5,
            Kind::Rock => 0.35,
            Kind::Can => 0.55,
            Kind::Lantern | Kind::Balloon => 0.5,
            Kind::Leaf => 0.05,
        }
    }
    /// Friction of the object.
    pub fn friction(self) -> f32 {
        match self {
            Kind::Ball => 0.9,
            Kind::Box => 0.8,
            Kind::Bottle => 0.6,
            Kind::Rock => 0.9,
            Kind::Can => 0.5,
            Kind::Lantern | Kind::Balloon | Kind::Leaf => 0.8,
        }
    }
    /// Density in kg/m^2 (2D).
    pub fn density(self) -> f32 {
        match self {
            Kind::Ball => 300.0,
            Kind::Box => 400.0,
            Kind::Bottle => 500.0,
            Kind::Rock => 900.0,
            Kind::Can => 350.0,
            Kind::Lantern => 20.0,
            Kind::Balloon => 5.0,
            Kind::Leaf => 10.0,
        }
    }
    /// What the object sounds like.
    pub fn material(self) -> Material {
        match self {
            Kind::Ball => Material::Rubber,
            Kind::Box => Material::Wood,
            Kind::Bottle => Material::Glass,
            Kind::Rock => Material::Stone,
            Kind::Can => Material::Metal,
            Kind::Lantern | Kind::Balloon | Kind::Leaf => Material::Paper,
        }
    }
    /// The coarse silhouette class the judge's tracker can tell apart.
    pub fn silhouette(self) -> Silhouette {
        match self {
            Kind::Ball | Kind::Balloon => Silhouette::Round,
            Kind::Box | Kind::Can | Kind::Lantern | Kind::Rock => Silhouette::Boxy,
            Kind::Bottle | Kind::Leaf => Silhouette::Elongated,
        }
    }
    /// The plural word.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Ball => "balls",
            Kind::Box => "boxes",
            Kind::Bottle => "bottles",
            Kind::Rock => "rocks",
            Kind::Can => "cans",
            Kind::Lantern => "lanterns",
            Kind::Balloon => "balloons",
            Kind::Leaf => "leaves",
        }
    }
}

/// Coarse silhouette classes the judge's tracker can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Silhouette {
    Round,
    Boxy,
    Elongated,
}

impl Size {
    pub fn scale(self) -> f32 {
        match self {
            Size::Small => 0.6,
            Size::Medium => 1.0,
            Size::Large => 1.45,
        }
    }
}

impl Colour {
    /// Colour in linear-ish sRGB, 0..1, fully saturated.
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Colour::Red => [0.92, 0.10, 0.10],
            Colour::Orange => [1.0, 0.50, 0.02],
            Colour::Yellow => [0.98, 0.86, 0.05],
            Colour::Green => [0.12, 0.78, 0.18],
            Colour::Teal => [0.05, 0.80, 0.80],
            Colour::Blue => [0.10, 0.28, 0.98],
            Colour::Purple => [0.55, 0.15, 0.90],
            Colour::Pink => [1.0, 0.25, 0.70],
        }
    }
    /// Hue in degrees of the colour as rendered.
    pub fn hue(self) -> f32 {
        let [r, g, b] = self.rgb();
        crate::judge::color::rgb_to_hsv(r, g, b).0
    }
}

impl TimeOfDay {
    /// Sky gradient: colour at the horizon and at the top (before lighting).
    pub fn sky(self) -> ([f32; 3], [f32; 3]) {
        match self {
            TimeOfDay::Dawn => ([0.93, 0.74, 0.62], [0.55, 0.60, 0.75]),
            TimeOfDay::Noon => ([0.75, 0.85, 0.93], [0.42, 0.60, 0.85]),
            TimeOfDay::Dusk => ([0.86, 0.58, 0.45], [0.30, 0.25, 0.42]),
            TimeOfDay::Night => ([0.12, 0.14, 0.24], [0.03, 0.04, 0.10]),
        }
    }
    /// Multiplier on object and floor colours.
    pub fn light(self) -> [f32; 3] {
        match self {
            TimeOfDay::Dawn => [1.0, 0.94, 0.88],
            TimeOfDay::Noon => [1.0, 1.0, 1.0],
            TimeOfDay::Dusk => [0.95, 0.85, 0.8],
            TimeOfDay::Night => [0.62, 0.66, 0.8],
        }
    }
    /// Direction the sun light comes from along x (shadow offset sign).
    pub fn sun_x(self) -> f32 {
        match self {
            TimeOfDay::Dawn => -1.0,
            TimeOfDay::Noon => -0.15,
            TimeOfDay::Dusk => 1.0,
            TimeOfDay::Night => 0.3,
        }
    }
}

impl Speed {
    /// Multiplier on the camera's move rate.
    pub fn factor(self) -> f32 {
        match self {
            Speed::Slow => 0.5,
            Speed::Normal => 1.0,
            Speed::Fast => 2.0,
        }
    }
    /// Adverb used in captions.
    pub fn adverb(self) -> &'static str {
        match self {
            Speed::Slow => "slowly",
            Speed::Normal => "steadily",
            Speed::Fast => "quickly",
        }
    }
}

/// Restitution a bounce of `kind` on `floor` should show (product rule).
pub fn expected_restitution(kind: Kind, floor: Floor) -> f32 {
    kind.restitution() * floor.restitution()
}
