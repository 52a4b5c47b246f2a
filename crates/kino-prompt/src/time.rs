//! Time expressions: `00:05`, `0:05.5`, `1:02:03`, `5s`, `5.5 sec`,
//! `at 5 seconds`, `@00:05`, `(at 00:03)`, `[0:05]`, ranges `00:02-00:04`,
//! `2-4s`, `from 00:02 to 00:04`, `between 2s and 4s`.
//!
//! Everything works on the ASCII-lowercased prompt and byte offsets.

use crate::source::is_word_byte;

/// How eager the scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Audio, motion, dialogue, camera sections: bare `00:05` and `5s` count.
    Cue,
    /// Prose: a clock needs a trigger (`at`, `from`, `(`) or a leading zero
    /// (`00:05`, `0:03`); seconds need a trigger. "John 3:16" is not a time.
    Prose,
    /// A value on its own (`Duration: 12 seconds`, `Shot 1 (3s):`): any unit.
    Value,
}

/// A recognised time expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeMatch {
    /// Whole expression including trigger word and brackets.
    pub start: usize,
    pub end: usize,
    /// Just the numbers (`00:05`, `2-4s`): used for diagnostics spans.
    pub vstart: usize,
    pub vend: usize,
    pub from: f64,
    pub to: Option<f64>,
}

/// What the scanner found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    Time(TimeMatch),
    /// Looks like a time but is not valid (`0:75`, `00:5`).
    Malformed {
        start: usize,
        end: usize,
        hint: String,
    },
    /// `at 5` with no unit: taken as seconds, with a warning.
    Unitless(TimeMatch),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Clock,
    /// Seconds with a unit; `spelled` = unit longer than `s` ("5 seconds").
    Seconds {
        spelled: bool,
    },
    Bare,
}

#[derive(Debug, Clone, Copy)]
struct Atom {
    end: usize,
    kind: Kind,
    value: f64,
}

enum AtomResult {
    Ok(Atom),
    Bad {
        start: usize,
        end: usize,
        hint: String,
    },
}

fn digits_end(b: &[u8], i: usize, end: usize) -> usize {
    let mut j = i;
    while j < end && b[j].is_ascii_digit() {
        j += 1;
    }
    j
}

fn num(b: &[u8], a: usize, e: usize) -> f64 {
    std::str::from_utf8(b.get(a..e).unwrap_or(b""))
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// A unit word at `k`: returns (end, multiplier, spelled).
fn unit(b: &[u8], k: usize, end: usize) -> Option<(usize, f64, bool)> {
    const UNITS: &[(&[u8], f64, bool)] = &[
        (b"milliseconds", 0.001, true),
        (b"millisecond", 0.001, true),
        (b"seconds", 1.0, true),
        (b"second", 1.0, true),
        (b"secs", 1.0, true),
        (b"sec", 1.0, true),
        (b"ms", 0.001, false),
        (b"s", 1.0, false),
    ];
    for (u, m, spelled) in UNITS {
        let e = k + u.len();
        if e <= end && &b[k..e] == *u && (e == end || !is_word_byte(b[e])) {
            return Some((e, *m, *spelled));
        }
    }
    None
}

fn fmt_clock(total: f64) -> String {
    let t = total.max(0.0);
    let m = (t / 60.0).floor() as u64;
    let s = t - (m as f64) * 60.0;
    if s.fract().abs() < 1e-9 {
        format!("{m}:{:02}", s as u64)
    } else {
        format!("{m}:{s:04.1}")
    }
}

/// Parse one atom starting at the digit at `i`.
fn atom(b: &[u8], i: usize, end: usize) -> AtomResult {
    let n1e = digits_end(b, i, end);
    let is_clock = n1e + 1 < end && b[n1e] == b':' && b[n1e + 1].is_ascii_digit();
    if is_clock {
        let mut groups = vec![(i, n1e)];
        let mut j = n1e;
        while j + 1 < end && b[j] == b':' && b[j + 1].is_ascii_digit() && groups.len() < 5 {
            let e = digits_end(b, j + 1, end);
            groups.push((j + 1, e));
            j = e;
        }
        let mut frac = None;
        if j + 1 < end && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            let e = digits_end(b, j + 1, end);
            frac = Some((j, e));
            j = e;
        }
        let aend = j;
        let bad = |hint: String| AtomResult::Bad {
            start: i,
            end: aend,
            hint,
        };
        if aend < end && is_word_byte(b[aend]) && b[aend] != b's' {
            return bad("write clock times as M:SS or H:MM:SS, e.g. `0:05`".into());
        }
        let glen = |g: (usize, usize)| g.1 - g.0;
        let gval = |g: (usize, usize)| num(b, g.0, g.1);
        if groups.len() > 3 || glen(groups[0]) > 3 {
            return bad("write clock times as M:SS or H:MM:SS, e.g. `0:05`".into());
        }
        let mut total = 0.0;
        for (k, g) in groups.iter().enumerate() {
            let v = gval(*g);
            if k > 0 {
                if glen(*g) != 2 {
                    let hint = if glen(*g) == 1 {
                        let mut fixed = String::new();
                        for (m, h) in groups.iter().enumerate() {
                            if m > 0 {
                                fixed.push(':');
                            }
                            let v = gval(*h) as u64;
                            if m == 0 {
                                fixed.push_str(&v.to_string());
                            } else {
                                fixed.push_str(&format!("{v:02}"));
                            }
                        }
                        format!("write seconds with two digits: `{fixed}`")
                    } else {
                        "minutes and seconds take two digits, e.g. `0:05`".to_string()
                    };
                    return bad(hint);
                }
                if v >= 60.0 {
                    let whole: f64 = groups.iter().fold(0.0, |acc, g| acc * 60.0 + gval(*g));
                    return bad(format!(
                        "minutes and seconds go up to 59; did you mean `{}`?",
                        fmt_clock(whole)
                    ));
                }
            }
            total = total * 60.0 + v;
        }
        if let Some((fs, fe)) = frac {
            total += num(b, fs, fe);
        }
        // A trailing `s` as in `0:05s` is tolerated.
        let mut aend = aend;
        if aend < end && b[aend] == b's' && (aend + 1 == end || !is_word_byte(b[aend + 1])) {
            aend += 1;
        } else if aend < end && is_word_byte(b[aend]) {
            return AtomResult::Bad {
                start: i,
                end: aend,
                hint: "write clock times as M:SS, e.g. `0:05`".into(),
            };
        }
        return AtomResult::Ok(Atom {
            end: aend,
            kind: Kind::Clock,
            value: total,
        });
    }
    let mut j = n1e;
    if j + 1 < end && b[j] == b'.' && b[j + 1].is_ascii_digit() {
        j = digits_end(b, j + 1, end);
    }
    let value = if j - i > 9 { f64::MAX } else { num(b, i, j) };
    let k = if j < end && b[j] == b' ' { j + 1 } else { j };
    if let Some((ue, m, spelled)) = unit(b, k, end) {
        return AtomResult::Ok(Atom {
            end: ue,
            kind: Kind::Seconds { spelled },
            value: value * m,
        });
    }
    AtomResult::Ok(Atom {
        end: j,
        kind: Kind::Bare,
        value,
    })
}

