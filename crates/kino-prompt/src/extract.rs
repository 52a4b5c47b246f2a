//! Turns lexed pieces into typed [`Directives`].
//!
//! Each section has its own reader; prose (the scene) is read clause by
//! clause, and clauses that are really about the camera, sound, timing or
//! things to avoid are moved to those fields, so that nothing is lost and
//! nothing is said twice.

use crate::audio::{self, Soundness};
use crate::camera::{self, CameraFind};
use crate::diagnostics::{secs, Diagnostic};
use crate::dialogue;
use crate::negative;
use crate::plan::{
    AudioCue, AudioKind, CameraDirective, Directives, Lens, Negative, Phrase, Spanned, StyleAttr,
    StyleKind, TimeRange,
};
use crate::sections::{Piece, Section};
use crate::settings::{self, ProseSetting};
use crate::source::{collapse_ws, sl, split_items, trim, words, SourceMap};
use crate::style;
use crate::time::{self, Found, Mode, TimeMatch};

/// Shared state while reading one prompt.
pub(crate) struct Ctx<'a> {
    pub src: &'a str,
    pub lower: &'a str,
    pub map: &'a SourceMap,
    pub diags: Vec<Diagnostic>,
    pub prose_settings: Vec<ProseSetting>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(src: &'a str, lower: &'a str, map: &'a SourceMap) -> Self {
        Ctx {
            src,
            lower,
            map,
            diags: Vec::new(),
            prose_settings: Vec::new(),
        }
    }

    fn text(&self, a: usize, b: usize) -> String {
        collapse_ws(sl(self.src, a, b))
    }

    /// Valid time expressions in `a..b`; malformed ones become diagnostics.
    pub(crate) fn times(&mut self, a: usize, b: usize, mode: Mode) -> Vec<TimeMatch> {
        let mut out = Vec::new();
        for f in time::scan(self.lower, a, b, mode) {
            match f {
                Found::Time(m) => out.push(m),
                Found::Malformed { start, end, hint } => self.diags.push(
                    Diagnostic::error(
                        "malformed-time",
                        self.map.span(start, end),
                        format!("malformed time `{}`", sl(self.src, start, end)),
                    )
                    .with_hint(hint),
                ),
                Found::Unitless(m) => {
                    self.diags.push(
                        Diagnostic::warning(
                            "ambiguous-time",
                            self.map.span(m.vstart, m.vend),
                            format!(
                                "`{}` has no unit; read as {} s",
                                sl(self.src, m.vstart, m.vend),
                                secs(m.from)
                            ),
                        )
                        .with_hint(format!(
                            "write `{}s` or `0:{:02}`",
                            sl(self.src, m.vstart, m.vend),
                            m.from as u64
                        )),
                    );
                    out.push(m);
                }
            }
        }
        out
    }

    pub(crate) fn time_range(&self, m: &TimeMatch) -> TimeRange {
        TimeRange {
            start_s: m.from,
            end_s: m.to,
            span: self.map.span(m.vstart, m.vend),
        }
    }

    /// The text of `a..b` without the given time expressions, tidied.
    pub(crate) fn strip_times(&self, a: usize, b: usize, ms: &[TimeMatch]) -> String {
        let mut s = String::new();
        let mut cur = a;
        for m in ms {
            if m.start >= cur && m.end <= b {
                s.push_str(sl(self.src, cur, m.start));
                s.push(' ');
                cur = m.end;
            }
        }
        s.push_str(sl(self.src, cur.min(b), b));
        if ms.is_empty() {
            collapse_ws(s.trim_matches(crate::source::is_edge_punct))
        } else {
            tidy(&collapse_ws(&s))
        }
    }

    /// Read the pieces of one block.
    pub(crate) fn block(&mut self, pieces: &[Piece]) -> Directives {
        let mut d = Directives::default();
        for p in pieces {
            self.piece(p, &mut d);
        }
        d
    }

    fn piece(&mut self, p: &Piece, d: &mut Directives) {
        let (a, b) = (p.start, p.end);
        match p.section {
            Section::Scene => self.prose(a, b, d),
            Section::Camera => {
                for (x, y) in split_items(self.src, a, b, b",;.") {
                    if !self.negative_clause(x, y, d) {
                        let f = camera::analyze(self.lower, x, y, true);
                        self.camera_clause(x, y, f, Mode::Cue, true, d);
                    }
                }
            }
            Section::Motion => {
                for (x, y) in split_items(self.src, a, b, b";.!?") {
                    let n = time::scan(self.lower, x, y, Mode::Cue).len();
                    let parts = if n > 1 {
                        split_items(self.src, x, y, b",")
                    } else {
                        vec![(x, y)]
                    };
                    for (x, y) in parts {
                        if !self.negative_clause(x, y, d) {
                            self.motion_clause(x, y, Mode::Cue, d);
                        }
                    }
                }
            }
            Section::Audio(hint) => {
                for (x, y) in split_items(self.src, a, b, b",;.!?") {
                    if !self.negative_clause(x, y, d) {
                        let ms = self.times(x, y, Mode::Cue);
                        self.cues(x, y, hint, &ms, d);
                    }
                }
            }
            Section::Style(hint) => {
                for (x, y) in split_items(self.src, a, b, b",;.") {
                    let kind = style::classify(self.lower, x, y, hint);
                    let negated = negative::lead(self.lower, x, y).is_some();
                    if negated
                        && !matches!(kind, StyleKind::Grain { .. } | StyleKind::Vignette { .. })
                    {
                        self.negative_clause(x, y, d);
                        continue;
                    }
                    d.style.push(StyleAttr {
                        kind,
                        text: self.text(x, y),
                        span: self.map.span(x, y),
                    });
                }
            }
            Section::Negative => {
                for (x, y) in split_items(self.src, a, b, b",;.") {
                    let x = negative::strip_lead(self.lower, x, y);
                    let text = tidy(&self.text(x, y));
                    if !text.is_empty() {
                        d.negatives.push(Negative {
                            text,
                            span: self.map.span(x, y),
                        });
                    }
                }
            }
            Section::Dialogue => dialogue::parse(self, a, b, &mut d.dialogue),
        }
    }

    /// If `a..b` starts with "no"/"without"/"avoid", record a negative.
    fn negative_clause(&mut self, a: usize, b: usize, d: &mut Directives) -> bool {
        let Some(x) = negative::lead(self.lower, a, b) else {
            return false;
        };
        let text = tidy(&self.text(x, b));
        if !text.is_empty() {
            d.negatives.push(Negative {
                text,
                span: self.map.span(x, b),
            });
        }
        true
    }

    fn camera_clause(
        &mut self,
        a: usize,
        b: usize,
        f: CameraFind,
        mode: Mode,
        as_phrase: bool,
        d: &mut Directives,
    ) {
        let ms = self.times(a, b, mode);
        let at = ms.first().map(|m| self.time_range(m));
        let text = self.strip_times(a, b, &ms);
        for (m, s, e) in &f.moves {
            d.camera.moves.push(CameraDirective {
                movement: *m,
                text: text.clone(),
                at,
                span: self.map.span(*s, *e),
            });
        }
        if let (None, Some((v, s, e))) = (&d.camera.lens, f.lens) {
            d.camera.lens = Some(Lens {
                focal_length_mm: v,
                span: self.map.span(s, e),
            });
        }
        if let (None, Some((v, s, e))) = (&d.camera.depth_of_field, f.dof) {
            d.camera.depth_of_field = Some(Spanned {
                value: v,
                span: self.map.span(s, e),
            });
        }
        if let (None, Some((v, s, e))) = (&d.camera.framing, f.framing) {
            d.camera.framing = Some(Spanned {
                value: v,
                span: self.map.span(s, e),
            });
        }
        if let (None, Some((v, s, e))) = (&d.camera.angle, f.angle) {
            d.camera.angle = Some(Spanned {
                value: v,
                span: self.map.span(s, e),
            });
        }
        if as_phrase && !text.is_empty() {
            d.camera.phrases.push(Phrase {
                text,
                at,
                span: self.map.span(a, b),
            });
        }
    }

    fn motion_clause(&mut self, a: usize, b: usize, mode: Mode, d: &mut Directives) {
        let ms = self.times(a, b, mode);
        self.motion_with(a, b, &ms, d);
    }

    fn motion_with(&mut self, a: usize, b: usize, ms: &[TimeMatch], d: &mut Directives) {
        let text = self.strip_times(a, b, ms);
        if text.is_empty() && ms.is_empty() {
            return;
        }
        d.motion.push(Phrase {
            text,
            at: ms.first().map(|m| self.time_range(m)),
            span: self.map.span(a, b),
        });
    }

    /// One audio item → one cue per time written (or one untimed cue).
    fn cues(
        &mut self,
        a: usize,
        b: usize,
        hint: Option<AudioKind>,
        ms: &[TimeMatch],
        d: &mut Directives,
    ) {
        let description = self.strip_times(a, b, ms);
        if description.is_empty() {
            return;
        }
        let kind = hint.unwrap_or_else(|| audio::classify(self.lower, a, b));
        let span = self.map.span(a, b);
        if ms.is_empty() {
            d.audio.push(AudioCue {
                kind,
                description: description.clone(),
                at: None,
                span,
            });
        }
        for m in ms {
            d.audio.push(AudioCue {
                kind,
                description: description.clone(),
                at: Some(self.time_range(m)),
                span,
            });
        }
    }

    /// Prose: sentences, then comma clauses; scene text is kept in runs of
    /// consecutive clauses so the original wording survives.
    fn prose(&mut self, a: usize, b: usize, d: &mut Directives) {
        let found = settings::scan_prose(self.lower, a, b);
        self.prose_settings.extend(found);
        for (sa, sb) in split_items(self.src, a, b, b".!?;") {
            let mut run: Option<(usize, usize)> = None;
            for (ca, cb) in split_items(self.src, sa, sb, b",") {
                let (kept, whole) = self.prose_clause(ca, cb, d);
                match (kept, run) {
                    (Some((_, y)), Some((rs, _))) if whole => run = Some((rs, y)),
                    (Some(k), r) => {
                        self.flush(r, d);
                        run = Some(k);
                        if !whole {
                            self.flush(run.take(), d);
                        }
                    }
                    (None, r) => {
                        self.flush(r, d);
                        run = None;
                    }
                }
            }
            self.flush(run, d);
        }
    }

    fn flush(&mut self, run: Option<(usize, usize)>, d: &mut Directives) {
        if let Some((x, y)) = run {
            let text = self.text(x, y);
            if !text.is_empty() {
                d.scene.push(Phrase {
                    text,
                    at: None,
                    span: self.map.span(x, y),
                });
            }
        }
    }

    /// Read one prose clause. Returns the part kept as scene text and
    /// whether that is the whole clause.
    fn prose_clause(
        &mut self,
        a: usize,
        b: usize,
        d: &mut Directives,
    ) -> (Option<(usize, usize)>, bool) {
        if self.negative_clause(a, b, d) {
            return (None, false);
        }
        let s = sl(self.src, a, b);
        if s.contains(['"', '“', '”']) {
            dialogue::parse(self, a, b, &mut d.dialogue);
            return (None, false);
        }
        let f = camera::analyze(self.lower, a, b, false);
        if f.mentions_camera || !f.is_empty() {
            let leads = camera::camera_leads(self.lower, a, b);
            let camera_only =
                leads || (!f.is_empty() && camera::residual_words(self.lower, a, b, &f) == 0);
            if camera_only || !f.is_empty() {
                let f = if leads {
                    camera::analyze(self.lower, a, b, true)
                } else {
                    f
                };
                self.camera_clause(a, b, f, Mode::Prose, camera_only, d);
            }
            if camera_only {
                return (None, false);
            }
            return (Some((a, b)), true);
        }
        let (snd, _) = audio::soundness(self.lower, a, b);
        let ms = self.times(a, b, Mode::Prose);
        if snd == Soundness::Explicit
            || (snd == Soundness::Effect && (!ms.is_empty() || words(self.lower, a, b).len() <= 6))
        {
            self.cues(a, b, None, &ms, d);
            return (None, false);
        }
        if !ms.is_empty() {
            self.motion_with(a, b, &ms, d);
            return (None, false);
        }
        if let Some((h, t)) = negative::split_mid(self.lower, a, b) {
            let text = tidy(&self.text(t, b));
            if !text.is_empty() {
                d.negatives.push(Negative {
                    text,
                    span: self.map.span(t, b),
                });
            }
            let (x, y) = trim(self.src, a, h);
            return ((x < y).then_some((x, y)), false);
        }
        (Some((a, b)), true)
    }
}

/// Trim list punctuation and dangling joiner words left by removed times.
pub(crate) fn tidy(s: &str) -> String {
    let edge = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | ':' | '-' | '–' | '—' | '(' | ')' | '[' | ']' | '@'
            )
    };
    let mut t = s.trim_matches(edge).to_string();
    loop {
        let lower = t.to_ascii_lowercase();
        let mut changed = false;
        for w in [" at", " and", " then", " from", " by", " around", " after"] {
            if lower.ends_with(w) {
                t.truncate(t.len() - w.len());
                changed = true;
                break;
            }
        }
        for w in ["then ", "and "] {
            if lower.starts_with(w) && !changed {
                t = t[w.len()..].to_string();
                changed = true;
                break;
            }
        }
        t = t.trim_matches(edge).to_string();
        if !changed {
            break;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn tidy_joiners() {
        assert_eq!(tidy("the rim clangs at"), "the rim clangs");
        assert_eq!(tidy("(door slam) ,"), "door slam");
        assert_eq!(tidy("then a bang"), "a bang");
        assert_eq!(tidy(""), "");
    }
}
