//! Words of a prompt with their byte spans, normalised for matching.
//!
//! Normalisation: lowercase, Latin accents folded (`Pokémon` -> `pokemon`), fullwidth
//! forms mapped to ASCII, zero-width characters and apostrophes dropped inside a word,
//! Cyrillic/Greek look-alike letters mapped to Latin inside mixed-script words, and a
//! second "de-leeted" form (`p0rn` -> `porn`, `n@ked` -> `naked`). Runs of three or more
//! single letters (`n a k e d`, `s.e.x`) are joined into one word.
//!
//! Spans are byte offsets into the original text, always on `char` boundaries.

/// One word of the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// Byte offset of the first byte of the word in the input.
    pub start: usize,
    /// Byte offset one past the last byte of the word in the input.
    pub end: usize,
    /// Normalised form (lowercase, folded).
    pub norm: String,
    /// An alternative form, when it differs from `norm`: the de-leeted word, or a
    /// spelled-out word without a leading article.
    pub leet: Option<String>,
    /// Stem of `norm` (see [`stem`]).
    pub stem: String,
    /// Stem of `leet`, when there is one.
    pub leet_stem: Option<String>,
    /// The word starts with an uppercase letter in the input.
    pub capitalized: bool,
}

impl Token {
    fn new(start: usize, end: usize, norm: String, capitalized: bool) -> Self {
        let leet = deleet(&norm);
        let leet_stem = leet.as_deref().map(stem);
        Self {
            start,
            end,
            stem: stem(&norm),
            norm,
            leet,
            leet_stem,
            capitalized,
        }
    }
}

fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

fn is_leet_symbol(c: char) -> bool {
    matches!(c, '@' | '$')
}

/// Splits `text` into words. Never panics; linear in the input length.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut raw: Vec<Token> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut cur: Option<(usize, usize, String, bool, bool)> = None; // start, end, norm, cap, has_alnum
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let in_word = cur.is_some();
        let next_alnum = next.is_some_and(char::is_alphanumeric);
        let word_char = c.is_alphanumeric()
            || (in_word && (is_zero_width(c) || (is_apostrophe(c) && next_alnum)))
            || (is_leet_symbol(c)
                && (in_word || next.is_some_and(char::is_alphabetic))
                && (next_alnum || in_word));
        if word_char {
            let end = i + c.len_utf8();
            let entry = cur.get_or_insert_with(|| (i, end, String::new(), c.is_uppercase(), false));
            entry.1 = end;
            if c.is_alphanumeric() {
                entry.4 = true;
            }
            push_normalised(&mut entry.2, c);
        } else if let Some((s, e, norm, cap, alnum)) = cur.take() {
            if alnum && !norm.is_empty() {
                raw.push(Token::new(s, e, fix_script(norm), cap));
            }
        }
    }
    if let Some((s, e, norm, cap, alnum)) = cur.take() {
        if alnum && !norm.is_empty() {
            raw.push(Token::new(s, e, fix_script(norm), cap));
        }
    }
    join_spelled_out(text, raw)
}

/// Appends the normalised form of `c` to `out`.
fn push_normalised(out: &mut String, c: char) {
    if is_zero_width(c) || is_apostrophe(c) {
        return;
    }
    // Fullwidth ASCII forms.
    let c = if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
    } else {
        c
    };
    for l in c.to_lowercase() {
        match fold_latin(l) {
            Some(s) => out.push_str(s),
            None => out.push(l),
        }
    }
}

fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => return None,
    })
}

/// Cyrillic and Greek letters that look like Latin ones.
fn confusable(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ς' => 'c',
        'е' | 'ε' => 'e',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'н' | 'η' => 'n',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'у' | 'υ' => 'y',
        'х' | 'χ' => 'x',
        _ => return None,
    })
}

/// Maps look-alike letters to Latin in words that mix Latin with Cyrillic or Greek
/// (`pоrn` with a Cyrillic `о`); words wholly in one script are left alone.
fn fix_script(norm: String) -> String {
    let has_latin = norm.chars().any(|c| c.is_ascii_alphabetic());
    let has_confusable = norm.chars().any(|c| confusable(c).is_some());
    if has_latin && has_confusable {
        norm.chars().map(|c| confusable(c).unwrap_or(c)).collect()
    } else {
        norm
    }
}

/// The de-leeted form of a word that mixes letters with digits or `@`/`$`.
fn deleet(norm: &str) -> Option<String> {
    let has_alpha = norm.chars().any(char::is_alphabetic);
    let has_leet = norm
        .chars()
        .any(|c| matches!(c, '0' | '1' | '3' | '4' | '5' | '7' | '@' | '$'));
    if !has_alpha || !has_leet {
        // Symbols alone (a word of only `@`) or a plain word.
        if norm.contains(['@', '$']) {
            return Some(norm.replace('@', "a").replace('$', "s"));
        }
        return None;
    }
    Some(
        norm.chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                c => c,
            })
            .collect(),
    )
}

