//! The lexer: splits the prompt into shots and sections, with byte ranges.
//!
//! * A line may start with a bullet (`- `, `* `, `• `), which is skipped.
//! * `Shot N:` / `Shot N (0:00-0:04):` / `Shot N (3s):` at a line start opens a shot.
//! * `[cut]` anywhere (outside quotes) closes the current shot and opens the next.
//! * `Label:` at a line start, or inline after a sentence end (or when
//!   capitalised), switches the section. Unlabelled lines continue the
//!   current section until a blank line, after which text is scene again.
//! * `NAME: "words"` is a dialogue line wherever it appears.

use crate::diagnostics::Diagnostic;
use crate::plan::AudioKind;
use crate::source::{capitalize, is_word_byte, quote_step, sl, trim, SourceMap};
use crate::time::{self, Standalone};

/// What a stretch of text is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Scene,
    Camera,
    Motion,
    /// Audio, possibly with a kind forced by the label (`Music:`, `SFX:`).
    Audio(Option<AudioKind>),
    /// Style, possibly with a kind forced by the label (`Lighting:`).
    Style(Option<StyleHint>),
    Negative,
    Dialogue,
}

/// Style kinds a label can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StyleHint {
    Lighting,
    Palette,
}

/// Global settings keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SettingKey {
    Duration,
    Size,
    Aspect,
    Fps,
    Seed,
    Preset,
}

/// What a `Label:` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    Section(Section),
    Setting(SettingKey),
}

/// Every label name the language knows (lower case). Used for suggestions.
pub(crate) const LABEL_NAMES: &[&str] = &[
    "scene",
    "setting",
    "subject",
    "description",
    "prompt",
    "camera",
    "cam",
    "camera movement",
    "camera move",
    "camera motion",
    "camera angle",
    "cinematography",
    "framing",
    "lens",
    "shot type",
    "motion",
    "action",
    "actions",
    "movement",
    "animation",
    "audio",
    "sound",
    "sounds",
    "sound design",
    "music",
    "soundtrack",
    "score",
    "sfx",
    "sound effects",
    "effects",
    "foley",
    "ambience",
    "ambiance",
    "ambient",
    "voiceover",
    "voice-over",
    "voice over",
    "narration",
    "vo",
    "style",
    "look",
    "aesthetic",
    "mood",
    "visual style",
    "visuals",
    "lighting",
    "palette",
    "colors",
    "colours",
    "color palette",
    "colour palette",
    "color grade",
    "grade",
    "tones",
    "negative",
    "negatives",
    "negative prompt",
    "avoid",
    "exclude",
    "don't",
    "do not",
    "dialogue",
    "dialog",
    "lines",
    "duration",
    "length",
    "clip length",
    "runtime",
    "size",
    "resolution",
    "dimensions",
    "aspect",
    "aspect ratio",
    "ratio",
    "fps",
    "frame rate",
    "framerate",
    "frames per second",
    "seed",
    "preset",
    "style preset",
];

/// Look up a normalised (lower case, single-spaced) label.
pub(crate) fn lookup_label(s: &str) -> Option<Label> {
    use Label::{Section as S, Setting as K};
    use Section::*;
    Some(match s {
        "scene" | "setting" | "subject" | "description" | "prompt" => S(Scene),
        "camera" | "cam" | "camera movement" | "camera move" | "camera motion" | "camera angle"
        | "cinematography" | "framing" | "lens" | "shot type" => S(Camera),
        "motion" | "action" | "actions" | "movement" | "animation" => S(Motion),
        "audio" | "sound" | "sounds" | "sound design" => S(Audio(None)),
        "music" | "soundtrack" | "score" => S(Audio(Some(AudioKind::Music))),
        "sfx" | "sound effects" | "effects" | "foley" => S(Audio(Some(AudioKind::Effect))),
        "ambience" | "ambiance" | "ambient" => S(Audio(Some(AudioKind::Ambient))),
        "voiceover" | "voice-over" | "voice over" | "narration" | "vo" => {
            S(Audio(Some(AudioKind::Speech)))
        }
        "style" | "look" | "aesthetic" | "mood" | "visual style" | "visuals" => S(Style(None)),
        "lighting" => S(Style(Some(StyleHint::Lighting))),
        "palette" | "colors" | "colours" | "color palette" | "colour palette" | "color grade"
        | "grade" | "tones" => S(Style(Some(StyleHint::Palette))),
        "negative" | "negatives" | "negative prompt" | "avoid" | "exclude" | "don't" | "do not" => {
            S(Negative)
        }
        "dialogue" | "dialog" | "lines" => S(Dialogue),
        "duration" | "length" | "clip length" | "runtime" => K(SettingKey::Duration),
        "size" | "resolution" | "dimensions" => K(SettingKey::Size),
        "aspect" | "aspect ratio" | "ratio" => K(SettingKey::Aspect),
        "fps" | "frame rate" | "framerate" | "frames per second" => K(SettingKey::Fps),
        "seed" => K(SettingKey::Seed),
        "preset" | "style preset" => K(SettingKey::Preset),
        _ => return None,
    })
}

