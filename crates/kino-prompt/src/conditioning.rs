//! Per-shot text for text encoders ([`Shot::conditioning_text`]) and a
//! human-readable dump of the plan ([`ShotPlan::to_pretty_text`]).

use crate::diagnostics::secs;
use crate::plan::{
    Angle, AudioKind, CameraMove, DepthOfField, Directives, Framing, Horizontal, InOut, Shot,
    ShotPlan, ShotTiming, Span, Speed, StyleKind, TimeRange, Vertical,
};
use crate::source::capitalize;
use std::fmt::Write;

impl Shot {
    /// What this shot directs once the plan's global directives are merged in:
    /// global scene, motion, audio, dialogue and negatives come first, then
    /// the shot's own; timed global items only where they overlap this shot;
    /// the shot's camera (or style), if it has any, replaces the global one.
    pub fn effective(&self, plan: &ShotPlan) -> Directives {
        let g = &plan.global;
        let s = &self.content;
        let here = |at: &Option<TimeRange>| {
            at.as_ref()
                .is_none_or(|t| t.overlaps(self.start_s, self.end_s))
        };
        Directives {
            scene: g.scene.iter().chain(&s.scene).cloned().collect(),
            camera: if s.camera.is_empty() {
                g.camera.clone()
            } else {
                s.camera.clone()
            },
            motion: g
                .motion
                .iter()
                .filter(|p| here(&p.at))
                .chain(&s.motion)
                .cloned()
                .collect(),
            audio: g
                .audio
                .iter()
                .filter(|c| here(&c.at))
                .chain(&s.audio)
                .cloned()
                .collect(),
            dialogue: g
                .dialogue
                .iter()
                .filter(|l| here(&l.at))
                .chain(&s.dialogue)
                .cloned()
                .collect(),
            style: if s.style.is_empty() {
                g.style.clone()
            } else {
                s.style.clone()
            },
            negatives: g.negatives.iter().chain(&s.negatives).cloned().collect(),
        }
    }

    /// A prompt for text encoders (Wan / Ovi style prose) that keeps all the
    /// information of this shot: scene, motion, camera, style and preset,
    /// sounds by kind, dialogue and things to avoid. Times are given in
    /// seconds from the start of *this shot*.
    pub fn conditioning_text(&self, plan: &ShotPlan) -> String {
        let d = self.effective(plan);
        let t0 = self.start_s;
        let mut out: Vec<String> = Vec::new();

        for p in &d.scene {
            out.push(sentence(&with_time(&p.text, &p.at, t0)));
        }
        if !d.motion.is_empty() {
            let items: Vec<String> = d
                .motion
                .iter()
                .map(|p| with_time(&p.text, &p.at, t0))
                .collect();
            out.push(sentence(&items.join("; ")));
        }
        let mut cam_items = Vec::new();
        for p in &d.camera.phrases {
            let t = with_time(&p.text, &p.at, t0);
            if t.to_ascii_lowercase().contains("camera") {
                out.push(sentence(&t));
            } else {
                cam_items.push(t);
            }
        }
        if !cam_items.is_empty() {
            out.push(sentence(&format!("Camera: {}", cam_items.join(", "))));
        }
        let mut style: Vec<String> = d.style.iter().map(|s| s.text.clone()).collect();
        if let Some(p) = &plan.clip.style_preset {
            style.push(format!("{p} preset"));
        }
        if !style.is_empty() {
            out.push(sentence(&format!("Style: {}", style.join(", "))));
        }
        for (kind, label) in [
            (AudioKind::Ambient, "Ambient sound"),
            (AudioKind::Effect, "Sound effects"),
            (AudioKind::Music, "Music"),
            (AudioKind::Speech, "Voice"),
        ] {
            let items: Vec<String> = d
                .audio
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| with_time(&c.description, &c.at, t0))
                .collect();
            if !items.is_empty() {
                out.push(sentence(&format!("{label}: {}", items.join(", "))));
            }
        }
        if !d.dialogue.is_empty() {
            let lines: Vec<String> = d
                .dialogue
                .iter()
                .map(|l| {
                    let mut s = String::new();
                    match &l.speaker {
                        Some(sp) => s.push_str(sp),
                        None => s.push_str("Someone"),
                    }
                    if let Some(del) = &l.delivery {
                        let _ = write!(s, " ({del})");
                    }
                    let _ = write!(s, " says \"{}\"", l.text);
                    with_time(&s, &l.at, t0)
                })
                .collect();
            out.push(sentence(&format!("Dialogue: {}", lines.join("; "))));
        }
        if !d.negatives.is_empty() {
            let items: Vec<&str> = d.negatives.iter().map(|n| n.text.as_str()).collect();
            out.push(sentence(&format!("Avoid: {}", items.join(", "))));
        }
        out.join(" ")
    }
}

