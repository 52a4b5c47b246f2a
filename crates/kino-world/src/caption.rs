//! Captions in the prompt language: a structured form (settings, Scene/Style, shots with
//! Camera/Motion/Audio and timed cues) and paraphrases (synonyms, reordered sections,
//! prose-only, short) so a model learns the language rather than one template.

use crate::rng::Rng;
use crate::sim::{Contact, ContactWith};
use crate::spec::SceneSpec;
use crate::truth::GroundTruth;
use crate::vocab::*;

/// Impacts slower than this (m/s) are not written as audio cues.
pub const AUDIBLE_SPEED: f32 = 0.6;

/// `00:01.25`
pub fn fmt_time(t: f64) -> String {
    let t = t.max(0.0);
    let m = (t / 60.0).floor();
    let s = t - m * 60.0;
    format!("{:02}:{:05.2}", m as u32, s)
}

fn fmt_clock(t: f32) -> String {
    let t = t.max(0.0) as f64;
    if (t - t.round()).abs() < 1e-6 {
        let s = t.round() as u32;
        format!("{:02}:{:02}", s / 60, s % 60)
    } else {
        fmt_time(t)
    }
}

struct Words {
    synonyms: bool,
    rng: Rng,
}

impl Words {
    fn pick(&mut self, canon: &'static str, alts: &[&'static str]) -> &'static str {
        if !self.synonyms || alts.is_empty() || self.rng.chance(0.4) {
            canon
        } else {
            alts[self.rng.below(alts.len())]
        }
    }
    fn kind(&mut self, k: Kind) -> &'static str {
        let alts: &[&str] = match k {
            Kind::Ball => &["sphere"],
            Kind::Box => &["crate", "cube", "block"],
            Kind::Rock => &["pebble"],
            Kind::Can => &["tin"],
            Kind::Lantern => &["paper lantern"],
            _ => &[],
        };
        self.pick(k.name(), alts)
    }
    fn colour(&mut self, c: Colour) -> &'static str {
        let alts: &[&str] = match c {
            Colour::Red => &["crimson", "scarlet"],
            Colour::Yellow => &["golden"],
            Colour::Teal => &["turquoise", "cyan"],
            Colour::Purple => &["violet"],
            _ => &[],
        };
        self.pick(c.name(), alts)
    }
    fn size(&mut self, s: Size) -> &'static str {
        let alts: &[&str] = match s {
            Size::Small => &["tiny", "little"],
            Size::Medium => &["medium-sized"],
            Size::Large => &["big"],
        };
        self.pick(s.name(), alts)
    }
    fn floor(&mut self, f: Floor) -> &'static str {
        let alts: &[&str] = match f {
            Floor::Wood => &["wooden planks", "a wooden deck"],
            Floor::Stone => &["cobblestones", "stone slabs"],
            Floor::Grass => &["a lawn", "a grassy field"],
            Floor::Metal => &["a steel plate", "a metal sheet"],
            Floor::Water => &["a pond", "still water"],
        };
        let canon = match f {
            Floor::Wood => "a wooden floor",
            Floor::Stone => "a stone floor",
            Floor::Grass => "grass",
            Floor::Metal => "a metal floor",
            Floor::Water => "water",
        };
        self.pick(canon, alts)
    }
    fn time(&mut self, t: TimeOfDay) -> &'static str {
        let alts: &[&str] = match t {
            TimeOfDay::Dawn => &["sunrise", "daybreak"],
            TimeOfDay::Noon => &["midday"],
            TimeOfDay::Dusk => &["sunset", "twilight"],
            TimeOfDay::Night => &["midnight"],
        };
        self.pick(t.name(), alts)
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

fn object_phrase(spec: &SceneSpec, i: usize, w: &mut Words, with_size: bool) -> String {
    let o = &spec.objects[i];
    let col = w.colour(o.colour);
    let kind = w.kind(o.kind);
    if with_size {
        let size = w.size(o.size);
        format!("{} {size} {col} {kind}", article(size))
    } else {
        format!("{} {col} {kind}", article(col))
    }
}

fn join_list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

fn surface_name(spec: &SceneSpec, c: &Contact) -> String {
    match c.with {
        ContactWith::Object(j) => format!(
            "the {} {}",
            spec.objects[j].colour.name(),
            spec.objects[j].kind.name()
        ),
        ContactWith::Wall => "the wall".into(),
        ContactWith::Water => "the water".into(),
        ContactWith::Floor => match spec.floor {
            Floor::Wood => "wood".into(),
            Floor::Stone => "stone".into(),
            Floor::Grass => "grass".into(),
            Floor::Metal => "metal".into(),
            Floor::Water => "the pool bottom".into(),
        },
    }
}

/// Audible impacts worth a timed cue (at most six).
fn cue_contacts(truth: &GroundTruth) -> Vec<&Contact> {
    truth
        .contacts
        .iter()
        .filter(|c| c.speed >= AUDIBLE_SPEED && c.with != ContactWith::Wall)
        .filter(|c| c.time_s < truth.spec.duration_s as f64)
        .take(6)
        .collect()
}

