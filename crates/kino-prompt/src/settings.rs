//! Global settings: `Duration:`, `Size:`, `Aspect:`, `FPS:`, `Seed:`,
//! `Preset:`, and the few unambiguous inline forms in prose
//! ("an 8-second clip", "24fps", "in 16:9").

use crate::diagnostics::{secs, Diagnostic};
use crate::plan::{ClipSettings, ClipSpans, Span};
use crate::sections::{SettingKey, SettingPiece};
use crate::source::{sl, trim_by, words, SourceMap};
use crate::time::{self, Standalone};
use crate::ClipDefaults;

/// Longest clip accepted, in seconds.
pub(crate) const MAX_DURATION_S: f64 = 3600.0;

/// A setting found in prose.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProseSetting {
    Duration(f64, (usize, usize)),
    Fps(u32, (usize, usize)),
    Aspect(String, f64, (usize, usize)),
}

/// Resolved settings plus whether the duration was written.
pub(crate) struct Resolved {
    pub clip: ClipSettings,
    pub duration_given: bool,
}

fn reduce(w: u32, h: u32) -> String {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(w, h).max(1);
    format!("{}:{}", w / g, h / g)
}

/// Size with the default pixel area and the given ratio, multiples of 16.
fn size_for_ratio(ratio: f64, defaults: &ClipDefaults) -> (u32, u32) {
    let area = (defaults.width.max(16) as f64) * (defaults.height.max(16) as f64);
    let w = (area * ratio).sqrt();
    let h = (area / ratio).sqrt();
    let r16 = |v: f64| (((v / 16.0).round() as u32).max(1) * 16).min(8192);
    (r16(w), r16(h))
}

fn parse_size(v: &str) -> Result<(u32, u32), String> {
    let t = v.trim().to_ascii_lowercase();
    let named = match t.as_str() {
        "360p" => Some((640, 360)),
        "480p" => Some((854, 480)),
        "540p" => Some((960, 540)),
        "720p" | "hd" => Some((1280, 720)),
        "1080p" | "full hd" | "fhd" => Some((1920, 1080)),
        "1440p" => Some((2560, 1440)),
        "2160p" | "4k" | "uhd" => Some((3840, 2160)),
        _ => None,
    };
    if let Some(s) = named {
        return Ok(s);
    }
    let parts: Vec<&str> = t.split(['x', '×', '*']).map(|p| p.trim()).collect();
    if parts.len() != 2 {
        return Err("write the size as WIDTHxHEIGHT, e.g. `1280x720`, or `720p`".into());
    }
    let w: u32 = parts[0]
        .parse()
        .map_err(|_| "width must be a whole number, e.g. `1280x720`".to_string())?;
    let h: u32 = parts[1]
        .parse()
        .map_err(|_| "height must be a whole number, e.g. `1280x720`".to_string())?;
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) {
        return Err("width and height must be between 16 and 8192 pixels".into());
    }
    if !w.is_multiple_of(2) || !h.is_multiple_of(2) {
        return Err(format!(
            "video encoders need even sizes; use `{}x{}`",
            w + w % 2,
            h + h % 2
        ));
    }
    Ok((w, h))
}

fn parse_aspect(v: &str) -> Result<(String, f64), String> {
    let t = v.trim().to_ascii_lowercase();
    let named = match t.as_str() {
        "landscape" | "widescreen" | "horizontal" => Some("16:9"),
        "portrait" | "vertical" => Some("9:16"),
        "square" => Some("1:1"),
        _ => None,
    };
    let t = named.map(str::to_string).unwrap_or(t);
    let parts: Vec<&str> = t.split([':', '/']).map(|p| p.trim()).collect();
    let bad = || "write the aspect ratio as W:H, e.g. `16:9`, `9:16` or `1:1`".to_string();
    if parts.len() != 2 {
        return Err(bad());
    }
    let w: f64 = parts[0].parse().map_err(|_| bad())?;
    let h: f64 = parts[1].parse().map_err(|_| bad())?;
    if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
        return Err(bad());
    }
    let r = w / h;
    if !(0.2..=5.0).contains(&r) {
        return Err("aspect ratio must be between 1:5 and 5:1".into());
    }
    Ok((format!("{}:{}", parts[0], parts[1]), r))
}

