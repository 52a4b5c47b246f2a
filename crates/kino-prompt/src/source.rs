//! Byte offsets → line:col spans, and small total text helpers.
//!
//! All scanning in this crate works on byte offsets into the prompt and an
//! ASCII-lowercased copy of it (same byte offsets). Offsets are only ever
//! placed next to ASCII bytes or at char boundaries found with `char_indices`,
//! and every slice goes through [`sl`], which returns `""` instead of
//! panicking if that rule were ever broken.

use crate::plan::Span;

/// Maps byte offsets of the prompt to 1-based line and character column.
pub(crate) struct SourceMap {
    /// Character index of the char containing each byte (len + 1 entries).
    char_idx: Vec<u32>,
    /// 1-based line of each byte (len + 1 entries).
    line_of: Vec<u32>,
    /// Character index at which each line starts (index = line - 1).
    line_start_char: Vec<u32>,
}

impl SourceMap {
    pub(crate) fn new(src: &str) -> Self {
        let n = src.len();
        let mut char_idx = vec![0u32; n + 1];
        let mut line_of = vec![1u32; n + 1];
        let mut line_start_char = vec![0u32];
        let mut line = 1u32;
        let mut ci = 0u32;
        for (i, c) in src.char_indices() {
            let end = i + c.len_utf8();
            for j in i..end.min(n) {
                char_idx[j] = ci;
                line_of[j] = line;
            }
            ci += 1;
            if c == '\n' {
                line += 1;
                line_start_char.push(ci);
            }
        }
        char_idx[n] = ci;
        line_of[n] = line;
        SourceMap {
            char_idx,
            line_of,
            line_start_char,
        }
    }

    fn at(&self, byte: usize) -> (u32, u32, u32) {
        let b = byte.min(self.char_idx.len() - 1);
        let ci = self.char_idx[b];
        let line = self.line_of[b];
        let ls = self
            .line_start_char
            .get(line as usize - 1)
            .copied()
            .unwrap_or(0);
        (line, ci.saturating_sub(ls) + 1, ci)
    }

    /// Span of the bytes `a..b`.
    pub(crate) fn span(&self, a: usize, b: usize) -> Span {
        let (line, col, ca) = self.at(a);
        let (_, _, cb) = self.at(b.max(a));
        Span {
            line,
            col,
            len: cb.saturating_sub(ca),
        }
    }

    /// Span of the character at the given character index (0-based).
    pub(crate) fn span_of_char_index(&self, char_index: u32) -> Span {
        // Binary search the byte whose char index is `char_index`.
        let idx = self.char_idx.partition_point(|&c| c < char_index);
        let (line, col, _) = self.at(idx);
        Span { line, col, len: 1 }
    }
}

/// Total slice: `""` when `a..b` is not a valid char range of `s`.
pub(crate) fn sl(s: &str, a: usize, b: usize) -> &str {
    s.get(a..b).unwrap_or("")
}

/// Shrink `a..b` so that it starts and ends with a non-whitespace char.
pub(crate) fn trim(src: &str, a: usize, b: usize) -> (usize, usize) {
    trim_by(src, a, b, char::is_whitespace)
}

/// Shrink `a..b` past leading/trailing chars for which `f` is true.
pub(crate) fn trim_by(src: &str, a: usize, b: usize, f: impl Fn(char) -> bool) -> (usize, usize) {
    let s = sl(src, a, b);
    let t = s.trim_start_matches(&f);
    let a2 = a + (s.len() - t.len());
    let t2 = t.trim_end_matches(&f);
    (a2, a2 + t2.len())
}

/// Chars trimmed off item edges: whitespace and list punctuation.
pub(crate) fn is_edge_punct(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '–' | '—' | '•' | '*' | '·')
}

/// Bytes that belong to words: ASCII alphanumerics and all non-ASCII bytes
/// (so multi-byte chars are never split and never match an ASCII keyword).
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Byte ranges of the words in `a..b` (maximal runs of word bytes).
pub(crate) fn words(lower: &str, a: usize, b: usize) -> Vec<(usize, usize)> {
    let bytes = lower.as_bytes();
    let b = b.min(bytes.len());
    let mut out = Vec::new();
    let mut i = a;
    while i < b {
        if is_word_byte(bytes[i]) {
            let s = i;
            while i < b && is_word_byte(bytes[i]) {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Quote state tracking over bytes: ASCII `"` toggles, curly quotes open/close.
pub(crate) fn quote_step(bytes: &[u8], i: usize, in_quote: bool) -> bool {
    match bytes.get(i) {
        Some(b'"') => !in_quote,
        Some(0xE2) if bytes.get(i + 1) == Some(&0x80) => match bytes.get(i + 2) {
            Some(0x9C) => true,
            Some(0x9D) => false,
            _ => in_quote,
        },
        _ => in_quote,
    }
}

/// Split `a..b` at the given ASCII delimiter bytes (and newlines), outside
/// quotes, never at a `.` or `,` between two digits. Returns trimmed,
/// non-empty ranges.
pub(crate) fn split_items(src: &str, a: usize, b: usize, delims: &[u8]) -> Vec<(usize, usize)> {
    let bytes = src.as_bytes();
    let b = b.min(bytes.len());
    let mut out = Vec::new();
    let mut start = a;
    let mut in_quote = false;
    let mut i = a;
    while i < b {
        let c = bytes[i];
        in_quote = quote_step(bytes, i, in_quote);
        let is_delim = c == b'\n'
            || (!in_quote
                && delims.contains(&c)
                && !((c == b'.' || c == b',')
                    && i > a
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(|n| n.is_ascii_digit())));
        if is_delim {
            push_trimmed(src, start, i, &mut out);
            start = i + 1;
        }
        i += 1;
    }
    push_trimmed(src, start, b, &mut out);
    out
}

fn push_trimmed(src: &str, a: usize, b: usize, out: &mut Vec<(usize, usize)>) {
    let (x, y) = trim_by(src, a, b, is_edge_punct);
    if x < y {
        out.push((x, y));
    }
}

/// Collapse runs of whitespace into one space.
pub(crate) fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Uppercase the first character.
pub(crate) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