fn audio_cue(spec: &SceneSpec, c: &Contact) -> String {
    let o = &spec.objects[c.object];
    if c.with == ContactWith::Water {
        format!(
            "{} splashes into the water at {}",
            o.kind.name(),
            fmt_time(c.time_s)
        )
    } else {
        format!(
            "{} hits {} at {}",
            o.kind.name(),
            surface_name(spec, c),
            fmt_time(c.time_s)
        )
    }
}

fn ambient_cues(spec: &SceneSpec) -> Vec<String> {
    let mut v = Vec::new();
    match spec.time_of_day {
        TimeOfDay::Dawn => v.push("birds chirping in the background".to_string()),
        TimeOfDay::Dusk | TimeOfDay::Night => v.push("crickets in the background".to_string()),
        TimeOfDay::Noon => v.push("soft wind".to_string()),
    }
    if spec.weather == Weather::Rain {
        v.push("rain pattering".into());
    }
    if spec.floor == Floor::Water {
        v.push("water lapping".into());
    }
    v
}

/// What object `i` does, in words, with the time of its first impact.
/// Object `i`'s motion in words, and the time of the event it names (if it names one).
fn motion_phrase(spec: &SceneSpec, truth: &GroundTruth, i: usize) -> (String, Option<f64>) {
    let o = &spec.objects[i];
    let hits: Vec<&Contact> = truth
        .contacts
        .iter()
        .filter(|c| c.object == i && matches!(c.with, ContactWith::Floor | ContactWith::Water))
        .collect();
    let moved = truth
        .frames
        .iter()
        .map(|f| {
            let p = f.objects[i].position;
            (p[0] - o.position[0]).abs() + (p[1] - o.position[1]).abs()
        })
        .fold(0.0f32, f32::max);
    let name = format!("the {} {}", o.colour.name(), o.kind.name());
    match o.kind {
        Kind::Lantern | Kind::Balloon => (format!("{name} rises"), None),
        Kind::Leaf => match hits.first() {
            Some(c) => (
                format!("{name} flutters down and settles at {}", fmt_time(c.time_s)),
                Some(c.time_s),
            ),
            None => (format!("{name} flutters down"), None),
        },
        _ => {
            if let Some(c) = hits.iter().find(|c| c.with == ContactWith::Water) {
                return (
                    format!("{name} splashes into the water at {}", fmt_time(c.time_s)),
                    Some(c.time_s),
                );
            }
            match hits.first() {
                None if moved < 0.02 => (format!("{name} rests on the floor"), None),
                None => (format!("{name} falls"), None),
                Some(c) => {
                    let mut s =
                        format!("{name} falls and hits the floor at {}", fmt_time(c.time_s));
                    if hits.iter().filter(|h| h.speed > 0.3).count() >= 2 {
                        s.push_str(", then bounces");
                    }
                    (s, Some(c.time_s))
                }
            }
        }
    }
}

fn camera_phrase(shot: &crate::spec::ShotSpec, w: &mut Words) -> String {
    let framing = match shot.framing {
        Framing::Wide => "wide shot",
        Framing::Medium => "medium shot",
        Framing::Close => "close-up",
    };
    let mv = match shot.camera {
        CameraMove::Static => w.pick("static", &["locked off"]),
        CameraMove::PushIn => w.pick("push in", &["dolly in"]),
        CameraMove::PullOut => w.pick("pull out", &["dolly out"]),
        CameraMove::HandHeld => w.pick("handheld", &["hand-held"]),
        m => m.name(),
    };
    let speed = match (shot.camera, shot.speed) {
        (CameraMove::Static, _) | (_, Speed::Normal) => "",
        (_, Speed::Slow) => "slow ",
        (_, Speed::Fast) => "fast ",
    };
    format!("{speed}{mv}, {framing}")
}

fn style_phrase(spec: &SceneSpec) -> String {
    let mut v = Vec::new();
    if spec.style.grain > 0.0 {
        v.push("film grain");
    } else {
        v.push("no grain");
    }
    if spec.style.vignette > 0.7 {
        v.push("strong vignette");
    } else if spec.style.vignette > 0.0 {
        v.push("subtle vignette");
    }
    v.join(", ")
}

/// Whether a cue at `t` belongs to the shot `[a, b)`, judged at the time the caption writes
/// ([`fmt_time`] keeps hundredths), so that a contact at 0.998 s, written "00:01.00", goes to
/// the shot starting at 1 s, where a reader of the caption places it.
fn in_shot(t: f64, a: f64, b: f64) -> bool {
    let written = (t.max(0.0) * 100.0).round() / 100.0;
    written >= a && written < b
}

fn shot_range(truth: &GroundTruth, i: usize) -> (f64, f64) {
    let s = &truth.shots[i];
    (s.start_s as f64, s.end_s as f64)
}

