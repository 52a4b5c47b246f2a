//! Print the plan of a prompt file (or stdin): `cargo run --example plan -- FILE [--json]`.
use std::io::Read;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let src = match args.iter().find(|a| !a.starts_with("--")) {
        Some(path) => std::fs::read_to_string(path).unwrap_or_else(|_| path.clone()),
        None => {
            let mut s = String::new();
            let _ = std::io::stdin().read_to_string(&mut s);
            s
        }
    };
    match kino_prompt::parse(&src) {
        Ok(p) => {
            for w in &p.warnings {
                eprintln!("{w}");
            }
            if json {
                println!("{}", p.plan.to_json_pretty());
            } else {
                print!("{}", p.plan.to_pretty_text());
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