/// Trigger before a number: word (`at`, `from`...) and/or an open bracket.
struct Trigger {
    start: usize,
    word: Option<&'static str>,
    bracket: Option<u8>,
}

const TRIGGERS: &[&str] = &["at", "from", "between", "around", "after", "by"];

fn trigger_before(b: &[u8], lo: usize, i: usize) -> Option<Trigger> {
    let skip_sp = |mut k: usize| {
        while k > lo && b[k - 1] == b' ' {
            k -= 1;
        }
        k
    };
    let mut k = skip_sp(i);
    if k > lo && (b[k - 1] == b'(' || b[k - 1] == b'[') {
        return Some(Trigger {
            start: k - 1,
            word: None,
            bracket: Some(b[k - 1]),
        });
    }
    let mut word = None;
    let mut start = i;
    if k > lo && b[k - 1] == b'@' {
        word = Some("at");
        start = k - 1;
    } else {
        let we = k;
        while k > lo && b[k - 1].is_ascii_lowercase() {
            k -= 1;
        }
        if k < we && (k == lo || !is_word_byte(b[k - 1])) {
            let w = std::str::from_utf8(&b[k..we]).unwrap_or("");
            if let Some(t) = TRIGGERS.iter().find(|t| **t == w) {
                word = Some(*t);
                start = k;
            }
        }
    }
    word?;
    let k2 = skip_sp(start);
    if k2 > lo && (b[k2 - 1] == b'(' || b[k2 - 1] == b'[') {
        return Some(Trigger {
            start: k2 - 1,
            word,
            bracket: Some(b[k2 - 1]),
        });
    }
    Some(Trigger {
        start,
        word,
        bracket: None,
    })
}

/// The word right before byte `i` (skipping spaces), lowercase ASCII.
fn prev_word(b: &[u8], lo: usize, i: usize) -> &str {
    let mut k = i;
    while k > lo && b[k - 1] == b' ' {
        k -= 1;
    }
    let we = k;
    while k > lo && b[k - 1].is_ascii_alphabetic() {
        k -= 1;
    }
    std::str::from_utf8(&b[k..we]).unwrap_or("")
}

