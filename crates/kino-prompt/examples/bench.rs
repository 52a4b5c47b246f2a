//! Time parsing of large prompts: `cargo run --release --example bench`.
use std::time::Instant;

fn main() {
    let para = "Shot 1 (0:00-0:02): Scene: A young girl releases a lantern by a riverside at dusk, no people. \
Camera: Slow push-in, 50mm depth-of-field, hand-held feel. Motion: Hair gently moves; lantern rises at 0:01. \
Audio: Crickets in the background, soft water splash at 0:01.5, wind chime. Style: Soft lighting, warm tones, \
no grain, subtle vignette. Dialogue: MAYA: \"We made it.\" (at 00:01) 日本語 🎬 [cut] ";
    let mut big = String::new();
    while big.chars().count() + para.chars().count() <= kino_prompt::MAX_PROMPT_CHARS {
        big.push_str(para);
        big.push('\n');
    }
    let n = kino_prompt::MAX_PROMPT_CHARS;
    let cases = vec![
        ("realistic multi-shot", big),
        (
            "prose",
            "A forest in autumn, golden light, rustling leaves. ".repeat(n / 52),
        ),
        ("colons", ":".repeat(n)),
        ("a:", "a:".repeat(n / 2)),
        ("Scene:", "Scene: ".repeat(n / 7)),
        ("cuts", "[cut]x".repeat(n / 6)),
        ("quotes", "\"".repeat(n)),
        ("0:", "0:".repeat(n / 2)),
        ("no", "no ".repeat(n / 3)),
        ("Shot headers", "Shot 1:\n".repeat(n / 8)),
        ("16:9", "16:9 ".repeat(n / 5)),
        ("cjk", "日".repeat(n)),
        (
            "global audio x shots",
            "Audio: a, b, c, d, e, f\nShot 1: x\n".repeat(n / 36),
        ),
    ];
    for (name, s) in cases {
        let mut times = Vec::new();
        let mut ok = false;
        for _ in 0..7 {
            let t = Instant::now();
            ok = kino_prompt::parse(&s).is_ok();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<24} {:>6} chars  first {first:>7.3} ms  median {:>7.3} ms  max {:>7.3} ms  ok={ok}",
            s.chars().count(),
            times[3],
            times[6]
        );
    }
}
