//! # kino-prompt
//!
//! The kino prompt language: a director's brief in, a typed, time-stamped
//! [`ShotPlan`] out. Pure, fast and total: no ML, no I/O, no panics, linear
//! time (a 32 000-character prompt parses in well under 10 ms).
//!
//! ```
//! let src = "Scene: A young girl releases a lantern by a riverside at dusk.\n\
//!            Camera: Slow push-in, 50mm, shallow depth of field.\n\
//!            Audio: crickets in the background, soft water splash at 0:02.5.";
//! let parsed = kino_prompt::parse(src).expect("valid prompt");
//! let plan = parsed.plan;
//! assert_eq!(plan.shots.len(), 1);
//! let shot = &plan.shots[0];
//! assert_eq!(shot.content.camera.lens.as_ref().unwrap().focal_length_mm, 50.0);
//! assert_eq!(shot.content.audio[1].at.unwrap().start_s, 2.5);
//! println!("{}", shot.conditioning_text(&plan));
//! ```
//!
//! The language is documented in `docs/prompt-language.md`.
//!
//! Errors (which stop generation) and warnings (which do not) come as
//! [`Diagnostic`]s with a `line:col` span, a stable code and a fix hint.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audio;
mod camera;
mod conditioning;
pub mod diagnostics;
mod dialogue;
mod extract;
mod negative;
pub mod plan;
mod sections;
mod settings;
mod source;
mod style;
mod time;
mod timeline;

pub use diagnostics::{Diagnostic, PromptErrors, Severity};
pub use plan::*;

use serde::Serialize;

/// The longest prompt accepted, in characters (the OpenAI video prompt limit).
pub const MAX_PROMPT_CHARS: usize = 32_000;

/// Settings used where the prompt does not give them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipDefaults {
    /// Clip length in seconds (default 4.0).
    pub duration_s: f64,
    /// Frame width in pixels (default 1280).
    pub width: u32,
    /// Frame height in pixels (default 720).
    pub height: u32,
    /// Frames per second (default 24).
    pub fps: u32,
}

impl Default for ClipDefaults {
    fn default() -> Self {
        ClipDefaults {
            duration_s: 4.0,
            width: 1280,
            height: 720,
            fps: 24,
        }
    }
}

/// A successful parse: the plan plus warnings worth showing the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// The plan for the engine.
    pub plan: ShotPlan,
    /// Things that may not be what the user meant (never blocking).
    pub warnings: Vec<Diagnostic>,
}

/// Parse a prompt with the default clip settings (4 s, 1280x720, 24 fps).
pub fn parse(src: &str) -> Result<Parsed, PromptErrors> {
    parse_with(src, &ClipDefaults::default())
}

/// Parse a prompt; settings the prompt does not give come from `defaults`.
///
/// Returns the plan and its warnings, or every error and warning found.
/// Never panics, for any input.
pub fn parse_with(src: &str, defaults: &ClipDefaults) -> Result<Parsed, PromptErrors> {
    // Whitespace and control characters only (a file of NUL bytes, say) is empty too.
    if src.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err(PromptErrors {
            errors: vec![Diagnostic::error(
                "empty-prompt",
                Span::new(1, 1, 0),
                "the prompt is empty",
            )
            .with_hint("describe the scene, e.g. `A lantern rises over a river at dusk`")],
            warnings: Vec::new(),
        });
    }
    let chars = src.chars().count();
    let lower = src.to_ascii_lowercase();
    let map = source::SourceMap::new(src);
    if chars > MAX_PROMPT_CHARS {
        let over = chars - MAX_PROMPT_CHARS;
        let mut span = map.span_of_char_index(MAX_PROMPT_CHARS as u32);
        span.len = over as u32;
        return Err(PromptErrors {
            errors: vec![Diagnostic::error(
                "prompt-too-long",
                span,
                format!("the prompt has {chars} characters; the limit is {MAX_PROMPT_CHARS}"),
            )
            .with_hint(format!("shorten it by {over} characters"))],
            warnings: Vec::new(),
        });
    }
    let mut diags = Vec::new();
    let lexed = sections::lex(src, &lower, &map, &mut diags);
    if lexed.global.pieces.is_empty() && lexed.shots.iter().all(|b| b.pieces.is_empty()) {
        diags.push(
            Diagnostic::error(
                "empty-prompt",
                Span::new(1, 1, 0),
                "the prompt has no description, only settings",
            )
            .with_hint(
                "add what should be seen, e.g. `Scene: A lantern rises over a river at dusk`",
            ),
        );
    }
    let mut cx = extract::Ctx::new(src, &lower, &map);
    cx.diags = diags;
    let global = cx.block(&lexed.global.pieces);
    let contents: Vec<Directives> = lexed.shots.iter().map(|b| cx.block(&b.pieces)).collect();
    let mut diags = std::mem::take(&mut cx.diags);
    let resolved = settings::resolve(
        src,
        &lower,
        &map,
        &lexed.settings,
        &cx.prose_settings,
        defaults,
        &mut diags,
    );
    let plan = timeline::build(&lexed.shots, global, contents, resolved, &map, &mut diags);
    let PromptErrors { errors, warnings } = split(diags);
    if errors.is_empty() {
        Ok(Parsed { plan, warnings })
    } else {
        Err(PromptErrors { errors, warnings })
    }
}

fn split(mut diags: Vec<Diagnostic>) -> PromptErrors {
    diags.sort_by_key(|d| (d.span.line, d.span.col));
    let (errors, warnings) = diags.into_iter().partition(|d| d.is_error());
    PromptErrors { errors, warnings }
}
