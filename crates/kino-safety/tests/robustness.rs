//! No panics and valid spans on any input: random bytes, random mixes of policy words,
//! and 100 KB prompts.

use std::time::Instant;

use kino_safety::{Policy, Verdict};

/// xorshift64*: a small deterministic generator, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn check_spans(policy: &Policy, prompt: &str) {
    let all = policy.check_all(prompt).expect("rules never fail");
    for r in all {
        let (s, e) = r.span;
        assert!(s < e && e <= prompt.len(), "{:?} in {prompt:?}", r.span);
        assert!(prompt.is_char_boundary(s) && prompt.is_char_boundary(e));
        assert_eq!(&prompt[s..e], r.matched_text);
    }
    if let Verdict::Refused(r) = policy.check(prompt) {
        assert_eq!(&prompt[r.span.0..r.span.1], r.matched_text);
    }
}

#[test]
fn random_bytes_never_panic() {
    let policy = Policy::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        check_spans(&policy, &text);
    }
}

#[test]
fn random_mixes_of_policy_words_never_panic() {
    let policy = Policy::default();
    let words = [
        "naked",
        "n",
        "a",
        "k",
        "e",
        "d",
        "child",
        "12",
        "year",
        "old",
        "kill",
        "him",
        "ISIS",
        "recruit",
        "Darth",
        "Vader",
        "spider-man",
        "Barack",
        "Obama",
        "real",
        "footage",
        "of",
        "Joe",
        "Smith",
        "suicide",
        "doors",
        "the",
        "bomb",
        "shoot",
        "photo",
        "p0rn",
        "n@ked",
        "💃",
        "Pokémon",
        "ｎａｋｅｄ",
        "na\u{200B}ked",
        "'",
        "’s",
        "-",
        ".",
        "..",
        "@",
        "$",
        "\u{0301}",
        "İ",
        "ß",
        "ﬁ",
        "\n",
        "\t",
        "Ω",
        "кот",
        "日本",
        "é",
        "12yo",
        "<name>",
        "*",
    ];
    let seps = [" ", "", "-", ". ", ", ", "\n", "  ", "’", "@"];
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let n = rng.below(40);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(words[rng.below(words.len())]);
            s.push_str(seps[rng.below(seps.len())]);
        }
        check_spans(&policy, &s);
    }
}

#[test]
fn hundred_kilobyte_prompts() {
    let policy = Policy::default();
    let benign =
        "A red ball falls onto a wooden floor at dusk and bounces twice, camera pans left. ";
    let mut long = String::new();
    while long.len() < 100_000 {
        long.push_str(benign);
    }
    let t = Instant::now();
    assert!(policy.check(&long).is_allowed());
    let mut bad = long.clone();
    bad.push_str("Then Darth Vader walks in.");
    let Verdict::Refused(r) = policy.check(&bad) else {
        panic!("the term at the end of a long prompt is missed")
    };
    assert_eq!(r.matched_text, "Darth Vader");
    assert_eq!(r.span.0, bad.find("Darth").unwrap());

    // Pathological inputs: one huge word, all single letters, all punctuation, the same
    // blocked word 10 000 times, deep Unicode.
    let cases = [
        "x".repeat(100_000),
        "a ".repeat(50_000),
        ".".repeat(100_000),
        "naked ".repeat(17_000),
        "kill him ".repeat(11_000),
        "é🎬".repeat(16_000),
        "n a k e d ".repeat(10_000),
    ];
    for c in &cases {
        check_spans(&policy, c);
    }
    // Generous bound for a debug build on a shared machine; release takes a few ms.
    assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
}