/// Turn setting pieces (and prose hints) into clip settings.
pub(crate) fn resolve(
    src: &str,
    lower: &str,
    map: &SourceMap,
    pieces: &[SettingPiece],
    prose: &[ProseSetting],
    defaults: &ClipDefaults,
    diags: &mut Vec<Diagnostic>,
) -> Resolved {
    let mut duration: Option<(f64, Span)> = None;
    let mut size: Option<((u32, u32), Span)> = None;
    let mut aspect: Option<((String, f64), Span)> = None;
    let mut fps: Option<(u32, Span)> = None;
    let mut seed: Option<(u64, Span)> = None;
    let mut preset: Option<(String, Span)> = None;
    let mut seen: Vec<SettingKey> = Vec::new();

    for p in pieces {
        let (a, b) = trim_by(src, p.start, p.end, |c| {
            c.is_whitespace() || matches!(c, ',' | ';' | '.' | '|')
        });
        let span = map.span(a, b);
        let value = sl(src, a, b);
        let invalid = |msg: String, hint: String| {
            Diagnostic::error("invalid-setting", span, msg).with_hint(hint)
        };
        if seen.contains(&p.key) {
            diags.push(
                Diagnostic::warning(
                    "duplicate-setting",
                    span,
                    format!("`{}` is set more than once", key_name(p.key)),
                )
                .with_hint("the last value wins; remove the others"),
            );
        } else {
            seen.push(p.key);
        }
        match p.key {
            SettingKey::Duration => match time::standalone(lower, a, b) {
                Standalone::Point(v) if v > 0.0 && v <= MAX_DURATION_S => {
                    duration = Some((v, span))
                }
                Standalone::Point(v) => diags.push(invalid(
                    format!("duration {} s is out of range", secs(v)),
                    format!("give a duration above 0 and at most {} s", MAX_DURATION_S),
                )),
                Standalone::Malformed(h) => diags.push(
                    Diagnostic::error(
                        "malformed-time",
                        span,
                        format!("malformed duration `{value}`"),
                    )
                    .with_hint(h),
                ),
                Standalone::Range(..) | Standalone::NotTime => diags.push(invalid(
                    format!("`{value}` is not a duration"),
                    "write e.g. `Duration: 8s` or `Duration: 0:08`".into(),
                )),
            },
            SettingKey::Size => match parse_size(value) {
                Ok(s) => size = Some((s, span)),
                Err(h) => diags.push(invalid(format!("invalid size `{value}`"), h)),
            },
            SettingKey::Aspect => match parse_aspect(value) {
                Ok(x) => aspect = Some((x, span)),
                Err(h) => diags.push(invalid(format!("invalid aspect ratio `{value}`"), h)),
            },
            SettingKey::Fps => {
                let t = value.to_ascii_lowercase();
                let t = t.trim_end_matches("fps").trim();
                match t.parse::<u32>() {
                    Ok(v) if (1..=240).contains(&v) => fps = Some((v, span)),
                    _ => diags.push(invalid(
                        format!("invalid frame rate `{value}`"),
                        "use a whole number of frames per second from 1 to 240, e.g. `FPS: 24`"
                            .into(),
                    )),
                }
            }
            SettingKey::Seed => match value.parse::<u64>() {
                Ok(v) => seed = Some((v, span)),
                Err(_) => diags.push(invalid(
                    format!("invalid seed `{value}`"),
                    "use a whole number from 0 to 18446744073709551615, e.g. `Seed: 42`".into(),
                )),
            },
            SettingKey::Preset => {
                let v = value.trim().to_lowercase();
                if v.is_empty() {
                    diags.push(invalid(
                        "empty preset".into(),
                        "write e.g. `Preset: cinematic`".into(),
                    ));
                } else {
                    preset = Some((v, span));
                }
            }
        }
    }

    for ps in prose {
        match ps {
            ProseSetting::Duration(v, (a, b))
                if duration.is_none() && *v > 0.0 && *v <= MAX_DURATION_S =>
            {
                duration = Some((*v, map.span(*a, *b)))
            }
            ProseSetting::Fps(v, (a, b)) if fps.is_none() && (1..=240).contains(v) => {
                fps = Some((*v, map.span(*a, *b)))
            }
            ProseSetting::Aspect(s, r, (a, b)) if aspect.is_none() && size.is_none() => {
                aspect = Some(((s.clone(), *r), map.span(*a, *b)))
            }
            _ => {}
        }
    }

    let (width, height, aspect_str) = match (&size, &aspect) {
        (Some(((w, h), _)), Some(((s, r), sp))) => {
            let actual = *w as f64 / *h as f64;
            if (actual - r).abs() / r > 0.02 {
                diags.push(
                    Diagnostic::warning(
                        "aspect-mismatch",
                        *sp,
                        format!(
                            "aspect {s} does not match the size {w}x{h} ({})",
                            reduce(*w, *h)
                        ),
                    )
                    .with_hint("the size wins; remove one of the two"),
                );
                (*w, *h, reduce(*w, *h))
            } else {
                (*w, *h, s.clone())
            }
        }
        (Some(((w, h), _)), None) => (*w, *h, reduce(*w, *h)),
        (None, Some(((s, r), _))) => {
            let (w, h) = size_for_ratio(*r, defaults);
            (w, h, s.clone())
        }
        (None, None) => {
            let (w, h) = (defaults.width, defaults.height);
            (w, h, reduce(w, h))
        }
    };

    let default_duration = if defaults.duration_s > 0.0 && defaults.duration_s <= MAX_DURATION_S {
        defaults.duration_s
    } else {
        4.0
    };
    Resolved {
        duration_given: duration.is_some(),
        clip: ClipSettings {
            duration_s: duration.as_ref().map(|d| d.0).unwrap_or(default_duration),
            width,
            height,
            aspect: aspect_str,
            fps: fps.as_ref().map(|f| f.0).unwrap_or(defaults.fps.max(1)),
            seed: seed.as_ref().map(|s| s.0),
            style_preset: preset.as_ref().map(|p| p.0.clone()),
            spans: ClipSpans {
                duration: duration.map(|d| d.1),
                size: size.map(|s| s.1),
                aspect: aspect.map(|a| a.1),
                fps: fps.map(|f| f.1),
                seed: seed.map(|s| s.1),
                style_preset: preset.map(|p| p.1),
            },
        },
    }
}

