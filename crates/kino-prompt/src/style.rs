//! Style vocabulary: lighting, palette, grain, vignette, film look.

use crate::negative;
use crate::plan::StyleKind;
use crate::sections::StyleHint;
use crate::source::{sl, words};

const LIGHTING: &[&str] = &[
    "light",
    "lights",
    "lighting",
    "lit",
    "backlit",
    "backlight",
    "backlighting",
    "sunlight",
    "sunlit",
    "moonlight",
    "moonlit",
    "candlelight",
    "candlelit",
    "neon",
    "chiaroscuro",
    "shadow",
    "shadows",
    "golden",
    "glow",
    "glowing",
    "illuminated",
    "silhouette",
    "silhouetted",
    "lowkey",
    "highkey",
    "daylight",
    "lamplight",
    "firelight",
    "sunset",
    "sunrise",
    "dusk",
    "dawn",
];

const PALETTE: &[&str] = &[
    "tones",
    "tone",
    "toned",
    "palette",
    "color",
    "colors",
    "colour",
    "colours",
    "colored",
    "coloured",
    "hues",
    "hue",
    "saturated",
    "desaturated",
    "saturation",
    "monochrome",
    "monochromatic",
    "pastel",
    "pastels",
    "teal",
    "warm",
    "cool",
    "muted",
    "vibrant",
    "sepia",
    "grayscale",
    "greyscale",
    "contrast",
];

const FILM: &[&str] = &[
    "film",
    "35mm",
    "16mm",
    "8mm",
    "70mm",
    "super8",
    "kodak",
    "fuji",
    "fujifilm",
    "portra",
    "ektachrome",
    "anamorphic",
    "vhs",
    "analog",
    "analogue",
    "celluloid",
    "technicolor",
    "imax",
    "polaroid",
    "cinematic",
    "filmic",
    "camcorder",
    "kodachrome",
    "cinestill",
];

/// What the style phrase `lower[a..b]` is about.
pub(crate) fn classify(lower: &str, a: usize, b: usize, hint: Option<StyleHint>) -> StyleKind {
    let ws: Vec<&str> = words(lower, a, b)
        .into_iter()
        .map(|(s, e)| sl(lower, s, e))
        .collect();
    let negated = negative::lead(lower, a, b).is_some()
        || ws
            .iter()
            .any(|w| matches!(*w, "free" | "grainless" | "clean"));
    if ws
        .iter()
        .any(|w| matches!(*w, "grain" | "grainy" | "grainless" | "grains"))
    {
        return StyleKind::Grain { enabled: !negated };
    }
    if ws
        .iter()
        .any(|w| matches!(*w, "vignette" | "vignetting" | "vignetted"))
    {
        return StyleKind::Vignette { enabled: !negated };
    }
    match hint {
        Some(StyleHint::Lighting) => return StyleKind::Lighting,
        Some(StyleHint::Palette) => return StyleKind::Palette,
        None => {}
    }
    let text = sl(lower, a, b);
    if ws.iter().any(|w| LIGHTING.contains(w))
        || text.contains("low-key")
        || text.contains("high-key")
    {
        return StyleKind::Lighting;
    }
    if ws.iter().any(|w| PALETTE.contains(w))
        || text.contains("black and white")
        || text.contains("b&w")
    {
        return StyleKind::Palette;
    }
    if ws.iter().any(|w| FILM.contains(w)) {
        return StyleKind::FilmLook;
    }
    StyleKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> StyleKind {
        classify(s, 0, s.len(), None)
    }

    #[test]
    fn kinds() {
        assert_eq!(k("soft lighting"), StyleKind::Lighting);
        assert_eq!(k("warm tones"), StyleKind::Palette);
        assert_eq!(k("no grain"), StyleKind::Grain { enabled: false });
        assert_eq!(k("35mm film grain"), StyleKind::Grain { enabled: true });
        assert_eq!(k("subtle vignette"), StyleKind::Vignette { enabled: true });
        assert_eq!(k("shot on 35mm film"), StyleKind::FilmLook);
        assert_eq!(k("dreamy"), StyleKind::Other);
    }
}
