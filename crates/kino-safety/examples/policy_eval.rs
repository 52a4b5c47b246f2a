//! Precision and recall of the prompt policy on the labelled set, rules only and (with
//! `--model`) rules + MiniLM similarity, on the dev split, the held-out test split and all.
//!
//! ```sh
//! cargo run --release -p kino-safety --example policy_eval -- --model models/kino-tiny
//! cargo run --release -p kino-safety --example policy_eval -- --errors dev
//! ```
//!
//! Options: `--model DIR` (a folder with the text encoder), `--data FILE` (default
//! `crates/kino-safety/data/labelled.jsonl`), `--policy FILE` (an operator TOML instead
//! of the built-in policy), `--errors SPLIT` (list the prompts it gets wrong on `dev`,
//! `test` or `all`), `--scores FILE` (with `--model`: write each prompt's per-class
//! similarity scores as TSV, for choosing thresholds on the dev split).

use std::path::PathBuf;
use std::time::Instant;

use kino_safety::eval::{evaluate, load_labelled, Labelled};
use kino_safety::Policy;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut model: Option<PathBuf> = None;
    let mut data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/labelled.jsonl"));
    let mut policy_file: Option<PathBuf> = None;
    let mut errors: Option<String> = None;
    let mut scores: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = Some(value()?.into()),
            "--data" => data = value()?.into(),
            "--policy" => policy_file = Some(value()?.into()),
            "--errors" => errors = Some(value()?),
            "--scores" => scores = Some(value()?.into()),
            "-h" | "--help" => {
                println!("policy_eval [--model DIR] [--data FILE] [--policy FILE] [--errors dev|test|all] [--scores FILE]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let rows = load_labelled(&data)?;
    let base = match &policy_file {
        Some(p) => Policy::from_file(p)?,
        None => Policy::default(),
    };
    println!(
        "{} prompts from {} ({} dev, {} test)\n",
        rows.len(),
        data.display(),
        rows.iter().filter(|r| r.split == "dev").count(),
        rows.iter().filter(|r| r.split == "test").count()
    );
    report("rules only", &base, &rows, errors.as_deref());
    if let Some(dir) = model {
        let t = Instant::now();
        let full = base.clone().with_model_dir(&dir)?;
        println!(
            "(loaded the encoder from {} and embedded the examples in {:.1} s)\n",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
        if let Some(path) = scores {
            write_scores(&full, &rows, &path)?;
        }
        report("rules + embedding", &full, &rows, errors.as_deref());
    }
    Ok(())
}

fn report(name: &str, policy: &Policy, rows: &[Labelled], errors: Option<&str>) {
    for split in ["dev", "test", "all"] {
        let t = Instant::now();
        let r = evaluate(policy, rows, (split != "all").then_some(split));
        let n = r.harmful + r.benign;
        println!(
            "### {name}, {split} ({n} prompts, {:.2} ms/prompt)\n",
            t.elapsed().as_secs_f64() * 1e3 / n.max(1) as f64
        );
        println!("{r}");
        if errors == Some(split) {
            for m in &r.misses {
                println!(
                    "  MISS label={} got={} [{}] {:?}",
                    m.label, m.predicted, m.evidence, m.prompt
                );
            }
            println!();
        }
    }
}

fn write_scores(
    policy: &Policy,
    rows: &[Labelled],
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    let mut out = String::from("split\tlabel\tnear_miss\trules\tclass\tscore\tallowed\tprompt\n");
    for r in rows {
        let rules = match policy.check_rules(&r.prompt) {
            kino_safety::Verdict::Allowed => "allowed".to_string(),
            kino_safety::Verdict::Refused(x) => x.class.to_string(),
        };
        for (c, s, a) in policy.similarity_scores(&r.prompt)? {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{}",
                r.split,
                r.label,
                r.near_miss,
                rules,
                c,
                s,
                a,
                r.prompt.replace(['\t', '\n'], " ")
            )?;
        }
    }
    std::fs::write(path, out)?;
    println!("wrote {}\n", path.display());
    Ok(())
}
