//! Camera vocabulary: moves with direction and speed, lens, depth of field,
//! framing and angle.
//!
//! `analyze` works on the words of one clause. In *permissive* mode (inside
//! a `Camera:` section, or a prose clause that says "camera") single words
//! like "pan", "wide", "orbit" count; in prose without "camera" only
//! unambiguous terms do ("push-in", "close-up", "50mm", "pan left"), so "a
//! path curving left" or "a frying pan" stay scene text.

use crate::plan::{Angle, CameraMove, DepthOfField, Framing, Horizontal, InOut, Speed, Vertical};
use crate::source::{sl, words};

/// What one clause says about the camera. Byte ranges are into the prompt.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CameraFind {
    pub moves: Vec<(CameraMove, usize, usize)>,
    pub lens: Option<(f64, usize, usize)>,
    pub dof: Option<(DepthOfField, usize, usize)>,
    pub framing: Option<(Framing, usize, usize)>,
    pub angle: Option<(Angle, usize, usize)>,
    /// The clause says "camera".
    pub mentions_camera: bool,
}

impl CameraFind {
    /// True when nothing typed was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.moves.is_empty()
            && self.lens.is_none()
            && self.dof.is_none()
            && self.framing.is_none()
            && self.angle.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dir {
    Left,
    Right,
    Up,
    Down,
    In,
    Out,
    Cw,
    Ccw,
}

fn dir_word(t: &str) -> Option<Dir> {
    Some(match t {
        "left" | "leftward" | "leftwards" => Dir::Left,
        "right" | "rightward" | "rightwards" => Dir::Right,
        "up" | "upward" | "upwards" | "skyward" | "skywards" => Dir::Up,
        "down" | "downward" | "downwards" => Dir::Down,
        "in" | "into" | "inward" | "inwards" | "forward" | "forwards" | "closer" | "toward"
        | "towards" => Dir::In,
        "out" | "outward" | "outwards" | "back" | "backward" | "backwards" | "away" => Dir::Out,
        "clockwise" => Dir::Cw,
        "counterclockwise" | "anticlockwise" => Dir::Ccw,
        _ => return None,
    })
}

const FILLER: &[&str] = &[
    "to",
    "the",
    "a",
    "slowly",
    "quickly",
    "gently",
    "smoothly",
    "slightly",
    "steadily",
    "gradually",
    "rapidly",
    "bit",
    "little",
    "camera",
    "shot",
    "its",
    "swiftly",
    "softly",
];

fn speed_word(t: &str) -> Option<Speed> {
    match t {
        "slow" | "slowly" | "slower" | "gentle" | "gently" | "gradual" | "gradually"
        | "leisurely" | "unhurried" | "creeping" | "languid" | "lazy" | "lazily" | "subtle"
        | "subtly" => Some(Speed::Slow),
        "fast" | "faster" | "quick" | "quickly" | "rapid" | "rapidly" | "swift" | "swiftly"
        | "whip" | "crash" | "snap" | "sudden" | "suddenly" | "speedy" | "brisk" | "briskly" => {
            Some(Speed::Fast)
        }
        _ => None,
    }
}

fn horiz(d: Dir) -> Option<Horizontal> {
    match d {
        Dir::Left | Dir::Ccw => Some(Horizontal::Left),
        Dir::Right | Dir::Cw => Some(Horizontal::Right),
        _ => None,
    }
}

fn vert(d: Dir) -> Option<Vertical> {
    match d {
        Dir::Up => Some(Vertical::Up),
        Dir::Down => Some(Vertical::Down),
        _ => None,
    }
}

fn with_speed(m: CameraMove, s: Speed) -> CameraMove {
    use CameraMove::*;
    match m {
        Push { direction, .. } => Push {
            direction,
            speed: s,
        },
        Pan { direction, .. } => Pan {
            direction,
            speed: s,
        },
        Tilt { direction, .. } => Tilt {
            direction,
            speed: s,
        },
        Truck { direction, .. } => Truck {
            direction,
            speed: s,
        },
        Pedestal { direction, .. } => Pedestal {
            direction,
            speed: s,
        },
        Orbit { direction, .. } => Orbit {
            direction,
            speed: s,
        },
        Crane { direction, .. } => Crane {
            direction,
            speed: s,
        },
        Zoom { direction, .. } => Zoom {
            direction,
            speed: s,
        },
        Track { .. } => Track { speed: s },
        Static | HandHeld => m,
    }
}

/// Analyse the clause `lower[a..b]`.
pub(crate) fn analyze(lower: &str, a: usize, b: usize, permissive: bool) -> CameraFind {
    let toks = words(lower, a, b);
    let n = toks.len();
    let w = |i: usize| toks.get(i).map(|&(s, e)| sl(lower, s, e)).unwrap_or("");
    let sep = |i: usize| match (toks.get(i), toks.get(i + 1)) {
        (Some(&(_, e)), Some(&(s, _))) => sl(lower, e, s),
        _ => "",
    };
    let mut f = CameraFind {
        mentions_camera: toks
            .iter()
            .any(|&(s, e)| matches!(sl(lower, s, e), "camera" | "cam")),
        ..CameraFind::default()
    };
    let perm = permissive || f.mentions_camera;
    let dir_after = |i: usize| -> Option<(Dir, usize)> {
        let limit = if perm { 4 } else { 3 };
        for k in i + 1..=i + limit {
            let t = w(k);
            if t == "counter" && w(k + 1) == "clockwise" {
                return Some((Dir::Ccw, k + 1));
            }
            if let Some(d) = dir_word(t) {
                return Some((d, k));
            }
            if !FILLER.contains(&t) {
                break;
            }
        }
        None
    };
    let span = |i: usize, j: usize| {
        let s = toks.get(i).map(|t| t.0).unwrap_or(a);
        let e = toks.get(j).or(toks.last()).map(|t| t.1).unwrap_or(b);
        (s, e.max(s))
    };
    // Moves, with the token index they start at.
    let mut moves: Vec<(CameraMove, usize, usize)> = Vec::new();
    let z = Speed::Normal;
    let mut i = 0;
    while i < n {
        let t = w(i);
        let next = w(i + 1);
        let prev = if i > 0 { w(i - 1) } else { "" };
        let d = dir_after(i);
        let dd = d.map(|x| x.0);
        let dend = d.map(|x| x.1).unwrap_or(i);
        let mut found: Option<(CameraMove, usize)> = None;
        match t {
            "static" | "stationary"
                if perm
                    || matches!(
                        next,
                        "shot"
                            | "camera"
                            | "frame"
                            | "framing"
                            | "wide"
                            | "medium"
                            | "close"
                            | "tripod"
                            | "angle"
                    ) =>
            {
                found = Some((CameraMove::Static, i));
            }
            "still" | "fixed" | "tripod" | "lockoff" | "lockedoff" if perm => {
                found = Some((CameraMove::Static, i))
            }
            "locked" if matches!(next, "off" | "down") => found = Some((CameraMove::Static, i + 1)),
            "push" | "pushes" | "pushing" | "pushed" | "pushin" => match dd {
                Some(Dir::In) => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::In,
                            speed: z,
                        },
                        dend,
                    ))
                }
                Some(Dir::Out) => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::Out,
                            speed: z,
                        },
                        dend,
                    ))
                }
                _ if perm || t == "pushin" => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::In,
                            speed: z,
                        },
                        i,
                    ))
                }
                _ => {}
            },
            "pull" | "pulls" | "pulling" | "pulled" | "pullback" | "pullout" => match dd {
                Some(Dir::Out)
                    if perm
                        || matches!(
                            w(dend + 1),
                            "" | "shot"
                                | "to"
                                | "reveal"
                                | "reveals"
                                | "revealing"
                                | "from"
                                | "and"
                                | "then"
                                | "slowly"
                        ) =>
                {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::Out,
                            speed: z,
                        },
                        dend,
                    ))
                }
                Some(Dir::In) if perm => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::In,
                            speed: z,
                        },
                        dend,
                    ))
                }
                None if perm || t == "pullback" || t == "pullout" => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::Out,
                            speed: z,
                        },
                        i,
                    ))
                }
                _ => {}
            },
            "dolly" | "dollies" | "dollying" | "dollied" => {
                let m = match dd {
                    Some(Dir::Out) => CameraMove::Push {
                        direction: InOut::Out,
                        speed: z,
                    },
                    Some(x @ (Dir::Left | Dir::Right)) => CameraMove::Truck {
                        direction: horiz(x),
                        speed: z,
                    },
                    Some(x @ (Dir::Up | Dir::Down)) => CameraMove::Pedestal {
                        direction: vert(x),
                        speed: z,
                    },
                    _ => CameraMove::Push {
                        direction: InOut::In,
                        speed: z,
                    },
                };
                found = Some((m, if d.is_some() { dend } else { i }));
            }
            "pan" | "pans" | "panning" | "panned" => match dd {
                Some(x @ (Dir::Left | Dir::Right)) => {
                    found = Some((
                        CameraMove::Pan {
                            direction: horiz(x),
                            speed: z,
                        },
                        dend,
                    ))
                }
                Some(x @ (Dir::Up | Dir::Down)) => {
                    found = Some((
                        CameraMove::Tilt {
                            direction: vert(x),
                            speed: z,
                        },
                        dend,
                    ))
                }
                _ if perm
                    || matches!(
                        prev,
                        "slow"
                            | "fast"
                            | "quick"
                            | "whip"
                            | "gentle"
                            | "sweeping"
                            | "slight"
                            | "smooth"
                            | "swift"
                            | "rapid"
                            | "lazy"
                            | "steady"
                    )
                    || matches!(next, "across" | "over" | "shot" | "around") =>
                {
                    found = Some((
                        CameraMove::Pan {
                            direction: None,
                            speed: z,
                        },
                        i,
                    ))
                }
                _ => {}
            },
            "tilt" | "tilts" | "tilting" | "tilted" => match dd {
                Some(x @ (Dir::Up | Dir::Down)) => {
                    found = Some((
                        CameraMove::Tilt {
                            direction: vert(x),
                            speed: z,
                        },
                        dend,
                    ))
                }
                Some(x @ (Dir::Left | Dir::Right)) if perm => {
                    found = Some((
                        CameraMove::Pan {
                            direction: horiz(x),
                            speed: z,
                        },
                        dend,
                    ))
                }
                _ if perm => {
                    found = Some((
                        CameraMove::Tilt {
                            direction: None,
                            speed: z,
                        },
                        i,
                    ))
                }
                _ => {}
            },
            "truck" | "trucks" | "trucking" => match dd.and_then(horiz) {
                Some(h) => {
                    found = Some((
                        CameraMove::Truck {
                            direction: Some(h),
                            speed: z,
                        },
                        dend,
                    ))
                }
                None if perm => {
                    found = Some((
                        CameraMove::Truck {
                            direction: None,
                            speed: z,
                        },
                        i,
                    ))
                }
                None => {}
            },
            "track" | "tracks" | "tracking" | "tracked" => match dd {
                Some(x @ (Dir::Left | Dir::Right)) => {
                    found = Some((
                        CameraMove::Truck {
                            direction: horiz(x),
                            speed: z,
                        },
                        dend,
                    ))
                }
                Some(Dir::In) if perm => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::In,
                            speed: z,
                        },
                        dend,
                    ))
                }
                Some(Dir::Out) if perm => {
                    found = Some((
                        CameraMove::Push {
                            direction: InOut::Out,
                            speed: z,
                        },
                        dend,
                    ))
                }
                _ if perm || next == "shot" => found = Some((CameraMove::Track { speed: z }, i)),
                _ => {}
            },
            "follow" | "follows" | "following" | "followed"
                if perm || matches!(next, "shot" | "cam") =>
            {
                found = Some((CameraMove::Track { speed: z }, i))
            }
            "pedestal" | "ped" | "peds" => match dd.and_then(vert) {
                Some(v) => {
                    found = Some((
                        CameraMove::Pedestal {
                            direction: Some(v),
                            speed: z,
                        },
                        dend,
                    ))
                }
                None if perm => {
                    found = Some((
                        CameraMove::Pedestal {
                            direction: None,
                            speed: z,
                        },
                        i,
                    ))
                }
                None => {}
            },
            "orbit" | "orbits" | "orbiting" | "orbital" | "arc" | "arcs" | "arcing" | "circles"
            | "circling" | "revolves" | "revolving" => {
                let is_strict_ok = matches!(t, "orbit" | "orbiting" | "orbital" | "arc")
                    && matches!(next, "shot" | "camera");
                if perm || is_strict_ok {
                    let h = dd.and_then(horiz);
                    found = Some((
                        CameraMove::Orbit {
                            direction: h,
                            speed: z,
                        },
                        if h.is_some() { dend } else { i },
                    ));
                }
            }
            "crane" | "cranes" | "craning" | "boom" | "booms" | "jib" | "jibs" => {
                match dd.and_then(vert) {
                    Some(v) => {
                        found = Some((
                            CameraMove::Crane {
                                direction: Some(v),
                                speed: z,
                            },
                            dend,
                        ))
                    }
                    None if perm || (t != "boom" && next == "shot") => {
                        found = Some((
                            CameraMove::Crane {
                                direction: None,
                                speed: z,
                            },
                            i,
                        ))
                    }
                    None => {}
                }
            }
            "zoom" | "zooms" | "zooming" | "zoomed" => {
                let dir = if dd == Some(Dir::Out) {
                    InOut::Out
                } else {
                    InOut::In
                };
                let end = if matches!(dd, Some(Dir::In | Dir::Out)) {
                    dend
                } else {
                    i
                };
                found = Some((
                    CameraMove::Zoom {
                        direction: dir,
                        speed: z,
                    },
                    end,
                ));
            }
            "handheld" | "shakycam" => found = Some((CameraMove::HandHeld, i)),
            "hand" if next == "held" => found = Some((CameraMove::HandHeld, i + 1)),
            "shaky" if matches!(next, "cam" | "camera" | "handheld") => {
                found = Some((CameraMove::HandHeld, i + 1))
            }
            "moves" | "move" | "moving" | "glides" | "glide" | "gliding" | "slides" | "slide"
            | "sliding" | "drifts" | "drift" | "drifting" | "travels" | "travel" | "traveling"
            | "travelling" | "creeps" | "creeping"
                if perm =>
            {
                let m = match dd {
                    Some(x @ (Dir::Left | Dir::Right)) => Some(CameraMove::Truck {
                        direction: horiz(x),
                        speed: z,
                    }),
                    Some(Dir::In) => Some(CameraMove::Push {
                        direction: InOut::In,
                        speed: z,
                    }),
                    Some(Dir::Out) => Some(CameraMove::Push {
                        direction: InOut::Out,
                        speed: z,
                    }),
                    Some(x @ (Dir::Up | Dir::Down)) => Some(CameraMove::Pedestal {
                        direction: vert(x),
                        speed: z,
                    }),
                    _ => None,
                };
                if let Some(m) = m {
                    found = Some((m, dend));
                }
            }
            "sweeps" | "sweep" | "sweeping" | "swings" | "swing" | "swinging" if perm => {
                if let Some(h) = dd.and_then(horiz) {
                    found = Some((
                        CameraMove::Pan {
                            direction: Some(h),
                            speed: z,
                        },
                        dend,
                    ));
                }
            }
            "rises" | "rising" | "ascends" | "ascending" | "lifts" if perm => {
                found = Some((
                    CameraMove::Crane {
                        direction: Some(Vertical::Up),
                        speed: z,
                    },
                    i,
                ))
            }
            "descends" | "descending" | "lowers" | "lowering" | "drops" if perm => {
                found = Some((
                    CameraMove::Crane {
                        direction: Some(Vertical::Down),
                        speed: z,
                    },
                    i,
                ))
            }
            _ => {}
        }
        if let Some((m, end)) = found {
            moves.push((m, i, end));
            i = end + 1;
            continue;
        }
        i += 1;
    }
    // Speeds: nearest speed word in the same sub-clause ("then" splits).
    let mut clause_of = vec![0usize; n];
    let mut c = 0;
    for (k, slot) in clause_of.iter_mut().enumerate() {
        if matches!(w(k), "then" | "before" | "followed" | "after" | "while") {
            c += 1;
        }
        *slot = c;
    }
    let speeds: Vec<(usize, Speed)> = (0..n)
        .filter_map(|k| speed_word(w(k)).map(|s| (k, s)))
        .collect();
    for (m, s, e) in moves {
        let cl = clause_of.get(s).copied().unwrap_or(0);
        let best = speeds
            .iter()
            .filter(|(k, _)| clause_of.get(*k).copied() == Some(cl))
            .min_by_key(|(k, _)| if *k < s { s - k } else { k.saturating_sub(e) })
            .map(|x| x.1)
            .unwrap_or(Speed::Normal);
        let (bs, be) = span(s, e);
        f.moves.push((with_speed(m, best), bs, be));
    }

    // Framing, angle, depth of field, lens: first one wins.
    let mut i = 0;
    while i < n {
        let t = w(i);
        let next = w(i + 1);
        let nn = w(i + 2);
        let closeup = |k: usize| -> Option<usize> {
            match w(k) {
                "closeup" | "closeups" | "cu" => Some(k),
                "close" if matches!(w(k + 1), "up" | "ups" | "shot") => Some(k + 1),
                _ => None,
            }
        };
        let mut framing: Option<(Framing, usize)> = None;
        let mut angle: Option<(Angle, usize)> = None;
        let mut dof: Option<(DepthOfField, usize)> = None;
        match t {
            "extreme" => {
                if let Some(e) = closeup(i + 1) {
                    framing = Some((Framing::ExtremeCloseUp, e));
                } else if matches!(next, "wide" | "long") {
                    framing = Some((Framing::ExtremeWide, i + 1));
                }
            }
            "ecu" | "xcu" => framing = Some((Framing::ExtremeCloseUp, i)),
            "mcu" => framing = Some((Framing::MediumCloseUp, i)),
            "ews" | "els" => framing = Some((Framing::ExtremeWide, i)),
            "establishing" if next == "shot" => framing = Some((Framing::ExtremeWide, i + 1)),
            "medium" => {
                if let Some(e) = closeup(i + 1) {
                    framing = Some((Framing::MediumCloseUp, e));
                } else if matches!(next, "shot" | "frame" | "framing") || perm {
                    framing = Some((Framing::Medium, i));
                }
            }
            "mid" if matches!(next, "shot" | "frame") => framing = Some((Framing::Medium, i + 1)),
            "midshot" => framing = Some((Framing::Medium, i)),
            "closeup" | "closeups" => framing = Some((Framing::CloseUp, i)),
            "close"
                if matches!(next, "up" | "ups" | "shot")
                    && (perm
                        || sep(i) == "-"
                        || next == "shot"
                        || matches!(nn, "shot" | "of" | "on")) =>
            {
                framing = Some((Framing::CloseUp, i + 1));
            }
            "cu" if perm => framing = Some((Framing::CloseUp, i)),
            "wide"
                if perm
                    || matches!(
                        next,
                        "shot" | "angle" | "frame" | "framing" | "establishing"
                    ) =>
            {
                framing = Some((Framing::Wide, i));
            }
            "long" | "full" if next == "shot" => framing = Some((Framing::Wide, i + 1)),
            "low" if matches!(next, "angle" | "camera") || (perm && next == "shot") => {
                angle = Some((Angle::Low, i + 1))
            }
            "worm" | "worms" if (next == "s" && nn == "eye") || next == "eye" => {
                angle = Some((Angle::Low, if next == "s" { i + 2 } else { i + 1 }))
            }
            "high" if next == "angle" || (perm && next == "shot") => {
                angle = Some((Angle::High, i + 1))
            }
            "overhead" if perm || matches!(next, "shot" | "angle" | "view" | "camera") => {
                angle = Some((Angle::Overhead, i))
            }
            "top" if next == "down" && (perm || matches!(nn, "shot" | "view" | "angle")) => {
                angle = Some((Angle::Overhead, i + 1))
            }
            "bird" | "birds" if (next == "s" && nn == "eye") || next == "eye" => {
                angle = Some((Angle::Overhead, if next == "s" { i + 2 } else { i + 1 }))
            }
            "birdseye" => angle = Some((Angle::Overhead, i)),
            "aerial" if perm || matches!(next, "shot" | "view") => {
                angle = Some((Angle::Overhead, i))
            }
            "eye" if next == "level" => angle = Some((Angle::EyeLevel, i + 1)),
            "dutch" if perm || matches!(next, "angle" | "tilt") => angle = Some((Angle::Dutch, i)),
            "over" if next == "the" && nn == "shoulder" => {
                angle = Some((Angle::OverTheShoulder, i + 2))
            }
            "ots" if perm => angle = Some((Angle::OverTheShoulder, i)),
            "pov" => angle = Some((Angle::Pov, i)),
            "point" if next == "of" && nn == "view" => angle = Some((Angle::Pov, i + 2)),
            "first" if next == "person" => angle = Some((Angle::Pov, i + 1)),
            "shallow" if matches!(next, "depth" | "focus" | "dof") => {
                dof = Some((DepthOfField::Shallow, i + 1))
            }
            "deep" if matches!(next, "depth" | "focus" | "dof") => {
                dof = Some((DepthOfField::Deep, i + 1))
            }
            "depth" if next == "of" && nn == "field" => dof = Some((DepthOfField::Shallow, i + 2)),
            "bokeh" | "dof" => dof = Some((DepthOfField::Shallow, i)),
            _ => {}
        }
        if let Some((v, e)) = framing {
            if f.framing.is_none() {
                let (s, e2) = span(i, e);
                f.framing = Some((v, s, e2));
            }
            i = e + 1;
            continue;
        }
        if let Some((v, e)) = angle {
            if f.angle.is_none() {
                let (s, e2) = span(i, e);
                f.angle = Some((v, s, e2));
            }
            i = e + 1;
            continue;
        }
        if let Some((v, e)) = dof {
            if f.dof.is_none() {
                let (s, e2) = span(i, e);
                f.dof = Some((v, s, e2));
            }
            i = e + 1;
            continue;
        }
        // Lens: 50mm / 50 mm, not "35mm film".
        let (num, end) = if let Some(nm) = t.strip_suffix("mm") {
            (nm, i)
        } else if next == "mm" {
            (t, i + 1)
        } else {
            ("", i)
        };
        if !num.is_empty()
            && num.len() <= 4
            && num.bytes().all(|c| c.is_ascii_digit())
            && f.lens.is_none()
        {
            let after = w(end + 1);
            if !matches!(
                after,
                "film" | "films" | "stock" | "footage" | "grain" | "celluloid"
            ) {
                if let Ok(v) = num.parse::<f64>() {
                    if (4.0..=2000.0).contains(&v) {
                        let (s, e2) = span(i, end);
                        f.lens = Some((v, s, e2));
                    }
                }
            }
        }
        i += 1;
    }
    f
}

