//! Every validation error and its place, code and hint.

use kino_prompt::*;

fn errors(src: &str) -> PromptErrors {
    match parse(src) {
        Ok(p) => panic!("expected errors for {src:?}, got {:#?}", p.plan),
        Err(e) => e,
    }
}

fn only(src: &str, code: &str) -> Diagnostic {
    let e = errors(src);
    assert_eq!(e.errors.len(), 1, "{e}");
    let d = e.errors[0].clone();
    assert_eq!(d.code, code, "{e}");
    assert_eq!(d.severity, Severity::Error);
    d
}

#[test]
fn empty_prompt() {
    for src in ["", "   ", "\n\n\t \r\n", "\0\0\0", "\u{1b}\u{7f} \0"] {
        let d = only(src, "empty-prompt");
        assert_eq!(d.span, Span::new(1, 1, 0));
        assert!(d.hint.is_some());
    }
    // Settings alone describe nothing.
    let d = only("Duration: 8s\nSeed: 3", "empty-prompt");
    assert!(d.message.contains("only settings"));
}

#[test]
fn prompt_over_32000_characters() {
    let ok = "é".repeat(MAX_PROMPT_CHARS);
    assert!(
        parse(&ok).is_ok(),
        "exactly the limit is fine (counted in characters, not bytes)"
    );
    let src = format!("{}\n{}", "a".repeat(31_990), "b".repeat(20));
    let d = only(&src, "prompt-too-long");
    // Character 32 001 is on line 2, column 10.
    assert_eq!(d.span, Span::new(2, 10, 11));
    assert_eq!(d.hint.as_deref(), Some("shorten it by 11 characters"));
}

#[test]
fn unknown_section_suggests_the_nearest() {
    let d = only("Scen: A girl by a river.", "unknown-section");
    assert_eq!(d.span, Span::new(1, 1, 4));
    assert_eq!(d.hint.as_deref(), Some("did you mean `Scene:`?"));
    assert_eq!(
        d.to_string(),
        "1:1: error[unknown-section]: unknown section `Scen:`\n  hint: did you mean `Scene:`?"
    );
    let d = only("A girl.\nCmaera: pan left", "unknown-section");
    assert_eq!(d.span, Span::new(2, 1, 6));
    assert_eq!(d.hint.as_deref(), Some("did you mean `Camera:`?"));
    let d = only("A girl.\n  - Durration: 8s", "unknown-section");
    assert_eq!(d.span, Span::new(2, 5, 9));
    assert_eq!(d.hint.as_deref(), Some("did you mean `Duration:`?"));
    let d = only("A girl.\nNegativ: blur", "unknown-section");
    assert_eq!(d.hint.as_deref(), Some("did you mean `Negative:`?"));
}

#[test]
fn malformed_times() {
    let d = only("Audio: bang at 0:75", "malformed-time");
    assert_eq!(d.span, Span::new(1, 16, 4));
    assert!(d.hint.as_deref().unwrap().contains("`1:15`"), "{d}");
    let d = only("Audio: bang at 00:5", "malformed-time");
    assert!(d.hint.as_deref().unwrap().contains("`0:05`"), "{d}");
    let d = only("Motion: she jumps at 1:2:3:4", "malformed-time");
    assert_eq!(d.span.col, 22);
    let d = only("Shot 1 (0:00-0:4): a boat", "malformed-time");
    assert_eq!(d.span, Span::new(1, 9, 8));
    let d = only("Duration: 0:7\nA boat.", "malformed-time");
    assert_eq!(d.span, Span::new(1, 11, 3));
}