/// Find time expressions in `lower[a..end]`.
pub(crate) fn scan(lower: &str, a: usize, end: usize, mode: Mode) -> Vec<Found> {
    let b = lower.as_bytes();
    let end = end.min(b.len());
    let mut out = Vec::new();
    let mut i = a;
    while i < end {
        let starts_number = b[i].is_ascii_digit()
            && (i == a || !(is_word_byte(b[i - 1]) || b[i - 1] == b'.' || b[i - 1] == b':'));
        if !starts_number {
            i += 1;
            continue;
        }
        let trig = trigger_before(b, a, i);
        let a1 = match atom(b, i, end) {
            AtomResult::Bad {
                start,
                end: e,
                hint,
            } => {
                if mode != Mode::Prose || trig.is_some() || b[i] == b'0' {
                    out.push(Found::Malformed {
                        start,
                        end: e,
                        hint,
                    });
                }
                i = e.max(i + 1);
                continue;
            }
            AtomResult::Ok(at) => at,
        };
        // Range?
        let mut j = a1.end;
        while j < end && b[j] == b' ' {
            j += 1;
        }
        let mut conn_end = None;
        if j < end && b[j] == b'-' {
            conn_end = Some(j + 1);
        } else if j + 2 < end
            && b[j] == 0xE2
            && b[j + 1] == 0x80
            && (b[j + 2] == 0x93 || b[j + 2] == 0x94)
        {
            conn_end = Some(j + 3);
        } else {
            for w in ["to", "until", "till", "and"] {
                let e = j + w.len();
                if e < end
                    && &b[j..e] == w.as_bytes()
                    && b[e] == b' '
                    && (w != "and" || trig.as_ref().is_some_and(|t| t.word == Some("between")))
                {
                    conn_end = Some(e);
                    break;
                }
            }
        }
        let mut a2: Option<Atom> = None;
        if let Some(ce) = conn_end {
            let mut k = ce;
            while k < end && b[k] == b' ' {
                k += 1;
            }
            if k < end && b[k].is_ascii_digit() {
                match atom(b, k, end) {
                    AtomResult::Ok(x) => a2 = Some(x),
                    AtomResult::Bad {
                        start,
                        end: e,
                        hint,
                    } => {
                        if a1.kind != Kind::Bare {
                            out.push(Found::Malformed {
                                start,
                                end: e,
                                hint,
                            });
                            i = e.max(i + 1);
                            continue;
                        }
                    }
                }
            }
        }
        let range = match (a1.kind, a2) {
            (Kind::Bare, Some(x)) if matches!(x.kind, Kind::Seconds { .. }) => Some((a1, x)),
            (Kind::Bare, _) => None,
            (_, Some(x)) if x.kind != Kind::Bare => Some((a1, x)),
            _ => None,
        };
        let (from, to, vend, kind) = match range {
            Some((x, y)) => (x.value, Some(y.value), y.end, x.kind),
            None => (a1.value, None, a1.end, a1.kind),
        };
        let triggered = trig.is_some();
        let accepted = if to.is_some() {
            true
        } else {
            match kind {
                Kind::Clock => mode != Mode::Prose || triggered || b[i] == b'0',
                Kind::Seconds { spelled: true } => triggered || mode == Mode::Value,
                Kind::Seconds { spelled: false } => {
                    // "80s", "1950s" read as decades unless triggered.
                    let decade = a1.value >= 20.0 && a1.value % 10.0 == 0.0;
                    triggered
                        || mode == Mode::Value
                        || (mode == Mode::Cue
                            && !decade
                            && (i == 0 || b[i - 1] != b'\'')
                            && !matches!(
                                prev_word(b, a, i),
                                "the"
                                    | "for"
                                    | "every"
                                    | "last"
                                    | "lasting"
                                    | "over"
                                    | "in"
                                    | "within"
                                    | "early"
                                    | "late"
                                    | "mid"
                            )
                            && (vend >= end || b[vend] != b'-'))
                }
                Kind::Bare => false,
            }
        };
        let unitless = !accepted
            && kind == Kind::Bare
            && mode == Mode::Cue
            && trig.as_ref().is_some_and(|t| t.word == Some("at"))
            && {
                let mut k = vend;
                while k < end && b[k] == b' ' {
                    k += 1;
                }
                k == end || matches!(b[k], b',' | b';' | b'.' | b')' | b']' | b'\n')
            };
        if !accepted && !unitless {
            i = a1.end.max(i + 1);
            continue;
        }
        let mut mstart = i;
        let mut mend = vend;
        if let Some(t) = &trig {
            mstart = t.start;
            if let Some(br) = t.bracket {
                let close = if br == b'(' { b')' } else { b']' };
                let mut k = vend;
                while k < end && b[k] == b' ' {
                    k += 1;
                }
                if k < end && b[k] == close {
                    mend = k + 1;
                }
            }
        }
        let m = TimeMatch {
            start: mstart,
            end: mend,
            vstart: i,
            vend,
            from,
            to,
        };
        out.push(if unitless {
            Found::Unitless(m)
        } else {
            Found::Time(m)
        });
        i = vend.max(i + 1);
    }
    out
}

