//! `kino plan`: parse a prompt and show the shot plan the engine would get.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// A prompt given on the command line: the text itself, a file path, or `-` for stdin.
/// Files and stdin are read only up to the prompt language's limit (so a huge file fails
/// fast instead of filling memory); an argument that looks like a file name but names no
/// file, or names a folder, is refused rather than turned into the prompt text.
pub fn read_prompt(arg: &str) -> Result<String> {
    if arg == "-" {
        return read_limited(std::io::stdin(), "stdin");
    }
    if let Some(path) = prompt_file(arg) {
        let file = std::fs::File::open(path)
            .with_context(|| format!("reading prompt file {}", path.display()))?;
        return read_limited(file, &format!("prompt file {}", path.display()));
    }
    let path = Path::new(arg);
    if looks_like_a_path(arg) {
        if path.is_dir() {
            bail!("prompt {arg}: is a folder, not a prompt file");
        }
        if !path.exists() {
            bail!(
                "prompt {arg}: no such file (to use these words as the prompt, write them as a \
                 sentence, e.g. \"{arg} on a table\")"
            );
        }
    }
    Ok(arg.to_string())
}

/// The file a prompt argument names, when it names one.
pub fn prompt_file(arg: &str) -> Option<&Path> {
    let path = Path::new(arg);
    // Only treat it as a file when it plausibly is one: prompts often contain words only.
    (arg != "-" && !arg.contains('\n') && arg.len() < 4096 && path.is_file()).then_some(path)
}

/// A single word that is a path (has a folder separator) or ends in a text file's extension.
fn looks_like_a_path(arg: &str) -> bool {
    let word = !arg.is_empty() && !arg.chars().any(char::is_whitespace);
    let ext = Path::new(arg)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            ["txt", "md", "prompt", "kino", "json", "toml", "yaml", "yml"]
                .contains(&e.to_ascii_lowercase().as_str())
        });
    word && (arg.contains(std::path::is_separator) || ext)
}

/// Reads at most the prompt language's limit (in bytes, 4 per character) plus one byte, so
/// that an over-long input is refused by the parser without reading all of it.
fn read_limited(r: impl std::io::Read, what: &str) -> Result<String> {
    let limit = (kino_prompt::MAX_PROMPT_CHARS * 4 + 1) as u64;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(r, limit), &mut bytes)
        .with_context(|| format!("reading {what}"))?;
    if bytes.len() as u64 == limit {
        bail!(
            "{what}: longer than the {}-character prompt limit",
            kino_prompt::MAX_PROMPT_CHARS
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{what}: not UTF-8 text"))
}

/// Parses a prompt for generation: warnings go to stderr, errors fail with every one listed.
pub fn parse_plan(src: &str) -> Result<kino_prompt::ShotPlan> {
    match kino_prompt::parse(src) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("{w}");
            }
            Ok(parsed.plan)
        }
        Err(errors) => {
            for d in errors.errors.iter().chain(&errors.warnings) {
                eprintln!("{d}");
            }
            bail!(
                "the prompt has {} error{}",
                errors.errors.len(),
                if errors.errors.len() == 1 { "" } else { "s" }
            )
        }
    }
}

/// Prints the plan (text or JSON) and its warnings; fails with every error listed.
pub fn run(prompt: &str, json: bool) -> Result<()> {
    let src = read_prompt(prompt)?;
    match kino_prompt::parse(&src) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("{w}");
            }
            if json {
                println!("{}", parsed.plan.to_json_pretty());
            } else {
                print!("{}", parsed.plan.to_pretty_text());
            }
            Ok(())
        }
        Err(errors) => {
            for d in errors.errors.iter().chain(&errors.warnings) {
                eprintln!("{d}");
            }
            bail!(
                "the prompt has {} error{}",
                errors.errors.len(),
                if errors.errors.len() == 1 { "" } else { "s" }
            )
        }
    }
}
