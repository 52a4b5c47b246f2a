//! Judges N random world clips (in memory) and prints each score line and averages.
//! `cargo run --release -p kino-world --example judge_eval -- 20`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let opts = kino_world::RandomOptions::default();
    let mut sums = [0.0f32; 4];
    let mut medians = Vec::new();
    let mut shifted_scores = Vec::new();
    let mut shifted_medians = Vec::new();
    let mut counts = [0usize; 4];
    for seed in 0..n {
        let spec = kino_world::SceneSpec::random(seed, &opts)?;
        let clip = kino_world::sample(&spec)?;
        let r = kino_world::judge(&clip.video, Some(&clip.audio), &clip.captions[0])?;
        let sync = r.sync.as_ref();
        if let Some(m) = sync.and_then(|s| s.median_offset_ms) {
            medians.push(m);
            let mut shifted = clip.audio.clone();
            let k = (0.3 * shifted.sample_rate() as f64) as usize * 2;
            shifted.samples_mut().rotate_right(k);
            let rs = kino_world::judge(&clip.video, Some(&shifted), &clip.captions[0])?;
            if let Some(s) = rs.sync.as_ref() {
                shifted_scores.push(s.score.unwrap_or(0.0));
                shifted_medians.push(s.median_offset_ms.unwrap_or(500.0));
            }
        }
        println!(
            "seed {seed}: perm {:.2} phys r2 {:?} g {:?} sync {:?} med {:?}ms adherence {:.2} [{}]",
            r.tracker.permanence.score,
            r.physics.r2,
            r.physics.fitted_g,
            sync.and_then(|s| s.score),
            sync.and_then(|s| s.median_offset_ms),
            r.adherence.overall,
            r.adherence
                .checks
                .iter()
                .filter(|c| !c.pass)
                .map(|c| format!("{}: {} vs {}", c.attribute, c.expected, c.found))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let vals = [
            Some(r.tracker.permanence.score),
            r.physics.r2,
            sync.and_then(|s| s.score),
            Some(r.adherence.overall),
        ];
        for (k, v) in vals.iter().enumerate() {
            if let Some(v) = v {
                sums[k] += v;
                counts[k] += 1;
            }
        }
    }
    let med = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
    };
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    println!(
        "sync median offset: median over clips {:.1} ms; with audio +300 ms: mean score {:.3}, median offset {:.1} ms",
        med(&mut medians),
        mean(&shifted_scores),
        med(&mut shifted_medians)
    );
    let names = ["permanence", "physics r2", "sync score", "adherence"];
    for k in 0..4 {
        println!(
            "mean {}: {:.3} over {}",
            names[k],
            sums[k] / counts[k].max(1) as f32,
            counts[k]
        );
    }
    Ok(())
}
