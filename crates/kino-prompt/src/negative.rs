//! Negatives: "no close-ups", "without product logos", "avoid lens flares".

use crate::source::sl;

const LEADS: &[&str] = &[
    "don't show ",
    "do not show ",
    "don’t show ",
    "don't include ",
    "do not include ",
    "don’t include ",
    "never show ",
    "don't ",
    "don’t ",
    "do not ",
    "without ",
    "avoiding ",
    "avoid ",
    "excluding ",
    "exclude ",
    "no ",
];

/// After "no ", these do not make a negative ("no one", "no longer").
const NOT_AFTER_NO: &[&str] = &[
    "one ",
    "one",
    "longer",
    "matter",
    "more than",
    "less than",
    "doubt",
    "sooner",
    "way ",
];

/// If `lower[a..b]` starts with a negation, the byte where what is negated starts.
pub(crate) fn lead(lower: &str, a: usize, b: usize) -> Option<usize> {
    let s = sl(lower, a, b);
    for l in LEADS {
        if let Some(rest) = s.strip_prefix(l) {
            if *l == "no " && NOT_AFTER_NO.iter().any(|x| rest.starts_with(x)) {
                return None;
            }
            let trimmed = rest.trim_start();
            if trimmed.is_empty() {
                return None;
            }
            return Some(b - trimmed.len());
        }
    }
    None
}

/// Where a clause switches to a negation mid-way: "a street without cars" →
/// (end of "a street", start of "cars").
pub(crate) fn split_mid(lower: &str, a: usize, b: usize) -> Option<(usize, usize)> {
    let s = sl(lower, a, b);
    if !s.contains(" with") {
        return None;
    }
    for pat in [" without ", " with no "] {
        if let Some(p) = s.find(pat) {
            let tail = a + p + pat.len();
            if tail < b {
                return Some((a + p, tail));
            }
        }
    }
    None
}

/// Strip an optional negation lead (inside a `Negative:` section).
pub(crate) fn strip_lead(lower: &str, a: usize, b: usize) -> usize {
    lead(lower, a, b).unwrap_or(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leads() {
        let s = "no close-ups";
        assert_eq!(lead(s, 0, s.len()), Some(3));
        let s = "without product logos";
        assert_eq!(lead(s, 0, s.len()), Some(8));
        let s = "no one is there";
        assert_eq!(lead(s, 0, s.len()), None);
        let s = "a street without cars";
        assert_eq!(split_mid(s, 0, s.len()), Some((8, 17)));
    }
}