/// Optimal-string-alignment edit distance (transpositions count 1).
pub(crate) fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The known label nearest to `name`, if close enough to be a typo.
pub(crate) fn suggest(name: &str) -> Option<&'static str> {
    let n = name.chars().count();
    if !(3..=24).contains(&n) {
        return None;
    }
    let limit = if n <= 4 { 1 } else { 2 };
    let mut best: Option<(usize, &'static str)> = None;
    for cand in LABEL_NAMES {
        if cand.len().abs_diff(n) > limit {
            continue;
        }
        let d = osa_distance(name, cand);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// How a label is shown to users: `Scene`, `FPS`, `Aspect ratio`.
pub(crate) fn display_label(name: &str) -> String {
    match name {
        "fps" | "sfx" | "vo" => name.to_ascii_uppercase(),
        _ => capitalize(name),
    }
}

/// A run of text in one section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    pub section: Section,
    pub start: usize,
    pub end: usize,
}

/// A `Key: value` setting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SettingPiece {
    pub key: SettingKey,
    pub start: usize,
    pub end: usize,
    /// Index into `Lexed::shots` when written inside a `Shot N:` block.
    pub shot: Option<usize>,
}

/// Timing written in a shot header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HeaderTiming {
    None,
    Range(f64, f64),
    Length(f64),
}

/// A `Shot N (...):` header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub number: u32,
    pub timing: HeaderTiming,
    /// Bytes of the timing text (inside the brackets).
    pub timing_span: (usize, usize),
    pub start: usize,
    pub end: usize,
}

/// A shot (or the global preamble) with its pieces.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Block {
    pub header: Option<Header>,
    /// Byte where the block starts (header, `[cut]`, or first text).
    pub origin: usize,
    /// Byte length of the origin marker (for spans).
    pub origin_len: usize,
    /// Shot-level `Duration:` (seconds, value span).
    pub duration: Option<(f64, (usize, usize))>,
    pub pieces: Vec<Piece>,
}