fn rel(v: f64, t0: f64) -> String {
    secs((v - t0).max(0.0))
}

fn with_time(text: &str, at: &Option<TimeRange>, t0: f64) -> String {
    match at {
        None => text.to_string(),
        Some(t) => {
            let when = match t.end_s {
                None => format!("at {} s", rel(t.start_s, t0)),
                Some(e) => format!("from {} s to {} s", rel(t.start_s, t0), rel(e, t0)),
            };
            if text.is_empty() {
                when
            } else {
                format!("{text} {when}")
            }
        }
    }
}

fn sentence(s: &str) -> String {
    let mut out = capitalize(s.trim());
    let core = out.trim_end_matches(['"', '”', ')']);
    if !core.ends_with(['.', '!', '?', '…']) {
        out.push('.');
    }
    out
}

/// Words for a camera move: "push in (slow)", "tilt up", "hand-held".
pub(crate) fn move_words(m: &CameraMove) -> String {
    fn h(d: Option<Horizontal>) -> &'static str {
        match d {
            Some(Horizontal::Left) => " left",
            Some(Horizontal::Right) => " right",
            None => "",
        }
    }
    fn v(d: Option<Vertical>) -> &'static str {
        match d {
            Some(Vertical::Up) => " up",
            Some(Vertical::Down) => " down",
            None => "",
        }
    }
    fn io(d: InOut) -> &'static str {
        match d {
            InOut::In => " in",
            InOut::Out => " out",
        }
    }
    let (base, speed) = match m {
        CameraMove::Static => ("static".to_string(), None),
        CameraMove::HandHeld => ("hand-held".to_string(), None),
        CameraMove::Push { direction, speed } => (format!("push{}", io(*direction)), Some(speed)),
        CameraMove::Zoom { direction, speed } => (format!("zoom{}", io(*direction)), Some(speed)),
        CameraMove::Pan { direction, speed } => (format!("pan{}", h(*direction)), Some(speed)),
        CameraMove::Truck { direction, speed } => (format!("truck{}", h(*direction)), Some(speed)),
        CameraMove::Orbit { direction, speed } => (format!("orbit{}", h(*direction)), Some(speed)),
        CameraMove::Tilt { direction, speed } => (format!("tilt{}", v(*direction)), Some(speed)),
        CameraMove::Pedestal { direction, speed } => {
            (format!("pedestal{}", v(*direction)), Some(speed))
        }
        CameraMove::Crane { direction, speed } => (format!("crane{}", v(*direction)), Some(speed)),
        CameraMove::Track { speed } => ("track".to_string(), Some(speed)),
    };
    match speed {
        Some(Speed::Slow) => format!("{base} (slow)"),
        Some(Speed::Fast) => format!("{base} (fast)"),
        _ => base,
    }
}

fn framing_words(f: Framing) -> &'static str {
    match f {
        Framing::ExtremeWide => "extreme wide",
        Framing::Wide => "wide",
        Framing::Medium => "medium",
        Framing::MediumCloseUp => "medium close-up",
        Framing::CloseUp => "close-up",
        Framing::ExtremeCloseUp => "extreme close-up",
    }
}

fn angle_words(a: Angle) -> &'static str {
    match a {
        Angle::EyeLevel => "eye level",
        Angle::Low => "low angle",
        Angle::High => "high angle",
        Angle::Overhead => "overhead",
        Angle::Dutch => "dutch angle",
        Angle::OverTheShoulder => "over the shoulder",
        Angle::Pov => "point of view",
    }
}

fn at_words(at: &Option<TimeRange>) -> String {
    match at {
        None => String::new(),
        Some(t) => match t.end_s {
            None => format!(" @ {} s", secs(t.start_s)),
            Some(e) => format!(" @ {}–{} s", secs(t.start_s), secs(e)),
        },
    }
}

fn sp(s: Span) -> String {
    format!("  [{}:{}]", s.line, s.col)
}

