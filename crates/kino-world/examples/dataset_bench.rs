//! Writes a dataset and reports clips/s, plus a per-stage timing of one thread.
//! `cargo run --release -p kino-world --example dataset_bench -- 200 /tmp/kw-ds`
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let out = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "/tmp/kw-ds".into()));
    let opts = kino_world::DatasetOptions::default();
    let mut t = [0.0f64; 5];
    for seed in 0..40u64 {
        let spec = kino_world::SceneSpec::random(seed, &opts.random)?;
        let a = Instant::now();
        let sim = kino_world::simulate(&spec);
        let b = Instant::now();
        let video = kino_world::render(&spec, &sim)?;
        let c = Instant::now();
        let audio = kino_world::sound(&spec, &sim, spec.sample_rate)?;
        let d = Instant::now();
        let truth = kino_world::GroundTruth::new(&spec, &sim);
        let caps = kino_world::captions(&spec, &truth, seed);
        let e = Instant::now();
        let json = serde_json::to_string(&caps)?;
        let f = Instant::now();
        std::hint::black_box((video.len(), audio.frames(), json.len()));
        for (k, (x, y)) in [(a, b), (b, c), (c, d), (d, e), (e, f)].iter().enumerate() {
            t[k] += (*y - *x).as_secs_f64() * 1000.0 / 40.0;
        }
    }
    println!(
        "per clip (one thread): simulate {:.2} ms, render {:.2} ms, sound {:.2} ms, truth+captions {:.2} ms, json {:.2} ms",
        t[0], t[1], t[2], t[3], t[4]
    );
    let summary = kino_world::write_dataset(&out, count, 1000, &opts)?;
    println!(
        "{} clips in {:.2} s = {:.1} clips/s, {} shards",
        summary.count,
        summary.seconds,
        summary.clips_per_s,
        summary.shards.len()
    );
    Ok(())
}