/// Lexer output.
#[derive(Debug, Default)]
pub(crate) struct Lexed {
    /// Text before the first `Shot N:` header (applies to all shots).
    pub global: Block,
    pub shots: Vec<Block>,
    pub settings: Vec<SettingPiece>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sink {
    Section(Section),
    Setting(SettingKey),
}

impl From<Label> for Sink {
    fn from(l: Label) -> Self {
        match l {
            Label::Section(s) => Sink::Section(s),
            Label::Setting(k) => Sink::Setting(k),
        }
    }
}

struct LineLabel {
    name_start: usize,
    name_end: usize,
    has_paren: bool,
    colon: usize,
}

enum Class {
    Known(Label),
    Speaker,
    Typo(&'static str),
    Unknown,
    NotALabel,
}

/// Most shots a prompt may have (far more than any clip needs; it also
/// bounds the work on hostile input).
pub(crate) const MAX_SHOTS: usize = 256;

struct Lexer<'a> {
    /// Set once the shot limit is hit: lexing stops there.
    overflow: bool,
    src: &'a str,
    lower: &'a str,
    map: &'a SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    out: Lexed,
}

/// Split the prompt into blocks and pieces.
pub(crate) fn lex(src: &str, lower: &str, map: &SourceMap, diags: &mut Vec<Diagnostic>) -> Lexed {
    let mut lx = Lexer {
        overflow: false,
        src,
        lower,
        map,
        diags,
        out: Lexed::default(),
    };
    let mut section = Section::Scene;
    let mut off = 0usize;
    for raw in src.split('\n') {
        if lx.overflow {
            break;
        }
        let ls = off;
        off += raw.len() + 1;
        let (pos, le) = trim(src, ls, ls + raw.len());
        if pos >= le {
            section = Section::Scene;
            continue;
        }
        let mut pos = lx.skip_bullet(pos, le);
        if let Some(content) = lx.shot_header(pos, le) {
            section = Section::Scene;
            pos = trim(src, content, le).0;
            if pos >= le {
                continue;
            }
        }
        let mut sink = Sink::Section(section);
        let mut seg_start = pos;
        let mut scan_from = pos;
        let mut speaker_line = false;
        if let Some(lab) = lx.line_label(pos, le) {
            let after = lab.colon + 1;
            match lx.classify(&lab, section, le) {
                Class::Known(l) => {
                    sink = l.into();
                    seg_start = after;
                    scan_from = after;
                }
                Class::Speaker => {
                    sink = Sink::Section(Section::Dialogue);
                    scan_from = after;
                    speaker_line = true;
                }
                Class::Typo(sugg) => {
                    let name = sl(src, lab.name_start, lab.name_end);
                    let shown = display_label(sugg);
                    lx.diags.push(
                        Diagnostic::error(
                            "unknown-section",
                            map.span(lab.name_start, lab.name_end),
                            format!("unknown section `{name}:`"),
                        )
                        .with_hint(format!("did you mean `{shown}:`?")),
                    );
                    if let Some(l) = lookup_label(sugg) {
                        sink = l.into();
                    }
                    seg_start = after;
                    scan_from = after;
                }
                Class::Unknown => {
                    let name = sl(src, lab.name_start, lab.name_end);
                    lx.diags.push(
                        Diagnostic::warning(
                            "unknown-section",
                            map.span(lab.name_start, lab.name_end),
                            format!("unknown section `{name}:`; the line is read as plain text"),
                        )
                        .with_hint(
                            "sections are Scene, Camera, Motion, Audio, Style, Negative (Avoid), \
                             Dialogue; settings are Duration, Size, Aspect, FPS, Seed, Preset",
                        ),
                    );
                    scan_from = after;
                }
                Class::NotALabel => {}
            }
        }
        let (last, seen) = lx.scan_inline(sink, seg_start, scan_from, le);
        section = match last {
            Sink::Section(_) if speaker_line && !seen => section,
            Sink::Section(s) => s,
            Sink::Setting(_) => Section::Scene,
        };
    }
    lx.finish()
}

impl Lexer<'_> {
    fn b(&self) -> &[u8] {
        self.lower.as_bytes()
    }

    fn cur(&mut self) -> &mut Block {
        match self.out.shots.last_mut() {
            Some(b) => b,
            None => &mut self.out.global,
        }
    }

    fn skip_bullet(&self, pos: usize, le: usize) -> usize {
        let s = sl(self.lower, pos, le);
        for p in ["- ", "* ", "• ", "· ", "> "] {
            if s.starts_with(p) {
                return trim(self.src, pos + p.len(), le).0;
            }
        }
        pos
    }

    /// Open a new shot. A `[cut]` before any `Shot N:` header turns the text
    /// so far into shot 1; a header keeps it as the global preamble.
    fn start_shot(&mut self, header: Option<Header>, origin: usize, origin_len: usize) {
        if self.out.shots.len() >= MAX_SHOTS {
            if !self.overflow {
                self.overflow = true;
                self.diags.push(
                    Diagnostic::error(
                        "too-many-shots",
                        self.map.span(origin, origin + origin_len),
                        format!("more than {MAX_SHOTS} shots"),
                    )
                    .with_hint("split the script into several clips"),
                );
            }
            return;
        }
        if header.is_none() && self.out.shots.is_empty() {
            let g = std::mem::take(&mut self.out.global);
            if !g.pieces.is_empty() {
                let origin = g.pieces.first().map(|p| p.start).unwrap_or(0);
                self.out.shots.push(Block {
                    origin,
                    origin_len: 0,
                    ..g
                });
            }
        }
        self.out.shots.push(Block {
            header,
            origin,
            origin_len,
            duration: None,
            pieces: Vec::new(),
        });
    }