fn key_name(k: SettingKey) -> &'static str {
    match k {
        SettingKey::Duration => "Duration",
        SettingKey::Size => "Size",
        SettingKey::Aspect => "Aspect",
        SettingKey::Fps => "FPS",
        SettingKey::Seed => "Seed",
        SettingKey::Preset => "Preset",
    }
}

const KNOWN_RATIOS: &[&str] = &[
    "16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "4:5", "2.39:1", "2.35:1", "1.85:1",
];

/// Unambiguous settings inside prose: "an 8-second clip", "24fps", "in 16:9".
pub(crate) fn scan_prose(lower: &str, a: usize, b: usize) -> Vec<ProseSetting> {
    let mut out = Vec::new();
    // Every inline setting has a digit in it.
    if !sl(lower, a, b).bytes().any(|c| c.is_ascii_digit()) {
        return out;
    }
    let ws = words(lower, a, b);
    let w = |i: usize| ws.get(i).map(|&(s, e)| sl(lower, s, e)).unwrap_or("");
    let is_num = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|c| c.is_ascii_digit());
    for i in 0..ws.len() {
        let t = w(i);
        // 24fps / 24 fps
        if let Some(n) = t.strip_suffix("fps") {
            if is_num(n) {
                if let Ok(v) = n.parse() {
                    out.push(ProseSetting::Fps(v, ws[i]));
                }
            }
        } else if t == "fps" && i > 0 && is_num(w(i - 1)) {
            if let Ok(v) = w(i - 1).parse() {
                out.push(ProseSetting::Fps(v, (ws[i - 1].0, ws[i].1)));
            }
        }
        // 8-second clip / 8 second video / 8s clip
        let (num, unit_i) = if let Some(n) = t.strip_suffix('s').filter(|n| is_num(n)) {
            (Some(n), i)
        } else if is_num(t) && matches!(w(i + 1), "second" | "seconds" | "sec") {
            (Some(t), i + 1)
        } else {
            (None, i)
        };
        if let Some(n) = num {
            let mut j = unit_i + 1;
            if w(j) == "long" {
                j += 1;
            }
            if matches!(
                w(j),
                "clip"
                    | "video"
                    | "film"
                    | "shot"
                    | "sequence"
                    | "movie"
                    | "scene"
                    | "spot"
                    | "short"
            ) {
                if let Ok(v) = n.parse::<f64>() {
                    out.push(ProseSetting::Duration(v, (ws[i].0, ws[j].1)));
                }
            }
        }
    }
    // Aspect ratios with context.
    let bytes = lower.as_bytes();
    let has_colon = sl(lower, a, b).contains([':', '/']);
    for r in KNOWN_RATIOS.iter().filter(|_| has_colon) {
        let mut from = a;
        while let Some(pos) = sl(lower, from, b).find(r) {
            let s = from + pos;
            let e = s + r.len();
            from = e;
            let clean_left = s == 0
                || !(bytes[s - 1].is_ascii_alphanumeric() || matches!(bytes[s - 1], b':' | b'.'));
            let clean_right =
                e >= bytes.len() || !(bytes[e].is_ascii_alphanumeric() || bytes[e] == b':');
            if !(clean_left && clean_right) {
                continue;
            }
            let bi = ws.partition_point(|&(_, we)| we <= s);
            let before = if bi > 0 { w(bi - 1) } else { "" };
            let after = w(ws.partition_point(|&(x, _)| x < e));
            if matches!(before, "in" | "aspect" | "ratio" | "format")
                || matches!(
                    after,
                    "aspect" | "ratio" | "format" | "vertical" | "horizontal" | "widescreen"
                )
            {
                if let Ok((s2, rv)) = parse_aspect(r) {
                    out.push(ProseSetting::Aspect(s2, rv, (s, e)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_aspects() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_size("1920 × 1080"), Ok((1920, 1080)));
        assert_eq!(parse_size("720p"), Ok((1280, 720)));
        assert!(parse_size("1281x720").unwrap_err().contains("1282x720"));
        let d = ClipDefaults::default();
        assert_eq!(size_for_ratio(16.0 / 9.0, &d), (1280, 720));
        assert_eq!(size_for_ratio(9.0 / 16.0, &d), (720, 1280));
        assert_eq!(size_for_ratio(1.0, &d), (960, 960));
        assert_eq!(reduce(1920, 1080), "16:9");
        assert!(parse_aspect("16:9").is_ok());
        assert_eq!(
            parse_aspect("vertical").map(|x| x.0),
            Ok("9:16".to_string())
        );
    }

    #[test]
    fn prose_settings() {
        let s = "an 8-second clip of a cat, 24fps, in 16:9";
        let found = scan_prose(s, 0, s.len());
        assert!(found
            .iter()
            .any(|p| matches!(p, ProseSetting::Duration(v, _) if *v == 8.0)));
        assert!(found.iter().any(|p| matches!(p, ProseSetting::Fps(24, _))));
        assert!(found
            .iter()
            .any(|p| matches!(p, ProseSetting::Aspect(a, _, _) if a == "16:9")));
        let s = "she waits 8 seconds, then 3 birds fly";
        assert!(scan_prose(s, 0, s.len()).is_empty());
    }
}
