//! `kino plan`: parse a prompt and show the shot plan the engine would get.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// A prompt given on the command line: the text itself, a file path, or `-` for stdin.
pub fn read_prompt(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        return Ok(s);
    }
    let path = Path::new(arg);
    // Only treat it as a file when it plausibly is one: prompts often contain words only.
    if !arg.contains('\n') && arg.len() < 4096 && path.is_file() {
        return std::fs::read_to_string(path)
            .with_context(|| format!("reading prompt file {}", path.display()));
    }
    Ok(arg.to_string())
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