/// Words of `lower[a..b]` that are not part of a camera term, a speed or
/// direction word, or a small function word: what else the clause says.
pub(crate) fn residual_words(lower: &str, a: usize, b: usize, f: &CameraFind) -> usize {
    let mut covered: Vec<(usize, usize)> = f.moves.iter().map(|m| (m.1, m.2)).collect();
    covered.extend(f.lens.map(|x| (x.1, x.2)));
    covered.extend(f.dof.map(|x| (x.1, x.2)));
    covered.extend(f.framing.map(|x| (x.1, x.2)));
    covered.extend(f.angle.map(|x| (x.1, x.2)));
    words(lower, a, b)
        .into_iter()
        .filter(|&(s, e)| !covered.iter().any(|&(cs, ce)| s >= cs && e <= ce))
        .filter(|&(s, e)| {
            let w = sl(lower, s, e);
            !(speed_word(w).is_some()
                || dir_word(w).is_some()
                || FILLER.contains(&w)
                || matches!(
                    w,
                    "an" | "of"
                        | "and"
                        | "with"
                        | "then"
                        | "on"
                        | "at"
                        | "her"
                        | "his"
                        | "their"
                        | "lens"
                        | "feel"
                        | "look"
                        | "movement"
                        | "move"
                        | "moves"
                        | "angle"
                        | "cam"
                        | "view"
                        | "framing"
                        | "frame"
                        | "s"
                ))
        })
        .count()
}

