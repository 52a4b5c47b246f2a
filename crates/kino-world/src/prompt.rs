//! `scene_from_prompt`: reads a prompt written in the world's vocabulary (prose or the
//! structured prompt language) into a [`SceneSpec`].

use crate::error::{Result, WorldError};
use crate::spec::{ObjectSpec, SceneSpec, ShotSpec, Style};
use crate::vocab::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Term {
    Kind(Kind, bool),
    Colour(Colour),
    Size(Size),
    Floor(Floor),
    Time(TimeOfDay),
    Weather(Weather),
    Move(CameraMove),
    Speed(Speed),
    Framing(Framing),
    Count(usize),
    Definite,
    Rest,
    Roll,
    Slide,
    Grain,
    Vignette,
    Strong,
    Subtle,
    No,
    Then,
    Shot,
    Setting(u8),
    Filler,
}

const FILLERS: &[&str] = &[
    "and",
    "with",
    "of",
    "on",
    "onto",
    "into",
    "to",
    "toward",
    "towards",
    "over",
    "above",
    "in",
    "at",
    "from",
    "then",
    "while",
    "as",
    "is",
    "are",
    "it",
    "its",
    "they",
    "their",
    "we",
    "hear",
    "hears",
    "camera",
    "scene",
    "motion",
    "audio",
    "sound",
    "sounds",
    "style",
    "cut",
    "cuts",
    "falls",
    "fall",
    "falling",
    "drops",
    "drop",
    "dropping",
    "dropped",
    "lands",
    "land",
    "landing",
    "hits",
    "hit",
    "hitting",
    "strikes",
    "strike",
    "bounces",
    "bounce",
    "bouncing",
    "rises",
    "rise",
    "rising",
    "drifts",
    "drift",
    "drifting",
    "up",
    "down",
    "left",
    "right",
    "flutters",
    "flutter",
    "fluttering",
    "settles",
    "settle",
    "settling",
    "splashes",
    "splash",
    "splashing",
    "floats",
    "float",
    "tumbles",
    "tumble",
    "tumbling",
    "knocks",
    "against",
    "each",
    "other",
    "floor",
    "ground",
    "surface",
    "background",
    "soft",
    "loud",
    "chirping",
    "chirp",
    "crickets",
    "birds",
    "wind",
    "lapping",
    "patter",
    "pattering",
    "ambient",
    "ambience",
    "light",
    "natural",
    "clean",
    "image",
    "look",
    "film",
    "without",
    "across",
    "frame",
    "under",
    "sky",
    "by",
    "near",
    "next",
    "beside",
    "there",
    "this",
    "that",
    "be",
    "being",
    "shown",
    "shows",
    "show",
    "seen",
    "view",
    "side",
    "wall",
    "pool",
    "bottom",
    "gravity",
    "then,",
    "shot",
    "wooden",
    "stone",
    "metal",
    "bouncy",
    "bright",
    "colorful",
    "colourful",
    "seconds",
    "second",
    "clip",
    "lit",
    "glowing",
    "glows",
    "gently",
    "quietly",
    "thrown",
    "tossed",
    "lying",
    "lies",
    "sits",
    "sitting",
    "still",
    "resting",
    "rests",
    "rolls",
    "rolling",
    "slides",
    "sliding",
    "dolly",
    "zoom",
    "pans",
    "pan",
    "tilt",
    "tilts",
    "push",
    "pushes",
    "pull",
    "pulls",
    "is",
    "the",
    "a",
    "an",
    "one",
    "two",
    "three",
    "four",
];

