//! Renders a prompt (or a random seed) and writes the MP4, its JSON log and a PPM contact sheet.
//! `cargo run -p kino-world --example world_preview -- "a red ball falls onto a metal floor" out/`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prompt = args
        .first()
        .cloned()
        .unwrap_or_else(|| "a red ball falls onto a wooden floor".into());
    let out = std::path::PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "/tmp/kw-preview".into()),
    );
    let spec = match prompt.strip_prefix("seed:") {
        Some(s) => {
            kino_world::SceneSpec::random(s.parse()?, &kino_world::RandomOptions::default())?
        }
        None => kino_world::scene_from_prompt(&prompt)?,
    };
    let clip = kino_world::sample(&spec)?;
    std::fs::create_dir_all(&out)?;
    // Contact sheet: every 4th frame in a row of up to 8, as PPM.
    let (w, h) = (clip.video.width() as usize, clip.video.height() as usize);
    let picks: Vec<usize> = (0..clip.video.len()).step_by(4).take(12).collect();
    let cols = picks.len().min(6);
    let rows = picks.len().div_ceil(cols);
    let mut sheet = vec![0u8; cols * w * rows * h * 3];
    for (k, &f) in picks.iter().enumerate() {
        let rgb = clip.video.frame_rgb(f).unwrap_or_default();
        let (cx, cy) = (k % cols, k / cols);
        for y in 0..h {
            let dst = ((cy * h + y) * cols * w + cx * w) * 3;
            sheet[dst..dst + w * 3].copy_from_slice(&rgb[y * w * 3..(y + 1) * w * 3]);
        }
    }
    let mut ppm = format!("P6\n{} {}\n255\n", cols * w, rows * h).into_bytes();
    ppm.extend_from_slice(&sheet);
    std::fs::write(out.join("sheet.ppm"), ppm)?;
    for c in &clip.captions {
        println!("{c}\n---");
    }
    for c in &clip.truth.contacts {
        println!(
            "{:.4}s obj {} {:?} {:.2} m/s {:?}",
            c.time_s, c.object, c.with, c.speed, c.material
        );
    }
    let files = kino_world::write_clip(&out.join("clip.mp4"), &clip)?;
    println!("{files:?}");
    let report = kino_world::judge(&clip.video, Some(&clip.audio), &clip.captions[0])?;
    println!("== judge (in memory, caption 0)\n{}", report.to_text());
    let decoded = kino_media::read_mp4(&files.mp4)?;
    let report = kino_world::judge(&decoded.video, decoded.audio.as_ref(), &prompt)?;
    println!("== judge (decoded mp4, prompt)\n{}", report.to_text());
    let mut shifted = clip.audio.clone();
    let k = (0.3 * shifted.sample_rate() as f64) as usize * 2;
    let s = shifted.samples_mut();
    s.rotate_right(k);
    let report = kino_world::judge(&clip.video, Some(&shifted), &clip.captions[0])?;
    println!("== judge (+300 ms)\n{}", report.to_text());
    Ok(())
}