/// True when one of the first three words is "camera" ("The camera pans").
pub(crate) fn camera_leads(lower: &str, a: usize, b: usize) -> bool {
    words(lower, a, b)
        .into_iter()
        .take(3)
        .any(|(s, e)| matches!(sl(lower, s, e), "camera" | "cam"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moves(s: &str, perm: bool) -> Vec<CameraMove> {
        let l = s.to_ascii_lowercase();
        analyze(&l, 0, l.len(), perm)
            .moves
            .into_iter()
            .map(|m| m.0)
            .collect()
    }

    #[test]
    fn vocabulary() {
        use CameraMove::*;
        assert_eq!(
            moves("Slow push-in", true),
            vec![Push {
                direction: InOut::In,
                speed: Speed::Slow
            }]
        );
        assert_eq!(
            moves("dolly out fast", true),
            vec![Push {
                direction: InOut::Out,
                speed: Speed::Fast
            }]
        );
        assert_eq!(
            moves("pan left", true),
            vec![Pan {
                direction: Some(Horizontal::Left),
                speed: Speed::Normal
            }]
        );
        assert_eq!(
            moves("then pan up", true),
            vec![Tilt {
                direction: Some(Vertical::Up),
                speed: Speed::Normal
            }]
        );
        assert_eq!(
            moves("tilt down slowly", true),
            vec![Tilt {
                direction: Some(Vertical::Down),
                speed: Speed::Slow
            }]
        );
        assert_eq!(
            moves("truck right", true),
            vec![Truck {
                direction: Some(Horizontal::Right),
                speed: Speed::Normal
            }]
        );
        assert_eq!(
            moves("pedestal up", true),
            vec![Pedestal {
                direction: Some(Vertical::Up),
                speed: Speed::Normal
            }]
        );
        assert_eq!(
            moves("orbit clockwise", true),
            vec![Orbit {
                direction: Some(Horizontal::Right),
                speed: Speed::Normal
            }]
        );
        assert_eq!(
            moves("crane down", true),
            vec![Crane {
                direction: Some(Vertical::Down),
                speed: Speed::Normal
            }]
        );
        assert_eq!(
            moves("crash zoom in", true),
            vec![Zoom {
                direction: InOut::In,
                speed: Speed::Fast
            }]
        );
        assert_eq!(moves("hand-held feel", true), vec![HandHeld]);
        assert_eq!(moves("locked-off", false), vec![Static]);
        assert_eq!(
            moves("Camera moves left slowly", false),
            vec![Truck {
                direction: Some(Horizontal::Left),
                speed: Speed::Slow
            }]
        );
        assert_eq!(
            moves("slow pan left then fast tilt up", true),
            vec![
                Pan {
                    direction: Some(Horizontal::Left),
                    speed: Speed::Slow
                },
                Tilt {
                    direction: Some(Vertical::Up),
                    speed: Speed::Fast
                }
            ]
        );
    }

    #[test]
    fn prose_is_strict() {
        assert!(moves("a path curving left", false).is_empty());
        assert!(moves("she fries eggs in a pan", false).is_empty());
        assert!(moves("she pulls back the curtain", false).is_empty());
        assert!(moves("a crane flies over the lake", false).is_empty());
        let l = "a close up view";
        assert!(analyze(l, 0, l.len(), false).framing.is_none());
    }

    #[test]
    fn lens_framing_angle_dof() {
        let l = "static wide shot, 50mm, shallow depth of field, low angle";
        let f = analyze(l, 0, l.len(), true);
        assert_eq!(f.lens.map(|x| x.0), Some(50.0));
        assert_eq!(f.framing.map(|x| x.0), Some(Framing::Wide));
        assert_eq!(f.angle.map(|x| x.0), Some(Angle::Low));
        assert_eq!(f.dof.map(|x| x.0), Some(DepthOfField::Shallow));
        let l = "shot on 35mm film, extreme close-up";
        let f = analyze(l, 0, l.len(), true);
        assert_eq!(f.lens, None);
        assert_eq!(f.framing.map(|x| x.0), Some(Framing::ExtremeCloseUp));
    }
}