#[test]
fn cue_beyond_clip_end() {
    let e = errors("Duration: 8s\nA street.\nAudio: door slam at 00:09, siren from 0:06 to 0:10");
    assert_eq!(e.errors.len(), 2, "{e}");
    let d = &e.errors[0];
    assert_eq!(d.code, "cue-beyond-end");
    assert_eq!(d.span, Span::new(3, 21, 5));
    assert_eq!(
        d.to_string(),
        "3:21: error[cue-beyond-end]: cue at 9.0 s is beyond the clip end (8.0 s)\n  \
         hint: the clip is 8.0 s long; set `Duration: 10s` or move it before 0:08"
    );
    assert_eq!(
        e.errors[1].message,
        "cue at 6.0–10.0 s is beyond the clip end (8.0 s)"
    );
    // Dialogue and motion times are checked too.
    let d = only("A street.\nMAYA: \"Hi\" (at 0:05)", "cue-beyond-end");
    assert!(d.message.starts_with("dialogue line at 5.0 s"));
    let d = only("Motion: a bird lands at 0:04", "cue-beyond-end");
    assert!(d.message.starts_with("motion at 4.0 s"));
}

#[test]
fn overlapping_shot_ranges() {
    let d = only(
        "Shot 1 (0:00-0:05): a\nShot 2 (0:04-0:08): b",
        "overlapping-shots",
    );
    assert_eq!(d.span, Span::new(2, 9, 9));
    assert_eq!(
        d.message,
        "shot 2 starts at 4.0 s but shot 1 runs until 5.0 s"
    );
    assert_eq!(d.hint.as_deref(), Some("start shot 2 at 0:05 or later"));
}

#[test]
fn shot_timing_errors() {
    let d = only("Duration: 4s\nShot 1 (0:00-0:06): a", "shot-beyond-end");
    assert!(d.hint.as_deref().unwrap().contains("Duration: 6s"));
    let d = only("Shot 1 (0:05-0:02): a", "invalid-range");
    assert_eq!(d.span, Span::new(1, 9, 9));
    let d = only(
        "Duration: 4s\nShot 1 (4s): a\nShot 2: b",
        "no-time-for-shot",
    );
    assert_eq!(d.span.line, 3);
    let d = only("Audio: music from 00:04 to 00:02", "invalid-range");
    assert_eq!(d.span, Span::new(1, 19, 14));
    let many: String = (0..300).map(|i| format!("shot {i} [cut] ")).collect();
    let e = errors(&many);
    assert!(e.has("too-many-shots"), "{e}");
}

#[test]
fn invalid_settings() {
    let d = only("Size: 1281x720\nA boat.", "invalid-setting");
    assert_eq!(d.span, Span::new(1, 7, 8));
    assert!(d.hint.as_deref().unwrap().contains("1282x720"));
    only("FPS: fast\nA boat.", "invalid-setting");
    only("Seed: -1\nA boat.", "invalid-setting");
    only("Aspect: wide\nA boat.", "invalid-setting");
    only("Duration: 0s\nA boat.", "invalid-setting");
    let r = parse("Seed: 1\nSeed: 2\nA boat.").unwrap();
    assert_eq!(r.warnings[0].code, "duplicate-setting");
    assert_eq!(r.plan.clip.seed, Some(2));
    let r = parse("Size: 1280x720\nAspect: 9:16\nA boat.").unwrap();
    assert_eq!(r.warnings[0].code, "aspect-mismatch");
    assert_eq!((r.plan.clip.width, r.plan.clip.height), (1280, 720));
}

#[test]
fn all_errors_are_reported_together_in_source_order() {
    let e = errors("Scen: a boat\nAudio: horn at 0:75, bell at 0:09\nSize: 3x3");
    let codes: Vec<&str> = e.errors.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            "unknown-section",
            "malformed-time",
            "cue-beyond-end",
            "invalid-setting"
        ]
    );
    let text = e.to_string();
    assert!(text.starts_with("1:1: error[unknown-section]"), "{text}");
    assert!(text.ends_with("4 errors, 0 warnings"), "{text}");
    let as_error: &dyn std::error::Error = &e;
    assert!(as_error.to_string().contains("3:7: error[invalid-setting]"));
}
