//! Word patterns and their matcher.
//!
//! A pattern is a whitespace-separated sequence of elements, matched against the words of
//! a prompt (see [`crate::text`]), so it always respects word boundaries:
//!
//! | element | matches |
//! |---|---|
//! | `kill` | a word with the same stem: `kill`, `kills`, `killed`, `killing` (not `killer`) |
//! | `=kid` | exactly this word (after lowercasing and folding), no inflections |
//! | `decapitat*` | any word starting with `decapitat` (prefix of 3+ characters) |
//! | `^trump` | the stem, and the word must be capitalised in the prompt (`Trump`, not `trump card`) |
//! | `kill\|murder\|stab` | any one of the alternatives (each alternative may itself use `=`, `^`, `*`) |
//! | `spider-man` | the word sequence `spider man`; `spiderman` written as one word also matches |
//! | `*` | any one word |
//! | `..` / `..N` | up to 3 / up to N (at most 8) words in between |
//! | `<name>` | two or three capitalised words (a person's name: `Joe Smith`) |
//! | `<minor-age>` | an age under 18: `12`, `twelve`, `12yo` |
//!
//! A pattern made only of plain words also matches those words written together
//! (`darth vader` matches `darthvader`).

use std::collections::HashMap;

use crate::text::{stem, tokenize, Token};

/// Largest `..N` gap.
const MAX_GAP: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Stem,
    Exact,
    Prefix,
    Capital,
}

#[derive(Debug, Clone, PartialEq)]
struct Word {
    mode: Mode,
    /// Normalised text as written in the pattern.
    text: String,
    /// What a prompt word is compared with: the stem (Stem, Capital) or the text.
    key: String,
}