    fn emit(&mut self, sink: Sink, a: usize, b: usize) {
        let (a, b) = trim(self.src, a, b);
        if a >= b || self.overflow {
            return;
        }
        match sink {
            Sink::Section(section) => {
                let blk = self.cur();
                if blk.pieces.is_empty() && blk.header.is_none() && blk.origin_len == 0 {
                    blk.origin = a;
                }
                blk.pieces.push(Piece {
                    section,
                    start: a,
                    end: b,
                });
            }
            Sink::Setting(key) => {
                // A value ends at `.`, `,`, `;` or `|` followed by a space;
                // what follows is scene text ("FPS: 24. A dancer spins.").
                let bytes = self.lower.as_bytes();
                if let Some(i) = (a..b).find(|&i| {
                    matches!(bytes[i], b'.' | b',' | b';' | b'|')
                        && bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace())
                }) {
                    if i + 1 < b {
                        self.emit(sink, a, i);
                        self.emit(Sink::Section(Section::Scene), i + 1, b);
                        return;
                    }
                }
                let shot = match self.out.shots.last() {
                    Some(s) if s.header.is_some() => Some(self.out.shots.len() - 1),
                    _ => None,
                };
                self.out.settings.push(SettingPiece {
                    key,
                    start: a,
                    end: b,
                    shot,
                });
            }
        }
    }

    /// `Shot N`, optional `#`, optional `(timing)` / `[timing]`, then `:`,
    /// `.`, `-`, a dash, or the line end. Returns where the content starts.
    fn shot_header(&mut self, pos: usize, le: usize) -> Option<usize> {
        let lower: &str = self.lower;
        let b = lower.as_bytes();
        if !sl(self.lower, pos, le).starts_with("shot") {
            return None;
        }
        let sp = |mut i: usize| {
            while i < le && b[i] == b' ' {
                i += 1;
            }
            i
        };
        let mut i = sp(pos + 4);
        if i < le && b[i] == b'#' {
            i = sp(i + 1);
        }
        let ds = i;
        while i < le && b[i].is_ascii_digit() && i - ds < 5 {
            i += 1;
        }
        if i == ds || (i < le && is_word_byte(b[i])) {
            return None;
        }
        let number: u32 = sl(self.lower, ds, i).parse().ok()?;
        let mut j = sp(i);
        let mut inner = None;
        if j < le && (b[j] == b'(' || b[j] == b'[') {
            let close = if b[j] == b'(' { b')' } else { b']' };
            let k = (j + 1..le).find(|&k| b[k] == close)?;
            inner = Some((j + 1, k));
            j = sp(k + 1);
        }
        let content = if j >= le {
            le
        } else if b[j] == b':'
            || ((b[j] == b'.' || b[j] == b'-') && (j + 1 >= le || b[j + 1] == b' '))
        {
            j + 1
        } else if j + 2 < le
            && b[j] == 0xE2
            && b[j + 1] == 0x80
            && (b[j + 2] == 0x93 || b[j + 2] == 0x94)
            && (j + 3 >= le || b[j + 3] == b' ')
        {
            j + 3
        } else {
            return None;
        };
        let mut timing = HeaderTiming::None;
        let mut timing_span = (pos, pos);
        let mut camera = None;
        if let Some((ia, ib)) = inner {
            let (ia, ib) = trim(self.src, ia, ib);
            timing_span = (ia, ib);
            match time::standalone(self.lower, ia, ib) {
                Standalone::Point(v) => timing = HeaderTiming::Length(v),
                Standalone::Range(x, y) => timing = HeaderTiming::Range(x, y),
                Standalone::Malformed(hint) => self.diags.push(
                    Diagnostic::error(
                        "malformed-time",
                        self.map.span(ia, ib),
                        format!("malformed shot time `{}`", sl(self.src, ia, ib)),
                    )
                    .with_hint(hint),
                ),
                Standalone::NotTime => camera = Some((ia, ib)),
            }
        }
        let hend = content.min(le);
        self.start_shot(
            Some(Header {
                number,
                timing,
                timing_span,
                start: pos,
                end: hend,
            }),
            pos,
            hend - pos,
        );
        if let Some((a, b)) = camera {
            self.emit(Sink::Section(Section::Camera), a, b);
        }
        Some(content)
    }

    /// `Name:` at the start of a line (letters, spaces, `-`, `'`, optional
    /// parenthetical). At most 4 words.
    fn line_label(&self, pos: usize, le: usize) -> Option<LineLabel> {
        let s = sl(self.src, pos, le);
        let mut chars = s.char_indices();
        let (_, first) = chars.next()?;
        if !first.is_alphabetic() {
            return None;
        }
        let mut name_end = None;
        let mut colon = None;
        let mut has_paren = false;
        for (off, c) in s.char_indices() {
            if off > 48 {
                return None;
            }
            if c.is_alphabetic() || c.is_ascii_digit() || matches!(c, ' ' | '-' | '\'' | '’' | '&')
            {
                continue;
            }
            if c == '(' {
                let rest = sl(s, off, s.len());
                let close = rest.find(')')?;
                if close > 40 {
                    return None;
                }
                name_end = Some(pos + off);
                has_paren = true;
                let after = off + close + 1;
                let t = sl(s, after, s.len());
                let t2 = t.trim_start();
                if t2.starts_with(':') {
                    colon = Some(pos + after + (t.len() - t2.len()));
                }
                break;
            }
            if c == ':' {
                name_end = Some(pos + off);
                colon = Some(pos + off);
                break;
            }
            return None;
        }
        let colon = colon?;
        let (name_start, name_end) = trim(self.src, pos, name_end?);
        if name_start >= name_end
            || sl(self.src, name_start, name_end)
                .split_whitespace()
                .count()
                > 4
        {
            return None;
        }
        if self.b().get(colon + 1) == Some(&b'/') {
            return None;
        }
        Some(LineLabel {
            name_start,
            name_end,
            has_paren,
            colon,
        })
    }

    fn classify(&self, lab: &LineLabel, section: Section, le: usize) -> Class {
        let raw = sl(self.lower, lab.name_start, lab.name_end).replace('’', "'");
        let norm = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(l) = lookup_label(&norm) {
            return Class::Known(l);
        }
        let rest = sl(self.src, lab.colon + 1, le).trim_start();
        if rest.starts_with(['"', '“', '”', '«', '„'])
            || section == Section::Dialogue
            || lab.has_paren
        {
            return Class::Speaker;
        }
        let words: Vec<&str> = norm.split(' ').collect();
        if words.len() > 2 || norm.chars().count() < 2 {
            return Class::NotALabel;
        }
        if words.last().is_some_and(|w| lookup_label(w).is_some()) {
            // "Girl smiling Camera:" — leave it to the inline scanner.
            return Class::NotALabel;
        }
        match suggest(&norm) {
            Some(s) => Class::Typo(s),
            None => Class::Unknown,
        }
    }

    /// Scan `scan_from..le` for `[cut]` markers and inline labels, emitting
    /// pieces. Returns the final sink and whether any marker was seen.
    fn scan_inline(
        &mut self,
        mut sink: Sink,
        mut seg_start: usize,
        scan_from: usize,
        le: usize,
    ) -> (Sink, bool) {
        let mut i = scan_from;
        let mut in_quote = false;
        let mut seen = false;
        while i < le && !self.overflow {
            let c = self.b()[i];
            in_quote = quote_step(self.b(), i, in_quote);
            if !in_quote {
                if c == b'[' {
                    if let Some(end) = cut_marker(self.b(), i, le) {
                        self.emit(sink, seg_start, i);
                        self.start_shot(None, i, end - i);
                        sink = Sink::Section(Section::Scene);
                        seg_start = end;
                        seen = true;
                        i = end;
                        continue;
                    }
                } else if c == b':' {
                    if let Some((ls, label)) = self.inline_label(seg_start, i, le) {
                        self.emit(sink, seg_start, ls);
                        sink = label.into();
                        seg_start = i + 1;
                        seen = true;
                    }
                }
            }
            i += 1;
        }
        self.emit(sink, seg_start, le);
        (sink, seen)
    }

    /// A known label ending at the colon `colon`, starting at a boundary.
    fn inline_label(&self, lo: usize, colon: usize, le: usize) -> Option<(usize, Label)> {
        let b = self.b();
        let next = colon + 1;
        if next < le && !(b[next] == b' ' || b[next] == b'\t' || b[next] == b'"' || b[next] >= 0x80)
        {
            return None;
        }
        let mut j = colon;
        while j > lo && b[j - 1] == b' ' {
            j -= 1;
        }
        let label_end = j;
        let mut k = j;
        let mut cands = [0usize; 3];
        let mut n = 0;
        loop {
            let we = k;
            while k > lo
                && (b[k - 1].is_ascii_lowercase() || b[k - 1] == b'-' || b[k - 1] == b'\'')
                && we - k <= 24
            {
                k -= 1;
            }
            if k == we || (k > lo && is_word_byte(b[k - 1])) {
                break;
            }
            cands[n] = k;
            n += 1;
            if n == 3 {
                break;
            }
            if k >= lo + 2 && b[k - 1] == b' ' && b[k - 2].is_ascii_lowercase() {
                k -= 1;
            } else {
                break;
            }
        }
        for idx in (0..n).rev() {
            let s = cands[idx];
            let name = sl(self.lower, s, label_end);
            let norm = name.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Some(l) = lookup_label(&norm) {
                if self.boundary_ok(lo, s) {
                    return Some((s, l));
                }
            }
        }
        None
    }

    fn boundary_ok(&self, lo: usize, s: usize) -> bool {
        let b = self.b();
        let mut k = s;
        while k > lo && b[k - 1].is_ascii_whitespace() {
            k -= 1;
        }
        if k == lo {
            return true;
        }
        if k == s {
            return false;
        }
        let prev = b[k - 1];
        matches!(
            prev,
            b'.' | b';' | b'!' | b'?' | b',' | b')' | b']' | b'"' | b'|' | 0x9D | 0xA6
        ) || self
            .src
            .as_bytes()
            .get(s)
            .is_some_and(|c| c.is_ascii_uppercase())
    }

    fn finish(mut self) -> Lexed {
        let shots = std::mem::take(&mut self.out.shots);
        let mut kept = Vec::with_capacity(shots.len());
        for blk in shots {
            if blk.pieces.is_empty() {
                let span = self.map.span(blk.origin, blk.origin + blk.origin_len);
                if blk.header.is_none() {
                    self.diags.push(
                        Diagnostic::warning(
                            "empty-shot",
                            span,
                            "nothing after this `[cut]`; no shot made",
                        )
                        .with_hint("remove the extra `[cut]` or describe the shot after it"),
                    );
                    continue;
                }
                self.diags.push(
                    Diagnostic::warning("empty-shot", span, "this shot describes nothing")
                        .with_hint("add a description after the `Shot N:` header"),
                );
            }
            kept.push(blk);
        }
        self.out.shots = kept;
        // Shot-level durations.
        let settings = std::mem::take(&mut self.out.settings);
        let mut global = Vec::with_capacity(settings.len());
        for s in settings {
            if let (SettingKey::Duration, Some(idx)) = (s.key, s.shot) {
                // Resolved by `settings::shot_duration`; keep it on the block.
                if let Some(blk) = self.out.shots.get_mut(idx) {
                    if let Standalone::Point(v) = time::standalone(self.lower, s.start, s.end) {
                        blk.duration = Some((v, (s.start, s.end)));
                        continue;
                    }
                }
            }
            global.push(s);
        }
        self.out.settings = global;
        if self.out.shots.is_empty() {
            let g = std::mem::take(&mut self.out.global);
            self.out.shots.push(g);
        }
        self.out
    }
}

fn cut_marker(b: &[u8], i: usize, le: usize) -> Option<usize> {
    let sp = |mut k: usize| {
        while k < le && b[k] == b' ' {
            k += 1;
        }
        k
    };
    let mut k = sp(i + 1);
    if k + 3 > le || &b[k..k + 3] != b"cut" {
        return None;
    }
    k = sp(k + 3);
    if k + 2 <= le && &b[k..k + 2] == b"to" {
        k = sp(k + 2);
    }
    (k < le && b[k] == b']').then_some(k + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_name_resolves() {
        for n in LABEL_NAMES {
            assert!(lookup_label(n).is_some(), "{n}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("scen"), Some("scene"));
        assert_eq!(suggest("cmaera"), Some("camera"));
        assert_eq!(suggest("stlye"), Some("style"));
        assert_eq!(suggest("durration"), Some("duration"));
        assert_eq!(suggest("banana"), None);
        assert_eq!(osa_distance("ab", "ba"), 1);
    }
}
