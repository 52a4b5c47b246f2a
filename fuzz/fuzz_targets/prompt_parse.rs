//! Fuzz the prompt parser: any UTF-8 input must give a plan or errors,
//! never a panic; a plan must also render without panicking.
//!
//! Run with `cargo fuzz run prompt_parse` from the repository root.
//! (JSON round-tripping is checked by `crates/kino-prompt/tests/robustness.rs`.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(parsed) = kino_prompt::parse(s) {
            let plan = &parsed.plan;
            for shot in &plan.shots {
                let _ = shot.conditioning_text(plan);
            }
            let _ = plan.to_pretty_text();
            let _ = plan.to_json_pretty();
        }
    }
});