impl Word {
    fn matches(&self, t: &Token) -> bool {
        match self.mode {
            Mode::Stem => t.stem == self.key || t.leet_stem.as_deref() == Some(&self.key),
            Mode::Capital => t.capitalized && t.stem == self.key,
            Mode::Exact => t.norm == self.key || t.leet.as_deref() == Some(&self.key),
            Mode::Prefix => {
                t.norm.starts_with(&self.key)
                    || t.leet.as_deref().is_some_and(|l| l.starts_with(&self.key))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Elem {
    /// Alternatives, each a sequence of words.
    Lit(Vec<Vec<Word>>),
    Any,
    Gap(usize),
    Name,
    /// A bare age under 18 (`12`, `twelve`).
    MinorAge,
    /// An age under 18 written with its unit in one word (`12yo`, `15yrs`).
    MinorAgeYo,
}

/// A compiled pattern: one or more element sequences, any of which may match.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    seqs: Vec<Vec<Elem>>,
}

fn parse_word(alt: &str) -> Result<Vec<Word>, String> {
    let (mode, body) = if let Some(b) = alt.strip_prefix('=') {
        (Mode::Exact, b)
    } else if let Some(b) = alt.strip_prefix('^') {
        (Mode::Capital, b)
    } else if let Some(b) = alt.strip_suffix('*') {
        (Mode::Prefix, b)
    } else {
        (Mode::Stem, alt)
    };
    if body.contains('*') || body.contains('=') || body.contains('^') {
        return Err(format!(
            "`{alt}`: `=` and `^` go before a word, `*` only at its end"
        ));
    }
    let toks = tokenize(body);
    if toks.is_empty() {
        return Err(format!("`{alt}` has no letters or digits"));
    }
    let n = toks.len();
    let mut words = Vec::with_capacity(n);
    for (i, t) in toks.into_iter().enumerate() {
        let last = i + 1 == n;
        let mode = match mode {
            // A prefix applies to the last word of a hyphenated alternative only.
            Mode::Prefix if !last => Mode::Stem,
            Mode::Capital if i > 0 => Mode::Stem,
            ref m => m.clone(),
        };
        if mode == Mode::Prefix && t.norm.chars().count() < 3 {
            return Err(format!(
                "`{alt}`: a prefix needs at least 3 characters before `*`"
            ));
        }
        let key = match mode {
            Mode::Stem | Mode::Capital => stem(&t.norm),
            Mode::Exact | Mode::Prefix => t.norm.clone(),
        };
        words.push(Word {
            mode,
            text: t.norm,
            key,
        });
    }
    Ok(words)
}

/// The words of a multi-word alternative written as one (`spider man` -> `spiderman`).
fn joined(words: &[Word]) -> Option<Word> {
    if words.len() < 2 || words.iter().any(|w| w.mode == Mode::Capital) {
        return None;
    }
    let text: String = words.iter().map(|w| w.text.as_str()).collect();
    let last = words.last()?;
    let (mode, key) = match last.mode {
        Mode::Prefix => (Mode::Prefix, text.clone()),
        Mode::Exact => (Mode::Exact, text.clone()),
        _ => (Mode::Stem, stem(&text)),
    };
    Some(Word { mode, text, key })
}

impl Pattern {
    /// Compiles a pattern (syntax in the module documentation).
    pub(crate) fn compile(src: &str) -> Result<Self, String> {
        let mut elems = Vec::new();
        for piece in src.split_whitespace() {
            let lower = piece.to_ascii_lowercase();
            let elem = if piece == "*" {
                Elem::Any
            } else if let Some(n) = piece.strip_prefix("..") {
                let n = if n.is_empty() {
                    3
                } else {
                    n.parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_GAP).contains(n))
                        .ok_or_else(|| {
                            format!("`{piece}`: a gap is `..` or `..N` with N from 1 to {MAX_GAP}")
                        })?
                };
                Elem::Gap(n)
            } else if lower == "<name>" {
                Elem::Name
            } else if lower == "<minor-age>" {
                Elem::MinorAge
            } else if lower == "<minor-age-yo>" {
                Elem::MinorAgeYo
            } else if piece.starts_with('<') {
                return Err(format!(
                    "unknown placeholder `{piece}` (known: `<name>`, `<minor-age>`, `<minor-age-yo>`)"
                ));
            } else {
                let mut alts = Vec::new();
                for alt in piece.split('|') {
                    if alt.is_empty() {
                        return Err(format!("`{piece}` has an empty alternative"));
                    }
                    let words = parse_word(alt)?;
                    if let Some(j) = joined(&words) {
                        alts.push(vec![j]);
                    }
                    alts.push(words);
                }
                Elem::Lit(alts)
            };
            elems.push(elem);
        }
        if elems.is_empty() {
            return Err("the pattern is empty".to_string());
        }
        if matches!(elems.first(), Some(Elem::Gap(_))) || matches!(elems.last(), Some(Elem::Gap(_)))
        {
            return Err("a pattern cannot start or end with a gap `..`".to_string());
        }
        if !elems.iter().any(|e| {
            matches!(
                e,
                Elem::Lit(_) | Elem::Name | Elem::MinorAge | Elem::MinorAgeYo
            )
        }) {
            return Err("a pattern needs at least one word or placeholder".to_string());
        }
        let mut seqs = vec![elems.clone()];
        // Plain single-alternative words also match written together.
        if elems.len() >= 2 {
            let mut words = Vec::new();
            let plain = elems.iter().all(|e| match e {
                Elem::Lit(alts) if alts.len() == 1 => {
                    words.extend(alts[0].iter().cloned());
                    true
                }
                _ => false,
            });
            if plain {
                if let Some(j) = joined(&words) {
                    seqs.push(vec![Elem::Lit(vec![vec![j]])]);
                }
            }
        }
        Ok(Self { seqs })
    }
}

const SMALL_NUMBERS: [&str; 18] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
];

/// An age under 18: a bare number or number word, or (`suffixed`) digits with a unit
/// (`12yo`).
fn is_minor_age(t: &Token, suffixed: bool) -> bool {
    let n = &t.norm;
    let digits = n.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits <= 2 {
        let rest = &n[digits..];
        let unit_ok = if suffixed {
            matches!(rest, "yo" | "y" | "yr" | "yrs" | "yro")
        } else {
            rest.is_empty()
        };
        let v: u32 = n[..digits].parse().unwrap_or(99);
        return unit_ok && (1..18).contains(&v);
    }
    !suffixed && SMALL_NUMBERS[1..].contains(&n.as_str())
}

