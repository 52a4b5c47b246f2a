//! Dialogue lines: `MAYA: "We made it." (at 00:03)`, `Leo whispers "Run."`,
//! several per line, or unquoted inside a `Dialogue:` section.

use crate::diagnostics::Diagnostic;
use crate::extract::Ctx;
use crate::plan::{DialogueLine, TimeRange};
use crate::source::{collapse_ws, sl, trim_by};
use crate::time::Mode;

const VERBS: &[&str] = &[
    "says",
    "said",
    "asks",
    "asked",
    "whispers",
    "whispered",
    "shouts",
    "shouted",
    "yells",
    "yelled",
    "replies",
    "replied",
    "calls",
    "mutters",
    "exclaims",
    "answers",
    "sings",
    "screams",
    "cries",
    "murmurs",
    "adds",
    "say",
];

/// Open/close quote pairs in `a..b`: (open byte, text start, text end, after close).
fn quotes(src: &str, a: usize, b: usize) -> (Vec<(usize, usize, usize, usize)>, bool) {
    let s = sl(src, a, b);
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, char)> = None;
    for (off, c) in s.char_indices() {
        let i = a + off;
        match open {
            None if matches!(c, '"' | '“' | '«' | '„') => {
                open = Some((i, i + c.len_utf8(), c))
            }
            Some((o, ts, oc)) => {
                let closes = match oc {
                    '"' => c == '"',
                    '«' => c == '»',
                    _ => matches!(c, '”' | '"' | '“'),
                };
                if closes {
                    out.push((o, ts, i, i + c.len_utf8()));
                    open = None;
                }
            }
            None => {}
        }
    }
    let unclosed = if let Some((o, ts, _)) = open {
        out.push((o, ts, b, b));
        true
    } else {
        false
    };
    (out, unclosed)
}

/// Clean a speaker region: drop a trailing `:`, a speech verb and a
/// `(delivery)` parenthetical.
fn speaker_of(src: &str, a: usize, b: usize) -> (Option<String>, Option<String>) {
    let (a, b) = trim_by(src, a, b, |c| {
        c.is_whitespace() || matches!(c, ':' | ',' | ';' | '.' | '-' | '–' | '—')
    });
    let mut s = sl(src, a, b).to_string();
    let mut delivery = None;
    if let (Some(o), Some(c)) = (s.find('('), s.rfind(')')) {
        if o < c {
            let d = collapse_ws(&s[o + 1..c]);
            if !d.is_empty() {
                delivery = Some(d);
            }
            s = format!("{} {}", &s[..o], &s[c + 1..]);
        }
    }
    let mut s = collapse_ws(s.trim_matches(|c: char| c.is_whitespace() || c == ':' || c == ','));
    loop {
        let lower = s.to_ascii_lowercase();
        let Some(last) = lower.rsplit(' ').next() else {
            break;
        };
        if VERBS.contains(&last) {
            let cut = s.len() - last.len();
            s = s[..cut].trim_end().to_string();
        } else {
            break;
        }
    }
    let s = s
        .trim_matches(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .to_string();
    ((!s.is_empty()).then_some(s), delivery)
}

/// Parse dialogue in `a..b`.
pub(crate) fn parse(cx: &mut Ctx<'_>, a: usize, b: usize, out: &mut Vec<DialogueLine>) {
    let (qs, unclosed) = quotes(cx.src, a, b);
    if unclosed {
        if let Some(q) = qs.last() {
            cx.diags.push(
                Diagnostic::warning(
                    "unclosed-quote",
                    cx.map.span(q.0, q.1),
                    "this quote is never closed",
                )
                .with_hint("add the closing `\"`; the line runs to the end of the text"),
            );
        }
    }
    if qs.is_empty() {
        // Unquoted: `MAYA: We made it (at 00:03)` or plain words.
        let times = cx.times(a, b, Mode::Cue);
        let s = sl(cx.src, a, b);
        let colon = s
            .find(':')
            .filter(|&c| c <= 60 && !s[..c].bytes().any(|x| x.is_ascii_digit()));
        let (speaker, delivery, ta) = match colon {
            Some(c) => {
                let (sp, d) = speaker_of(cx.src, a, a + c);
                (sp, d, a + c + 1)
            }
            None => (None, None, a),
        };
        let text = cx.strip_times(ta, b, &times);
        if text.is_empty() {
            return;
        }
        out.push(DialogueLine {
            speaker,
            delivery,
            text,
            at: times.first().map(|m| cx.time_range(m)),
            span: cx.map.span(a, b),
        });
        return;
    }
    let mut prev_end = a;
    // (line, start byte, end byte): the span is made at the end so a time
    // written after the quote is included.
    let mut lines: Vec<(DialogueLine, usize, usize)> = Vec::new();
    for &(o, ts, te, ce) in qs.iter() {
        // Region before the quote: times (for the previous line, or this
        // one if first), then the speaker.
        let times = cx.times(prev_end, o, Mode::Cue);
        let mut speaker_from = prev_end;
        let mut own_time: Option<TimeRange> = None;
        let mut own_start: Option<usize> = None;
        if let Some(last) = times.last() {
            speaker_from = last.end;
        }
        for m in &times {
            let tr = cx.time_range(m);
            match lines.last_mut() {
                Some((l, _, end)) if l.at.is_none() => {
                    l.at = Some(tr);
                    *end = (*end).max(m.end);
                }
                None if own_time.is_none() => {
                    own_time = Some(tr);
                    own_start = Some(m.start);
                }
                _ => {}
            }
        }
        let (speaker, delivery) = speaker_of(cx.src, speaker_from, o);
        let span_start = {
            let (x, _) = trim_by(cx.src, speaker_from, o, |c| {
                c.is_whitespace() || matches!(c, ',' | ';' | '.' | ')')
            });
            own_start.unwrap_or(x).min(o)
        };
        let text = collapse_ws(sl(cx.src, ts, te));
        lines.push((
            DialogueLine {
                speaker,
                delivery,
                text,
                at: own_time,
                span: cx.map.span(span_start, ce),
            },
            span_start,
            ce,
        ));
        prev_end = ce;
    }
    // Times after the last quote.
    let times = cx.times(prev_end, b, Mode::Cue);
    for m in &times {
        let tr = cx.time_range(m);
        if let Some((l, _, end)) = lines.last_mut() {
            if l.at.is_none() {
                l.at = Some(tr);
                *end = (*end).max(m.end);
            }
        }
    }
    out.extend(
        lines
            .into_iter()
            .filter(|(l, _, _)| !l.text.is_empty())
            .map(|(mut l, s, e)| {
                l.span = cx.map.span(s, e);
                l
            }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers() {
        let s = "MAYA (whispering): ";
        assert_eq!(
            speaker_of(s, 0, s.len()),
            (Some("MAYA".into()), Some("whispering".into()))
        );
        let s = "Leo says";
        assert_eq!(speaker_of(s, 0, s.len()), (Some("Leo".into()), None));
        let s = "  ";
        assert_eq!(speaker_of(s, 0, s.len()), (None, None));
    }
}
