//! Shot timing (explicit ranges, lengths, even split) and time validation.

use crate::diagnostics::{secs, Diagnostic};
use crate::plan::{
    ClipSettings, Directives, Shot, ShotPlan, ShotTiming, Span, TimeRange, SCHEMA_VERSION,
};
use crate::sections::{Block, HeaderTiming};
use crate::settings::{Resolved, MAX_DURATION_S};
use crate::source::SourceMap;

const EPS: f64 = 1e-6;

struct Slot {
    fixed: Option<(f64, f64)>,
    len: Option<f64>,
    /// Span of the timing text (or the header / first text).
    span: Span,
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, x) if x != 11 => "st",
        (2, x) if x != 12 => "nd",
        (3, x) if x != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn block_span(map: &SourceMap, b: &Block, d: &Directives) -> Span {
    if let Some(h) = &b.header {
        return map.span(h.start, h.end);
    }
    if b.origin_len > 0 {
        return map.span(b.origin, b.origin + b.origin_len);
    }
    d.scene
        .first()
        .map(|p| p.span)
        .unwrap_or_else(|| map.span(b.origin, b.origin))
}

/// Build the plan: time the shots, validate every time, assemble.
pub(crate) fn build(
    blocks: &[Block],
    global: Directives,
    contents: Vec<Directives>,
    resolved: Resolved,
    map: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> ShotPlan {
    let Resolved {
        mut clip,
        duration_given,
    } = resolved;
    let slots: Vec<Slot> = blocks
        .iter()
        .zip(&contents)
        .map(|(b, d)| {
            let span = block_span(map, b, d);
            match &b.header {
                Some(h) => {
                    let tspan = map.span(h.timing_span.0, h.timing_span.1);
                    match h.timing {
                        HeaderTiming::Range(x, y) => Slot {
                            fixed: Some((x, y)),
                            len: None,
                            span: tspan,
                        },
                        HeaderTiming::Length(v) => Slot {
                            fixed: None,
                            len: Some(v),
                            span: tspan,
                        },
                        HeaderTiming::None => match b.duration {
                            Some((v, (s, e))) => Slot {
                                fixed: None,
                                len: Some(v),
                                span: map.span(s, e),
                            },
                            None => Slot {
                                fixed: None,
                                len: None,
                                span,
                            },
                        },
                    }
                }
                None => Slot {
                    fixed: None,
                    len: None,
                    span,
                },
            }
        })
        .collect();

    // Clip duration.
    if !duration_given {
        let mut cursor: f64 = 0.0;
        let mut all_timed = true;
        for s in &slots {
            match (s.fixed, s.len) {
                (Some((_, e)), _) => cursor = cursor.max(e),
                (None, Some(l)) => cursor += l.max(0.0),
                _ => all_timed = false,
            }
        }
        if cursor > EPS && cursor <= MAX_DURATION_S {
            clip.duration_s = if all_timed {
                cursor
            } else {
                clip.duration_s.max(cursor)
            };
        }
    }
    let dur = clip.duration_s;

    // Place shots.
    let n = slots.len();
    let mut ranges = vec![(0.0f64, 0.0f64); n];
    let mut cursor = 0.0f64;
    let mut i = 0;
    while i < n {
        if let Some((s, e)) = slots[i].fixed {
            if e <= s + EPS {
                diags.push(
                    Diagnostic::error(
                        "invalid-range",
                        slots[i].span,
                        format!(
                            "shot {} ends ({} s) before it starts ({} s)",
                            i + 1,
                            secs(e),
                            secs(s)
                        ),
                    )
                    .with_hint("write the range as START-END, e.g. `0:00-0:04`"),
                );
            } else if s < cursor - EPS && i > 0 {
                diags.push(
                    Diagnostic::error(
                        "overlapping-shots",
                        slots[i].span,
                        format!(
                            "shot {} starts at {} s but shot {} runs until {} s",
                            i + 1,
                            secs(s),
                            i,
                            secs(cursor)
                        ),
                    )
                    .with_hint(format!(
                        "start shot {} at {} or later",
                        i + 1,
                        clock(cursor)
                    )),
                );
            } else if s > cursor + EPS {
                diags.push(
                    Diagnostic::warning(
                        "shot-gap",
                        slots[i].span,
                        format!(
                            "nothing is planned from {} s to {} s",
                            secs(cursor),
                            secs(s)
                        ),
                    )
                    .with_hint(format!("start this shot at {}", clock(cursor))),
                );
            }
            ranges[i] = (s, e);
            cursor = cursor.max(e);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && slots[j].fixed.is_none() {
            j += 1;
        }
        let anchor = if j < n {
            slots[j].fixed.map(|f| f.0).unwrap_or(dur)
        } else {
            dur
        };
        let avail = anchor - cursor;
        let sum_len: f64 = slots[i..j].iter().filter_map(|s| s.len).sum();
        let free = slots[i..j].iter().filter(|s| s.len.is_none()).count();
        let each = if free > 0 {
            (avail - sum_len) / free as f64
        } else {
            0.0
        };
        if free > 0 && each <= EPS {
            if let Some(k) = (i..j).find(|&k| slots[k].len.is_none()) {
                diags.push(
                    Diagnostic::error(
                        "no-time-for-shot",
                        slots[k].span,
                        format!(
                            "no time is left for shot {} (the clip is {} s)",
                            k + 1,
                            secs(dur)
                        ),
                    )
                    .with_hint("give the clip a longer `Duration:` or shorten the other shots"),
                );
            }
        }
        for k in i..j {
            let l = slots[k].len.unwrap_or(each.max(0.0));
            ranges[k] = (cursor, cursor + l);
            cursor += l;
        }
        i = j;
    }
    let frame = 1.0 / clip.fps.max(1) as f64;
    for (k, (s, e)) in ranges.iter().enumerate() {
        if *e > *s + EPS && *e - *s < frame - EPS {
            diags.push(
                Diagnostic::error(
                    "no-time-for-shot",
                    slots[k].span,
                    format!(
                        "shot {} lasts {} s, less than one frame at {} fps",
                        k + 1,
                        secs(*e - *s),
                        clip.fps
                    ),
                )
                .with_hint("use fewer shots or a longer `Duration:`"),
            );
        }
        if *e > dur + EPS && *s < *e {
            diags.push(
                Diagnostic::error(
                    "shot-beyond-end",
                    slots[k].span,
                    format!(
                        "shot {} ends at {} s, after the clip end ({} s)",
                        k + 1,
                        secs(*e),
                        secs(dur)
                    ),
                )
                .with_hint(format!(
                    "set `Duration: {}s` or end the shot by {}",
                    fmt_num(e.ceil()),
                    clock(dur)
                )),
            );
        }
    }
    if let Some(&(_, last_end)) = ranges.last() {
        if last_end < dur - EPS
            && slots
                .last()
                .is_some_and(|s| s.fixed.is_some() || s.len.is_some())
        {
            diags.push(
                Diagnostic::warning(
                    "shot-gap",
                    slots[n - 1].span,
                    format!(
                        "the last shot ends at {} s but the clip runs to {} s",
                        secs(last_end),
                        secs(dur)
                    ),
                )
                .with_hint(format!(
                    "end the last shot at {} or set `Duration: {}s`",
                    clock(dur),
                    fmt_num(last_end)
                )),
            );
        }
    }

    // Shot numbers.
    for (k, b) in blocks.iter().enumerate() {
        if let Some(h) = &b.header {
            if h.number as usize != k + 1 {
                diags.push(
                    Diagnostic::warning(
                        "shot-number",
                        map.span(h.start, h.end),
                        format!("`Shot {}` is the {} shot", h.number, ordinal(k + 1)),
                    )
                    .with_hint(format!("number shots in order: `Shot {}`", k + 1)),
                );
            }
        }
    }

    // Validate times.
    check_times(&global, None, &clip, diags);
    let shots: Vec<Shot> = blocks
        .iter()
        .zip(contents)
        .zip(slots)
        .enumerate()
        .map(|(k, ((b, content), slot))| {
            let (start_s, end_s) = ranges[k];
            let timing = if slot.fixed.is_some() {
                ShotTiming::Explicit
            } else if slot.len.is_some() {
                ShotTiming::Duration
            } else {
                ShotTiming::Even
            };
            let shot = Shot {
                index: (k + 1) as u32,
                number: b.header.as_ref().map(|h| h.number),
                start_s,
                end_s,
                timing,
                span: block_span(map, b, &content),
                content,
            };
            if n > 1 {
                check_times(&shot.content, Some(&shot), &clip, diags);
            } else {
                check_times(&shot.content, None, &clip, diags);
            }
            shot
        })
        .collect();

    ShotPlan {
        schema_version: SCHEMA_VERSION,
        clip,
        global,
        shots,
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{}", v as i64)
    } else {
        secs(v)
    }
}

/// `M:SS` (or `M:SS.s`) for hints.
pub(crate) fn clock(t: f64) -> String {
    let t = t.max(0.0);
    let m = (t / 60.0).floor();
    let s = t - m * 60.0;
    if s.fract().abs() < 1e-9 {
        format!("{}:{:02}", m as u64, s as u64)
    } else {
        format!("{}:{:04.1}", m as u64, s)
    }
}

fn each_time(d: &Directives, mut f: impl FnMut(&TimeRange, &'static str)) {
    for p in &d.motion {
        if let Some(t) = &p.at {
            f(t, "motion");
        }
    }
    for p in &d.scene {
        if let Some(t) = &p.at {
            f(t, "scene");
        }
    }
    for m in &d.camera.moves {
        if let Some(t) = &m.at {
            f(t, "camera move");
        }
    }
    for p in &d.camera.phrases {
        if let (Some(t), true) = (&p.at, d.camera.moves.is_empty()) {
            f(t, "camera");
        }
    }
    for c in &d.audio {
        if let Some(t) = &c.at {
            f(t, "cue");
        }
    }
    for l in &d.dialogue {
        if let Some(t) = &l.at {
            f(t, "dialogue line");
        }
    }
}

fn check_times(
    d: &Directives,
    shot: Option<&Shot>,
    clip: &ClipSettings,
    diags: &mut Vec<Diagnostic>,
) {
    let dur = clip.duration_s;
    let mut seen: Vec<Span> = Vec::new();
    each_time(d, |t, what| {
        // One report per written time (a move and its phrase share one).
        if seen.contains(&t.span) {
            return;
        }
        seen.push(t.span);
        let end = t.end_s.unwrap_or(t.start_s);
        if let Some(e) = t.end_s {
            if e <= t.start_s + EPS {
                diags.push(
                    Diagnostic::error(
                        "invalid-range",
                        t.span,
                        format!(
                            "time range {}–{} s ends before it starts",
                            secs(t.start_s),
                            secs(e)
                        ),
                    )
                    .with_hint("write ranges as START-END, e.g. `00:02-00:04`"),
                );
                return;
            }
        }
        if t.start_s >= dur - EPS || end > dur + EPS {
            let at = match t.end_s {
                Some(e) => format!("{} at {}–{} s", what, secs(t.start_s), secs(e)),
                None => format!("{} at {} s", what, secs(t.start_s)),
            };
            let need = (end.max(t.start_s) + 1.0).ceil();
            diags.push(
                Diagnostic::error(
                    "cue-beyond-end",
                    t.span,
                    format!("{at} is beyond the clip end ({} s)", secs(dur)),
                )
                .with_hint(format!(
                    "the clip is {} s long; set `Duration: {}s` or move it before {}",
                    secs(dur),
                    fmt_num(need),
                    clock(dur)
                )),
            );
            return;
        }
        if let Some(s) = shot {
            if !t.overlaps(s.start_s, s.end_s) {
                diags.push(
                    Diagnostic::warning(
                        "cue-outside-shot",
                        t.span,
                        format!(
                            "{what} at {} s is outside shot {} ({}–{} s)",
                            secs(t.start_s),
                            s.index,
                            secs(s.start_s),
                            secs(s.end_s)
                        ),
                    )
                    .with_hint("times count from the start of the clip, not the shot; fix the time or move it to the shot that covers it"),
                );
            }
        }
    });
}