/// First words of two-word capitalised sequences that are places, not people.
const NOT_A_NAME: [&str; 24] = [
    "new", "san", "santa", "los", "las", "el", "the", "mount", "lake", "saint", "st", "north",
    "south", "east", "west", "great", "united", "times", "central", "grand", "golden", "rocky",
    "hong", "buenos",
];

fn is_name_word(t: &Token) -> bool {
    t.capitalized && t.norm.chars().all(char::is_alphabetic)
}

fn match_seq(elems: &[Elem], toks: &[Token], i: usize, anchors: &mut Vec<usize>) -> Option<usize> {
    let Some((first, rest)) = elems.split_first() else {
        return Some(i);
    };
    match first {
        Elem::Lit(alts) => {
            for alt in alts {
                let n = alt.len();
                if i + n <= toks.len() && alt.iter().zip(&toks[i..i + n]).all(|(w, t)| w.matches(t))
                {
                    let mark = anchors.len();
                    anchors.extend(i..i + n);
                    if let Some(end) = match_seq(rest, toks, i + n, anchors) {
                        return Some(end);
                    }
                    anchors.truncate(mark);
                }
            }
            None
        }
        Elem::Any => {
            if i < toks.len() {
                match_seq(rest, toks, i + 1, anchors)
            } else {
                None
            }
        }
        Elem::Gap(n) => {
            for k in 0..=*n {
                if i + k > toks.len() {
                    break;
                }
                if let Some(end) = match_seq(rest, toks, i + k, anchors) {
                    return Some(end);
                }
            }
            None
        }
        Elem::Name => {
            if i >= toks.len() || NOT_A_NAME.contains(&toks[i].norm.as_str()) {
                return None;
            }
            let avail = toks[i..]
                .iter()
                .take(3)
                .take_while(|t| is_name_word(t))
                .count();
            for k in (2..=avail).rev() {
                let mark = anchors.len();
                anchors.extend(i..i + k);
                if let Some(end) = match_seq(rest, toks, i + k, anchors) {
                    return Some(end);
                }
                anchors.truncate(mark);
            }
            None
        }
        Elem::MinorAge | Elem::MinorAgeYo => {
            let suffixed = matches!(first, Elem::MinorAgeYo);
            if i < toks.len() && is_minor_age(&toks[i], suffixed) {
                let mark = anchors.len();
                anchors.push(i);
                if let Some(end) = match_seq(rest, toks, i + 1, anchors) {
                    return Some(end);
                }
                anchors.truncate(mark);
            }
            None
        }
    }
}