/// Joins runs of three or more one-letter words separated by at most two spacing or
/// punctuation characters (`n a k e d`, `s.e.x`, `p-o-r-n`) into one word.
fn join_spelled_out(text: &str, tokens: Vec<Token>) -> Vec<Token> {
    let single = |t: &Token| t.norm.chars().count() == 1 && t.norm.chars().all(char::is_alphabetic);
    let close = |a: &Token, b: &Token| {
        let gap = text.get(a.end..b.start).unwrap_or("");
        gap.chars().count() <= 2
            && gap
                .chars()
                .all(|c| c.is_whitespace() || matches!(c, '.' | '-' | '_' | '*' | '/' | '+'))
    };
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if single(&tokens[i]) {
            let mut j = i + 1;
            while j < tokens.len() && single(&tokens[j]) && close(&tokens[j - 1], &tokens[j]) {
                j += 1;
            }
            if j - i >= 3 {
                let norm: String = tokens[i..j].iter().map(|t| t.norm.as_str()).collect();
                let mut t = Token::new(
                    tokens[i].start,
                    tokens[j - 1].end,
                    norm,
                    tokens[i].capitalized,
                );
                // `a n a k e d`: the first letter may be the article (or `I`); the
                // alternative form drops it.
                if j - i >= 4 && matches!(tokens[i].norm.as_str(), "a" | "i") && t.leet.is_none() {
                    let rest = t.norm[1..].to_string();
                    t.leet_stem = Some(stem(&rest));
                    t.leet = Some(rest);
                }
                out.push(t);
                i = j;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

fn undouble(w: &mut String) {
    let b = w.as_bytes();
    let n = b.len();
    if n >= 3
        && b[n - 1] == b[n - 2]
        && matches!(
            b[n - 1],
            b'b' | b'd' | b'g' | b'm' | b'n' | b'p' | b'r' | b't'
        )
    {
        w.pop();
    }
}

/// A light English stemmer: one inflectional suffix (`-s`, `-es`, `-ies`, `-ed`, `-ing`)
/// removed, a final `e` dropped, a doubled final consonant undoubled. `kills`, `killed`,
/// `killing` -> `kill`; `stabbed` -> `stab`; `bodies` -> `body`; `nude`, `nudes` -> `nud`.
/// Words of three bytes or fewer and non-ASCII words are returned unchanged.
pub(crate) fn stem(word: &str) -> String {
    if word.len() <= 3 || !word.is_ascii() {
        return word.to_string();
    }
    let has_vowel = |s: &str| s.bytes().any(|b| b"aeiouy".contains(&b));
    let mut w = word.to_string();
    if let Some(base) = w.strip_suffix("ies") {
        if base.len() >= 2 {
            w = format!("{base}y");
        } else {
            w.pop();
        }
    } else if let Some(base) = w.strip_suffix("ied") {
        if base.len() >= 2 {
            w = format!("{base}y");
        }
    } else if ["sses", "ches", "shes", "xes", "zes"]
        .iter()
        .any(|suffix| w.ends_with(suffix))
    {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w.pop();
    } else if let Some(base) = w.strip_suffix("ing") {
        if base.len() >= 3 && has_vowel(base) {
            w = base.to_string();
            undouble(&mut w);
        }
    } else if let Some(base) = w.strip_suffix("ed") {
        if base.len() >= 3 && has_vowel(base) && !base.ends_with('e') {
            w = base.to_string();
            undouble(&mut w);
        }
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norms(t: &str) -> Vec<String> {
        tokenize(t).into_iter().map(|t| t.norm).collect()
    }

    #[test]
    fn spans_are_byte_offsets() {
        let text = "Ünïcode 🎬 naïve—Pokémon's café";
        for t in tokenize(text) {
            assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
        }
        assert_eq!(norms(text), ["unicode", "naive", "pokemons", "cafe"]);
        let toks = tokenize(text);
        assert_eq!(&text[toks[2].start..toks[2].end], "Pokémon's");
    }

    #[test]
    fn evasions_normalise() {
        assert_eq!(norms("n a k e d"), ["naked"]);
        assert_eq!(norms("s.e.x scene"), ["sex", "scene"]);
        let t = tokenize("p0rn n@ked");
        assert_eq!(t[0].leet.as_deref(), Some("porn"));
        assert_eq!(t[1].leet.as_deref(), Some("naked"));
        assert_eq!(norms("na\u{200B}ked"), ["naked"]);
        assert_eq!(norms("ｎａｋｅｄ"), ["naked"]);
        // Cyrillic о inside a Latin word.
        assert_eq!(norms("p\u{043E}rn"), ["porn"]);
        // A wholly Cyrillic word is left alone.
        assert_eq!(norms("собака"), ["собака"]);
        // Two single letters are not joined.
        assert_eq!(norms("a t-shirt"), ["a", "t", "shirt"]);
    }

    #[test]
    fn stems() {
        for (w, s) in [
            ("kills", "kill"),
            ("killed", "kill"),
            ("killing", "kill"),
            ("stabbed", "stab"),
            ("stabbing", "stab"),
            ("bodies", "body"),
            ("nudes", "nud"),
            ("nude", "nud"),
            ("naked", "nak"),
            ("dies", "die"),
            ("dying", "dying"),
            ("bleeding", "bleed"),
            ("bleed", "bleed"),
            ("kisses", "kiss"),
            ("punches", "punch"),
            ("wrists", "wrist"),
            ("this", "this"),
            ("bus", "bus"),
            ("cutting", "cut"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }
}