fn structured(spec: &SceneSpec, truth: &GroundTruth, w: &mut Words, audio_first: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Duration: {}s\nSize: {}x{}\nFPS: {}\n",
        trim_num(spec.duration_s),
        spec.width,
        spec.height,
        spec.fps
    ));
    let objs: Vec<String> = (0..spec.objects.len())
        .map(|i| object_phrase(spec, i, w, true))
        .collect();
    let mut scene = format!(
        "Scene: {} over {} at {}",
        capitalise(&join_list(&objs)),
        w.floor(spec.floor),
        w.time(spec.time_of_day)
    );
    if spec.weather == Weather::Rain {
        scene.push_str(", in the rain");
    }
    out.push_str(&scene);
    out.push_str(".\n");
    out.push_str(&format!("Style: {}.\n", style_phrase(spec)));
    let cues = cue_contacts(truth);
    let multi = spec.shots.len() > 1;
    let motions: Vec<(String, Option<f64>)> = (0..spec.objects.len())
        .map(|i| motion_phrase(spec, truth, i))
        .collect();
    for (si, shot) in spec.shots.iter().enumerate() {
        let (a, b) = shot_range(truth, si);
        if multi {
            out.push_str(&format!(
                "Shot {} ({}-{}):\n",
                si + 1,
                fmt_clock(a as f32),
                fmt_clock(b as f32)
            ));
        }
        out.push_str(&format!("Camera: {}.\n", camera_phrase(shot, w)));
        // Each object's motion is told in the shot that covers the time it names, so cue
        // times fall inside their shot; untimed motion (and times past the last shot) go to
        // shot 1.
        let motion: Vec<String> = motions
            .iter()
            .filter(|(_, t)| {
                let covering = t.and_then(|t| {
                    (0..spec.shots.len()).find(|&k| {
                        let (a, b) = shot_range(truth, k);
                        in_shot(t, a, b)
                    })
                });
                covering.unwrap_or(0) == si
            })
            .map(|(m, _)| m.clone())
            .collect();
        let mut audio: Vec<String> = cues
            .iter()
            .filter(|c| in_shot(c.time_s, a, b))
            .map(|c| audio_cue(spec, c))
            .collect();
        if si == 0 {
            audio.extend(ambient_cues(spec));
        }
        let motion_line = (!motion.is_empty()).then(|| format!("Motion: {}.\n", motion.join("; ")));
        let audio_line = (!audio.is_empty()).then(|| format!("Audio: {}.\n", audio.join("; ")));
        for line in if audio_first {
            [audio_line, motion_line]
        } else {
            [motion_line, audio_line]
        }
        .into_iter()
        .flatten()
        {
            out.push_str(&line);
        }
    }
    out.trim_end().to_string()
}

fn trim_num(x: f32) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn prose(spec: &SceneSpec, truth: &GroundTruth, w: &mut Words) -> String {
    let objs: Vec<String> = (0..spec.objects.len())
        .map(|i| object_phrase(spec, i, w, true))
        .collect();
    let mut s = format!(
        "At {}, {} {} {}",
        w.time(spec.time_of_day),
        join_list(&objs),
        if spec.objects.len() > 1 {
            "drop toward"
        } else {
            "drops toward"
        },
        w.floor(spec.floor)
    );
    if spec.weather == Weather::Rain {
        s.push_str(" in the rain");
    }
    s.push_str(". ");
    for (si, shot) in spec.shots.iter().enumerate() {
        let cam = camera_phrase(shot, w);
        if si == 0 {
            s.push_str(&format!("The camera is {cam}"));
        } else {
            s.push_str(&format!(", then cuts to {cam}"));
        }
    }
    s.push_str(". ");
    let motion: Vec<String> = (0..spec.objects.len())
        .map(|i| motion_phrase(spec, truth, i).0)
        .collect();
    s.push_str(&capitalise(&motion.join("; ")));
    s.push_str(". ");
    let mut audio: Vec<String> = cue_contacts(truth)
        .iter()
        .map(|c| audio_cue(spec, c))
        .collect();
    audio.extend(ambient_cues(spec));
    s.push_str(&format!("We hear {}. ", audio.join(", ")));
    s.push_str(&capitalise(&style_phrase(spec)));
    s.push('.');
    s
}

fn short(spec: &SceneSpec, w: &mut Words) -> String {
    let objs: Vec<String> = (0..spec.objects.len())
        .map(|i| {
            let o = &spec.objects[i];
            format!("{} {}", w.colour(o.colour), w.kind(o.kind))
        })
        .collect();
    let cams: Vec<String> = spec.shots.iter().map(|s| camera_phrase(s, w)).collect();
    format!(
        "{} falling onto {}, {}, {}",
        join_list(&objs),
        w.floor(spec.floor),
        w.time(spec.time_of_day),
        cams.join(" then ")
    )
}

/// Captions for a clip: `[structured, structured with synonyms and reordered sections,
/// prose, short]`. The first is the canonical structured form.
pub fn captions(spec: &SceneSpec, truth: &GroundTruth, seed: u64) -> Vec<String> {
    let mut canon = Words {
        synonyms: false,
        rng: Rng::stream(seed, 50),
    };
    let mut syn = Words {
        synonyms: true,
        rng: Rng::stream(seed, 51),
    };
    let audio_first = syn.rng.chance(0.5);
    vec![
        structured(spec, truth, &mut canon, false),
        structured(spec, truth, &mut syn, audio_first),
        prose(spec, truth, &mut syn),
        short(spec, &mut syn),
    ]
}