/// The first three characters of `s` (all of it when shorter).
fn prefix3(s: &str) -> &str {
    match s.char_indices().nth(3) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// One match of an indexed pattern.
#[derive(Debug, Clone)]
pub(crate) struct Match {
    /// The `id` the pattern was added with.
    pub id: usize,
    /// First word of the match.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// The words matched by literal elements and placeholders (not by `*` or gaps).
    pub anchors: Vec<usize>,
}

/// Many patterns, indexed by the words they can start with.
#[derive(Debug, Default, Clone)]
pub(crate) struct PatternSet {
    /// (id, sequence)
    seqs: Vec<(usize, Vec<Elem>)>,
    by_stem: HashMap<String, Vec<usize>>,
    by_exact: HashMap<String, Vec<usize>>,
    /// Sequences starting with a prefix word, by the prefix's first three characters.
    by_prefix: HashMap<String, Vec<usize>>,
    /// Sequences whose first element is a placeholder or `*`.
    general: Vec<usize>,
}

impl PatternSet {
    pub(crate) fn add(&mut self, id: usize, pattern: &Pattern) {
        for seq in &pattern.seqs {
            let k = self.seqs.len();
            self.seqs.push((id, seq.clone()));
            match seq.first() {
                Some(Elem::Lit(alts)) => {
                    for a in alts {
                        let (map, key) = match a[0].mode {
                            Mode::Exact => (&mut self.by_exact, a[0].key.clone()),
                            Mode::Stem | Mode::Capital => (&mut self.by_stem, a[0].key.clone()),
                            Mode::Prefix => (&mut self.by_prefix, prefix3(&a[0].key).to_string()),
                        };
                        let v = map.entry(key).or_default();
                        if v.last() != Some(&k) {
                            v.push(k);
                        }
                    }
                }
                _ => self.general.push(k),
            }
        }
    }

    /// Every match, at most one per (pattern sequence, start word): the shortest.
    pub(crate) fn find_all(&self, toks: &[Token]) -> Vec<Match> {
        let mut out = Vec::new();
        let mut cands: Vec<usize> = Vec::new();
        let mut anchors = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            cands.clear();
            let mut add = |v: Option<&Vec<usize>>| {
                if let Some(v) = v {
                    cands.extend_from_slice(v);
                }
            };
            add(self.by_stem.get(&t.stem));
            add(self.by_exact.get(&t.norm));
            if let Some(l) = &t.leet_stem {
                add(self.by_stem.get(l));
            }
            add(self.by_prefix.get(prefix3(&t.norm)));
            if let Some(l) = &t.leet {
                add(self.by_exact.get(l));
                add(self.by_prefix.get(prefix3(l)));
            }
            cands.extend_from_slice(&self.general);
            cands.sort_unstable();
            cands.dedup();
            for &k in &cands {
                let (id, seq) = &self.seqs[k];
                anchors.clear();
                if let Some(end) = match_seq(seq, toks, i, &mut anchors) {
                    out.push(Match {
                        id: *id,
                        start: i,
                        end,
                        anchors: anchors.clone(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(pattern: &str, text: &str) -> Vec<(usize, usize)> {
        let p = Pattern::compile(pattern).unwrap();
        let mut set = PatternSet::default();
        set.add(0, &p);
        let toks = tokenize(text);
        set.find_all(&toks)
            .into_iter()
            .map(|m| (toks[m.start].start, toks[m.end - 1].end))
            .collect()
    }

    #[test]
    fn words_and_inflections() {
        assert_eq!(
            hits("kill", "he kills, killed, killing"),
            [(3, 8), (10, 16), (18, 25)]
        );
        assert!(hits("kill", "a killer app").is_empty());
        assert!(hits("=kid", "the kids").is_empty());
        assert_eq!(hits("=kid", "a kid"), [(2, 5)]);
        assert_eq!(hits("decapitat*", "Decapitated"), [(0, 11)]);
        assert!(hits("^trump", "a trump card").is_empty());
        assert_eq!(hits("^trump", "Trump waves"), [(0, 5)]);
    }

    #[test]
    fn hyphens_and_joined_words() {
        for t in [
            "Spider-Man swings",
            "spider man swings",
            "Spiderman swings",
            "SPIDER MAN",
        ] {
            assert_eq!(hits("spider-man", t).len(), 1, "{t}");
            assert_eq!(hits("spider man", t).len(), 1, "{t}");
        }
        assert_eq!(hits("darth vader", "DarthVader").len(), 1);
    }

    #[test]
    fn gaps_names_ages() {
        assert_eq!(hits("cut .. wrist", "cut both of her wrists").len(), 1);
        assert!(hits("cut .. wrist", "cut the onion for a wrist").is_empty());
        assert_eq!(
            hits("footage of <name>", "real footage of Joe Smith talking").len(),
            1
        );
        assert!(hits("footage of <name>", "footage of New York").is_empty());
        assert!(hits("footage of <name>", "footage of a cat").is_empty());
        assert_eq!(hits("<minor-age> year old", "a 12-year-old").len(), 1);
        assert_eq!(hits("<minor-age> year old", "a twelve year old").len(), 1);
        assert!(hits("<minor-age> year old", "a 30 year old").is_empty());
        assert_eq!(hits("<minor-age-yo>", "she is 15yo").len(), 1);
        assert!(hits("<minor-age-yo>", "she is 15").is_empty());
        assert!(hits("<minor-age>", "she is 15yo").is_empty());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for p in [
            "", "..", ".. kill", "kill ..", "*", "ab*", "k*ll", "<foo>", "a||b", "..99 x",
        ] {
            assert!(Pattern::compile(p).is_err(), "{p}");
        }
    }
}