fn dump(d: &Directives, out: &mut String) {
    let mut row = |label: &str, first: &mut bool, text: String| {
        let l = if *first { label } else { "" };
        *first = false;
        let _ = writeln!(out, "  {l:<10}{text}");
    };
    let mut f = true;
    for p in &d.scene {
        row(
            "scene",
            &mut f,
            format!("{}{}{}", p.text, at_words(&p.at), sp(p.span)),
        );
    }
    let mut f = true;
    for m in &d.camera.moves {
        row(
            "camera",
            &mut f,
            format!(
                "{}{}  \"{}\"{}",
                move_words(&m.movement),
                at_words(&m.at),
                m.text,
                sp(m.span)
            ),
        );
    }
    if let Some(l) = &d.camera.lens {
        row(
            "camera",
            &mut f,
            format!(
                "lens {} mm{}",
                secs(l.focal_length_mm).trim_end_matches(".0"),
                sp(l.span)
            ),
        );
    }
    if let Some(x) = &d.camera.depth_of_field {
        let w = match x.value {
            DepthOfField::Shallow => "shallow",
            DepthOfField::Deep => "deep",
        };
        row(
            "camera",
            &mut f,
            format!("{w} depth of field{}", sp(x.span)),
        );
    }
    if let Some(x) = &d.camera.framing {
        row(
            "camera",
            &mut f,
            format!("framing: {}{}", framing_words(x.value), sp(x.span)),
        );
    }
    if let Some(x) = &d.camera.angle {
        row(
            "camera",
            &mut f,
            format!("angle: {}{}", angle_words(x.value), sp(x.span)),
        );
    }
    if d.camera.moves.is_empty()
        && d.camera.lens.is_none()
        && d.camera.depth_of_field.is_none()
        && d.camera.framing.is_none()
        && d.camera.angle.is_none()
    {
        for p in &d.camera.phrases {
            row("camera", &mut f, format!("\"{}\"{}", p.text, sp(p.span)));
        }
    }
    let mut f = true;
    for p in &d.motion {
        row(
            "motion",
            &mut f,
            format!("{}{}{}", p.text, at_words(&p.at), sp(p.span)),
        );
    }
    let mut f = true;
    for c in &d.audio {
        let k = match c.kind {
            AudioKind::Ambient => "ambient",
            AudioKind::Effect => "effect",
            AudioKind::Music => "music",
            AudioKind::Speech => "speech",
        };
        row(
            "audio",
            &mut f,
            format!("{k:<8}{}{}{}", c.description, at_words(&c.at), sp(c.span)),
        );
    }
    let mut f = true;
    for l in &d.dialogue {
        let who = l.speaker.clone().unwrap_or_else(|| "(unattributed)".into());
        let del = l
            .delivery
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default();
        row(
            "dialogue",
            &mut f,
            format!(
                "{who}{del}{}: \"{}\"{}",
                at_words(&l.at),
                l.text,
                sp(l.span)
            ),
        );
    }
    let mut f = true;
    for s in &d.style {
        let k = match s.kind {
            StyleKind::Lighting => "lighting".to_string(),
            StyleKind::Palette => "palette".to_string(),
            StyleKind::Grain { enabled } => format!("grain {}", if enabled { "on" } else { "off" }),
            StyleKind::Vignette { enabled } => {
                format!("vignette {}", if enabled { "on" } else { "off" })
            }
            StyleKind::FilmLook => "film look".to_string(),
            StyleKind::Other => "other".to_string(),
        };
        row("style", &mut f, format!("{k}: {}{}", s.text, sp(s.span)));
    }
    let mut f = true;
    for n in &d.negatives {
        row("avoid", &mut f, format!("{}{}", n.text, sp(n.span)));
    }
}

impl ShotPlan {
    /// A human-readable summary: clip settings, global directives, every
    /// shot with its time range, typed directives with their `[line:col]`,
    /// and each shot's conditioning text.
    pub fn to_pretty_text(&self) -> String {
        let c = &self.clip;
        let mut out = String::new();
        let _ = write!(
            out,
            "Clip: {} s, {}x{} ({}), {} fps",
            secs(c.duration_s),
            c.width,
            c.height,
            c.aspect,
            c.fps
        );
        if let Some(s) = c.seed {
            let _ = write!(out, ", seed {s}");
        }
        if let Some(p) = &c.style_preset {
            let _ = write!(out, ", preset {p}");
        }
        out.push('\n');
        if !self.global.is_empty() {
            out.push_str("All shots:\n");
            dump(&self.global, &mut out);
        }
        for s in &self.shots {
            let how = match s.timing {
                ShotTiming::Explicit => "as written",
                ShotTiming::Duration => "length as written",
                ShotTiming::Even => "even split",
            };
            let _ = writeln!(
                out,
                "Shot {}: {}–{} s ({how}){}",
                s.index,
                secs(s.start_s),
                secs(s.end_s),
                sp(s.span)
            );
            dump(&s.content, &mut out);
            let _ = writeln!(out, "  {:<10}{}", "text", s.conditioning_text(self));
        }
        out
    }

    /// [`Shot::conditioning_text`] for every shot, in order.
    pub fn conditioning_texts(&self) -> Vec<String> {
        self.shots
            .iter()
            .map(|s| s.conditioning_text(self))
            .collect()
    }
}