/// Result of reading a whole range as one time value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Standalone {
    /// A point or length in seconds (`8s`, `0:08`, `8`).
    Point(f64),
    /// A range (`0:00-0:04`, `0-4s`).
    Range(f64, f64),
    /// Looks like a time but is not valid.
    Malformed(String),
    /// Not a time at all.
    NotTime,
}

/// Read all of `lower[a..e]` (trimmed by the caller) as one time value.
pub(crate) fn standalone(lower: &str, a: usize, e: usize) -> Standalone {
    let b = lower.as_bytes();
    let e = e.min(b.len());
    if a >= e {
        return Standalone::NotTime;
    }
    let found = scan(lower, a, e, Mode::Value);
    let only = |m: &TimeMatch| m.start == a && m.end == e;
    match found.as_slice() {
        [Found::Time(m)] | [Found::Unitless(m)] if only(m) => match m.to {
            Some(t) => Standalone::Range(m.from, t),
            None => Standalone::Point(m.from),
        },
        [Found::Malformed { hint, .. }, ..] => Standalone::Malformed(hint.clone()),
        _ => {
            // A bare number ("8") is a length in seconds.
            let s = std::str::from_utf8(&b[a..e]).unwrap_or("");
            if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                if let Ok(v) = s.parse::<f64>() {
                    return Standalone::Point(v);
                }
            }
            if b[a..e].iter().any(|c| c.is_ascii_digit()) {
                Standalone::Malformed("write a time like `8s`, `0:08` or `0:00-0:04`".into())
            } else {
                Standalone::NotTime
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(s: &str, mode: Mode) -> Vec<(f64, Option<f64>)> {
        let l = s.to_ascii_lowercase();
        scan(&l, 0, l.len(), mode)
            .into_iter()
            .filter_map(|f| match f {
                Found::Time(m) => Some((m.from, m.to)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn clock_and_seconds_forms() {
        assert_eq!(times("door slam at 00:05", Mode::Cue), vec![(5.0, None)]);
        assert_eq!(times("splash at 0:03.5", Mode::Cue), vec![(3.5, None)]);
        assert_eq!(times("bang 5s", Mode::Cue), vec![(5.0, None)]);
        assert_eq!(times("at 5 seconds", Mode::Cue), vec![(5.0, None)]);
        assert_eq!(times("at 1:02:03", Mode::Cue), vec![(3723.0, None)]);
        assert_eq!(times("00:02-00:04", Mode::Cue), vec![(2.0, Some(4.0))]);
        assert_eq!(
            times("from 00:02 to 00:04", Mode::Cue),
            vec![(2.0, Some(4.0))]
        );
        assert_eq!(times("2-4s", Mode::Cue), vec![(2.0, Some(4.0))]);
        assert_eq!(
            times("between 2s and 4.5s", Mode::Cue),
            vec![(2.0, Some(4.5))]
        );
        assert_eq!(times("0:02 – 0:04", Mode::Cue), vec![(2.0, Some(4.0))]);
        assert_eq!(times("at 500ms", Mode::Cue), vec![(0.5, None)]);
    }

    #[test]
    fn prose_is_strict() {
        assert!(times("reading John 3:16 quietly", Mode::Prose).is_empty());
        assert!(times("in 16:9", Mode::Prose).is_empty());
        assert!(times("it lasts 5 seconds", Mode::Prose).is_empty());
        assert!(times("music of the 80s", Mode::Cue).is_empty());
        assert_eq!(
            times("a door slam at 00:05.", Mode::Prose),
            vec![(5.0, None)]
        );
        assert_eq!(times("it starts 00:05", Mode::Prose), vec![(5.0, None)]);
    }

    #[test]
    fn malformed() {
        let l = "at 0:75";
        match scan(l, 0, l.len(), Mode::Cue).as_slice() {
            [Found::Malformed { hint, .. }] => assert!(hint.contains("1:15"), "{hint}"),
            other => panic!("{other:?}"),
        }
        let l = "at 00:5";
        match scan(l, 0, l.len(), Mode::Cue).as_slice() {
            [Found::Malformed { hint, .. }] => assert!(hint.contains("`0:05`"), "{hint}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn standalone_values() {
        let s = |x: &str| standalone(x, 0, x.len());
        assert_eq!(s("8s"), Standalone::Point(8.0));
        assert_eq!(s("12 seconds"), Standalone::Point(12.0));
        assert_eq!(s("8"), Standalone::Point(8.0));
        assert_eq!(s("0:00-0:04"), Standalone::Range(0.0, 4.0));
        assert!(matches!(s("0:4"), Standalone::Malformed(_)));
        assert_eq!(s("wide"), Standalone::NotTime);
    }
}