fn phrase_table() -> Vec<(Vec<String>, Term)> {
    let mut t: Vec<(Vec<String>, Term)> = Vec::new();
    let mut add = |words: &[&str], term: Term| {
        for w in words {
            t.push((w.split_whitespace().map(str::to_string).collect(), term));
        }
    };
    for &k in Kind::ALL {
        add(&[k.name()], Term::Kind(k, false));
        for w in &k.words()[1..] {
            let plural = (w.ends_with('s') || *w == "leaves") && !w.contains(' ');
            add(&[w], Term::Kind(k, plural));
        }
    }
    for &c in Colour::ALL {
        add(c.words(), Term::Colour(c));
    }
    for &s in Size::ALL {
        add(s.words(), Term::Size(s));
    }
    for &f in Floor::ALL {
        add(f.words(), Term::Floor(f));
    }
    for &d in TimeOfDay::ALL {
        add(d.words(), Term::Time(d));
    }
    add(
        &["rain", "raining", "rainy", "rainfall", "drizzle"],
        Term::Weather(Weather::Rain),
    );
    for &m in CameraMove::ALL {
        add(m.words(), Term::Move(m));
    }
    for &s in Speed::ALL {
        add(s.words(), Term::Speed(s));
    }
    for &f in Framing::ALL {
        add(f.words(), Term::Framing(f));
    }
    add(&["a", "an", "one", "another"], Term::Count(1));
    add(&["two", "pair of", "a pair of"], Term::Count(2));
    add(&["three"], Term::Count(3));
    add(&["four"], Term::Count(4));
    add(&["the"], Term::Definite);
    add(
        &[
            "rests",
            "resting",
            "rest",
            "at rest",
            "sits",
            "sitting",
            "lies",
            "lying",
            "sits still",
        ],
        Term::Rest,
    );
    add(&["rolls", "rolling", "roll"], Term::Roll);
    add(&["slides", "sliding", "slide"], Term::Slide);
    add(&["grain", "film grain", "grainy"], Term::Grain);
    add(&["vignette", "vignetting"], Term::Vignette);
    add(&["strong", "heavy"], Term::Strong);
    add(&["subtle", "light vignette"], Term::Subtle);
    add(&["no", "without"], Term::No);
    add(&["then", "cuts to", "cut to", "then cuts to"], Term::Then);
    add(&["shot"], Term::Shot);
    add(&["duration"], Term::Setting(0));
    add(&["size"], Term::Setting(1));
    add(&["fps"], Term::Setting(2));
    add(&["seed"], Term::Setting(3));
    // Longest phrases first.
    t.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
    t
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    /// A clause ends after this token (`,` `;` `.` newline).
    clause_end: bool,
    numeric: bool,
}

fn tokenize(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for line in src.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let n = words.len();
        for (i, raw) in words.iter().enumerate() {
            let lower = raw.to_lowercase();
            let trimmed = lower
                .trim_matches(|c: char| ",.;:!?()[]\"'".contains(c))
                .to_string();
            let clause_end = i + 1 == n || lower.ends_with([',', ';', '.', '!', '?', ':']);
            if trimmed.is_empty() {
                if let Some(last) = out.last_mut() {
                    let last: &mut Token = last;
                    last.clause_end |= clause_end;
                }
                continue;
            }
            let numeric = trimmed.starts_with(|c: char| c.is_ascii_digit());
            out.push(Token {
                text: trimmed,
                clause_end,
                numeric,
            });
        }
    }
    out
}

fn parse_clock(s: &str) -> Option<f32> {
    let s = s.trim_end_matches('s');
    let mut total = 0.0f32;
    for part in s.split(':') {
        total = total * 60.0 + part.parse::<f32>().ok()?;
    }
    Some(total)
}

/// What a prompt said, and which attributes it stated explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptReading {
    /// The scene to render (unstated things filled with defaults).
    pub spec: SceneSpec,
    /// Words the reader could not place.
    pub unknown: Vec<String>,
    pub floor_stated: bool,
    pub time_stated: bool,
    pub camera_stated: bool,
    /// Per object: was a size written?
    pub size_stated: Vec<bool>,
    /// Per object: was a colour written?
    pub colour_stated: Vec<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verb {
    Fall,
    Rest,
    Roll,
    Slide,
}

struct Mention {
    kind: Kind,
    colour: Option<Colour>,
    size: Option<Size>,
    verb: Verb,
}

/// Reads a prompt leniently: unknown words are collected, not fatal.
pub fn read_prompt(src: &str) -> Result<PromptReading> {
    let table = phrase_table();
    let toks = tokenize(src);
    let mut unknown: Vec<String> = Vec::new();
    let mut mentions: Vec<Mention> = Vec::new();
    let mut floor = None;
    let mut time = None;
    let mut weather = Weather::Clear;
    let mut style = Style::default();
    let (mut duration, mut size_wh, mut fps, mut seed) = (None, None, None, None);
    // Shots: (explicit start, move, speed, framing)
    struct ShotAcc {
        start: Option<f32>,
        mv: Option<CameraMove>,
        speed: Option<Speed>,
        framing: Option<Framing>,
    }
    let new_shot = |start| ShotAcc {
        start,
        mv: None,
        speed: None,
        framing: None,
    };
    let mut shots: Vec<ShotAcc> = vec![new_shot(Some(0.0))];
    let mut explicit_shots = false;
    // Adjectives waiting for a noun, and the count/definiteness before them.
    let mut pend_colour: Option<Colour> = None;
    let mut pend_size: Option<Size> = None;
    let mut pend_count: Option<usize> = None;
    let mut pend_def = false;
    let mut negate = false;
    let mut strength: Option<f32> = None;
    let mut clause_objects: Vec<usize> = Vec::new();
    let mut pending_then = false;

    let mut i = 0;
    while i < toks.len() {
        let tok = &toks[i];
        let mut consumed = 1;
        let mut term = None;
        if tok.numeric {
            term = Some(Term::Filler);
        } else {
            for (words, t) in &table {
                if i + words.len() <= toks.len()
                    && words.iter().enumerate().all(|(k, w)| toks[i + k].text == *w)
                    // A phrase may not run across a clause end.
                    && (0..words.len() - 1).all(|k| !toks[i + k].clause_end)
                {
                    term = Some(*t);
                    consumed = words.len();
                    break;
                }
            }
            if term.is_none() && FILLERS.contains(&tok.text.as_str()) {
                term = Some(Term::Filler);
            }
        }
        let last = &toks[i + consumed - 1];
        // An article or count only reaches the noun phrase right after it.
        if !matches!(
            term,
            Some(
                Term::Count(_) | Term::Definite | Term::Colour(_) | Term::Size(_) | Term::Kind(..)
            )
        ) {
            pend_count = None;
            pend_def = false;
        }
        match term {
            None => {
                if !unknown.contains(&tok.text) {
                    unknown.push(tok.text.clone());
                }
            }
            Some(Term::Setting(which)) => {
                if let Some(next) = toks.get(i + 1).filter(|t| t.numeric) {
                    let v = next.text.as_str();
                    match which {
                        0 => duration = parse_clock(v.trim_end_matches("sec")),
                        1 => {
                            let mut p = v.split('x');
                            if let (Some(a), Some(b)) = (p.next(), p.next()) {
                                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                                    size_wh = Some((a, b));
                                }
                            }
                        }
                        2 => fps = v.parse::<u32>().ok(),
                        _ => seed = v.parse::<u64>().ok(),
                    }
                    consumed = 2;
                }
            }
            Some(Term::Shot) => {
                // "Shot 2 (00:01-00:02):" starts a shot block.
                if let Some(next) = toks
                    .get(i + 1)
                    .filter(|t| t.numeric && !t.text.contains(':'))
                {
                    let _ = next;
                    consumed = 2;
                    let mut start = None;
                    if let Some(range) = toks.get(i + 2).filter(|t| t.numeric) {
                        start = range.text.split('-').next().and_then(parse_clock);
                        consumed = 3;
                    }
                    if explicit_shots {
                        shots.push(new_shot(start));
                    } else {
                        explicit_shots = true;
                        if let Some(s) = shots.first_mut() {
                            s.start = Some(start.unwrap_or(0.0));
                        }
                    }
                    pending_then = false;
                }
            }
            Some(Term::Then) => pending_then = true,
            Some(Term::Count(n)) => {
                pend_count = Some(n);
                pend_def = false;
            }
            Some(Term::Definite) => {
                pend_def = true;
                pend_count = None;
            }
            Some(Term::Colour(c)) => pend_colour = Some(c),
            Some(Term::Size(s)) => pend_size = Some(s),
            Some(Term::Kind(k, plural)) => {
                let count = pend_count.unwrap_or(if plural { 2 } else { 1 });
                // "the ball" or a bare "ball" refers back to one already named.
                let refers = if pend_def || pend_count.is_none() {
                    mentions.iter().position(|m| {
                        m.kind == k && (pend_colour.is_none() || m.colour == pend_colour)
                    })
                } else {
                    None
                };
                match refers {
                    Some(idx) => clause_objects.push(idx),
                    _ => {
                        for _ in 0..count.max(1) {
                            clause_objects.push(mentions.len());
                            mentions.push(Mention {
                                kind: k,
                                colour: pend_colour,
                                size: pend_size,
                                verb: Verb::Fall,
                            });
                        }
                    }
                }
                pend_colour = None;
                pend_size = None;
                pend_count = None;
                pend_def = false;
            }
            Some(Term::Floor(f)) => {
                floor.get_or_insert(f);
            }
            Some(Term::Time(d)) => {
                time.get_or_insert(d);
            }
            Some(Term::Weather(w)) => weather = w,
            Some(Term::Move(m)) => {
                let s = shots.last_mut().filter(|s| s.mv.is_none() && !pending_then);
                match s {
                    Some(s) => s.mv = Some(m),
                    None => {
                        let mut s = new_shot(None);
                        s.mv = Some(m);
                        shots.push(s);
                    }
                }
                pending_then = false;
            }
            Some(Term::Speed(sp)) => {
                if let Some(s) = shots.last_mut() {
                    s.speed.get_or_insert(sp);
                }
            }
            Some(Term::Framing(f)) => {
                if pending_then {
                    shots.push(new_shot(None));
                    pending_then = false;
                }
                if let Some(s) = shots.last_mut() {
                    s.framing.get_or_insert(f);
                }
            }
            Some(Term::Rest | Term::Roll | Term::Slide) => {
                let verb = match term {
                    Some(Term::Rest) => Verb::Rest,
                    Some(Term::Roll) => Verb::Roll,
                    _ => Verb::Slide,
                };
                for &o in &clause_objects {
                    if let Some(m) = mentions.get_mut(o) {
                        m.verb = verb;
                    }
                }
                // "a box rests while a ball rolls": a verb closes its subjects.
                clause_objects.clear();
            }
            Some(Term::No) => negate = true,
            Some(Term::Strong) => strength = Some(0.9),
            Some(Term::Subtle) => strength = Some(0.35),
            Some(Term::Grain) => {
                style.grain = if negate {
                    0.0
                } else {
                    strength.unwrap_or(0.5).min(0.8)
                };
                negate = false;
                strength = None;
            }
            Some(Term::Vignette) => {
                style.vignette = if negate { 0.0 } else { strength.unwrap_or(0.6) };
                negate = false;
                strength = None;
            }
            Some(Term::Filler) => {}
        }
        if last.clause_end {
            clause_objects.clear();
            pend_count = None;
            pend_def = false;
            negate = false;
            strength = None;
            pend_colour = None;
            pend_size = None;
        }
        i += consumed;
    }

    if mentions.is_empty() && !unknown.is_empty() {
        return Err(WorldError::UnknownWords {
            words: unknown,
            hint: format!(
                "and no object the world can show; name one of: {}",
                Kind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if mentions.is_empty() {
        return Err(WorldError::Prompt(format!(
            "no object the world can show; name one of: {}",
            Kind::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if mentions.len() > 8 {
        return Err(WorldError::Prompt(format!(
            "{} objects; the world shows at most 8",
            mentions.len()
        )));
    }

    let floor_stated = floor.is_some();
    let time_stated = time.is_some();
    let floor = floor.unwrap_or(Floor::Wood);
    let mut spec = SceneSpec::new(Vec::new());
    spec.floor = floor;
    spec.time_of_day = time.unwrap_or(TimeOfDay::Noon);
    spec.weather = weather;
    spec.style = style;
    if let Some(d) = duration {
        spec.duration_s = d;
    }
    if let Some((w, h)) = size_wh {
        spec.width = w;
        spec.height = h;
    }
    if let Some(f) = fps {
        spec.fps = f;
    }
    if let Some(s) = seed {
        spec.seed = s;
    }

    // Colours: as written, else the first unused one.
    let mut used: Vec<Colour> = mentions.iter().filter_map(|m| m.colour).collect();
    let n = mentions.len();
    let size_stated = mentions.iter().map(|m| m.size.is_some()).collect();
    let colour_stated = mentions.iter().map(|m| m.colour.is_some()).collect();
    for (k, m) in mentions.iter().enumerate() {
        let colour = m.colour.unwrap_or_else(|| {
            let c = Colour::ALL
                .iter()
                .copied()
                .find(|c| !used.contains(c))
                .unwrap_or(Colour::Red);
            used.push(c);
            c
        });
        let size = m.size.unwrap_or(Size::Medium);
        let x = if n == 1 {
            0.0
        } else {
            -1.2 + 2.4 * k as f32 / (n - 1) as f32
        };
        let [_, hh] = m.kind.half_extents(size);
        let mut o = match (m.kind, m.verb) {
            (Kind::Lantern | Kind::Balloon, _) => {
                ObjectSpec::dropped(m.kind, colour, size, x, hh + 0.3)
            }
            (Kind::Leaf, _) => ObjectSpec::dropped(m.kind, colour, size, x, 2.9),
            (_, Verb::Rest) => ObjectSpec::resting(m.kind, colour, size, x),
            (_, Verb::Roll | Verb::Slide) => {
                let mut o = ObjectSpec::resting(m.kind, colour, size, x);
                o.velocity = [if x > 0.0 { -2.0 } else { 2.0 }, 0.0];
                if m.verb == Verb::Roll && matches!(m.kind, Kind::Ball) {
                    let [hw, _] = m.kind.half_extents(size);
                    o.spin = -o.velocity[0] / hw;
                }
                o
            }
            _ => ObjectSpec::dropped(m.kind, colour, size, x, hh + 1.4 + 0.35 * k as f32),
        };
        if m.kind == Kind::Leaf {
            o.angle = 0.2;
        }
        spec.objects.push(o);
    }

    // Shots: explicit starts where written, else the clip split evenly.
    let camera_stated = shots.iter().any(|s| s.mv.is_some() || s.framing.is_some());
    let count = shots.len();
    spec.shots = shots
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let even = spec.duration_s * k as f32 / count as f32;
            let start = if k == 0 {
                0.0
            } else {
                s.start
                    .filter(|t| *t > 0.0 && *t < spec.duration_s)
                    .unwrap_or(even)
            };
            ShotSpec::new(
                start,
                s.mv.unwrap_or(CameraMove::Static),
                s.speed.unwrap_or(Speed::Normal),
                s.framing.unwrap_or(Framing::Wide),
            )
        })
        .collect();
    spec.shots.dedup_by(|b, a| b.start_s <= a.start_s);
    apply_prompt_plan(src, &mut spec);
    spec.validate()?;
    Ok(PromptReading {
        spec,
        unknown,
        floor_stated,
        time_stated,
        camera_stated,
        size_stated,
        colour_stated,
    })
}

/// Maps a world-vocabulary prompt to a spec ("a red ball and a blue box fall onto a wooden
/// floor at dusk, camera pans left slowly"). Words the world cannot place are an error that
/// names them.
pub fn scene_from_prompt(src: &str) -> Result<SceneSpec> {
    let reading = read_prompt(src)?;
    if !reading.unknown.is_empty() {
        return Err(WorldError::UnknownWords {
            words: reading.unknown,
            hint: "use the world's objects, colours, sizes, floors, times of day and camera moves (see docs/world.md)".into(),
        });
    }
    Ok(reading.spec)
}

/// Where the prompt language (kino-prompt) reads clip settings or shot times the world's
/// reader did not, they win: "an 8-second clip in 16:9", "Shot 2 (3s):", "FPS: 30".
fn apply_prompt_plan(src: &str, spec: &mut SceneSpec) {
    let Ok(parsed) = kino_prompt::parse(src) else {
        return;
    };
    let plan = parsed.plan;
    let clip = &plan.clip;
    if clip.spans.duration.is_some() && clip.duration_s.is_finite() && clip.duration_s > 0.0 {
        spec.duration_s = clip.duration_s as f32;
    }
    if clip.spans.size.is_some() || clip.spans.aspect.is_some() {
        spec.width = clip.width;
        spec.height = clip.height;
    }
    if clip.spans.fps.is_some() {
        spec.fps = clip.fps;
    }
    if let (Some(_), Some(seed)) = (clip.spans.seed, clip.seed) {
        spec.seed = seed;
    }
    // Shot times: when both readers agree on the number of shots, take the plan's starts.
    if plan.shots.len() == spec.shots.len() && plan.shots.len() > 1 {
        for (s, p) in spec.shots.iter_mut().zip(&plan.shots) {
            s.start_s = p.start_s as f32;
        }
    }
    // Re-spread shots that no longer fit a shortened clip.
    let n = spec.shots.len();
    let bad = spec.shots.windows(2).any(|w| w[1].start_s <= w[0].start_s)
        || spec.shots.iter().any(|s| s.start_s >= spec.duration_s);
    if bad {
        for (k, s) in spec.shots.iter_mut().enumerate() {
            s.start_s = spec.duration_s * k as f32 / n as f32;
        }
    }
    if let Some(first) = spec.shots.first_mut() {
        first.start_s = 0.0;
    }
}
