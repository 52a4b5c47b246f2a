//! Robustness of the watermark on procedural world clips: PSNR, then detection score,
//! coded-bit errors and payload correctness under each attack.
//!
//! cargo run --release -p kino-provenance --example watermark_robustness -- [clips] [size] [seconds] [strength]
//!
//! Defaults: 16 clips, 256x256, 5 s, the default strength. Set VERBOSE=1 for per-clip rows.
//!
//! ADAPTIVE=1 marks with the closed-loop embedder (`embed_adaptive`, default
//! `AdaptiveOptions`; the strength argument is then ignored; STRENGTHS=3,3.5,4,4.5,
//! MARGIN=2.0 and MAX_ERRORS=10 override the ladder and the pass criterion) and prints the
//! strength chosen for each clip. Its simulated attack is the same deterministic delivery +
//! 1/4-bitrate re-encode as the "re-encode at 1/4 bitrate" row, so that row counts the clips
//! whose simulation passed (or whose payload survived at the cap); the 1/5 bitrate and
//! combined rows are attacks it did not simulate.
//!
//! The second table checks each attacked clip against its own payload as a *claim*
//! (`check_claim`: is this the mark of clip X?), and against another clip's payload of the
//! same generator (which must not be confirmed). The third asks the question a server asks
//! of a copy (`identify`): which of its 10^3 (or 10^5) clips is this? Each attacked clip is
//! tested against its own payload among 999 (99,999) other clips' payloads, at the threshold
//! for that many; it counts when `detect` reads the payload or `identify` picks the own one.

use kino_media::{VideoFrames, VideoQuality};
use kino_provenance::watermark::{
    attack, check_claim, detect, embed, embed_adaptive, identify, AdaptiveOptions, DetectOptions,
    EmbedOptions, Payload, WatermarkKey, CODED_BITS,
};
use kino_world::{render, simulate, RandomOptions, SceneSpec};
use std::time::Instant;

fn world_clip(seed: u64, size: u32, seconds: f32) -> VideoFrames {
    let opts = RandomOptions {
        duration_s: seconds,
        width: size,
        height: size,
        ..RandomOptions::default()
    };
    let spec = SceneSpec::random(seed, &opts).expect("spec");
    render(&spec, &simulate(&spec)).expect("render")
}

type Attack = Box<dyn Fn(&VideoFrames, u32) -> VideoFrames>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clips: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let size: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(256);
    let seconds: f32 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let strength: f32 = args
        .get(4)
        .and_then(|a| a.parse().ok())
        .unwrap_or(EmbedOptions::default().strength);
    let adaptive = std::env::var_os("ADAPTIVE").is_some_and(|v| v != "0");
    let mut adaptive_opts = AdaptiveOptions::default();
    if let Ok(list) = std::env::var("STRENGTHS") {
        adaptive_opts.strengths = list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("STRENGTHS: comma-separated numbers")
            })
            .collect();
    }
    if let Some(m) = std::env::var("MARGIN").ok().and_then(|v| v.parse().ok()) {
        adaptive_opts.score_margin = m;
    }
    if let Some(e) = std::env::var("MAX_ERRORS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        adaptive_opts.max_coded_bit_errors = e;
    }
    // The delivery quality: kino's default (`VideoQuality::Auto`: CRF 18 up to 256x256
    // pixels, CRF 23 above) unless DELIVERY_CRF=N pins one.
    let delivery = std::env::var("DELIVERY_CRF")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(VideoQuality::default(), VideoQuality::Crf);
    adaptive_opts.delivery = delivery;
    let key = WatermarkKey::from_passphrase("kino robustness example");
    let wrong = WatermarkKey::from_passphrase("some other key");
    let opts = DetectOptions::default();
    if adaptive {
        println!(
            "clips {clips}, {size}x{size}, {seconds} s at 24 fps, adaptive strength {:?} \
             (margin {}, <= {} coded-bit errors); threshold {:.2}",
            adaptive_opts.strengths,
            adaptive_opts.score_margin,
            adaptive_opts.max_coded_bit_errors,
            opts.threshold()
        );
    } else {
        println!(
            "clips {clips}, {size}x{size}, {seconds} s at 24 fps, strength {strength}; threshold {:.2}",
            opts.threshold()
        );
    }
    println!("delivery: {:?}", delivery.for_frame(size, size));
    let attacks: Vec<(&str, Attack)> = vec![
        ("none (delivery encode)", Box::new(|v, _| v.clone())),
        (
            "re-encode at 1/4 bitrate",
            Box::new(|v, bps| {
                attack::reencode(v, VideoQuality::Bitrate(bps / 4))
                    .unwrap()
                    .0
            }),
        ),
        (
            "re-encode at 1/5 bitrate",
            Box::new(|v, bps| {
                attack::reencode(v, VideoQuality::Bitrate(bps / 5))
                    .unwrap()
                    .0
            }),
        ),
        (
            "downscale 50%",
            Box::new(|v, _| attack::resize(v, 0.5).unwrap()),
        ),
        (
            "crop 5% each side",
            Box::new(|v, _| {
                let m = (v.width() as f32 * 0.05).round() as u32 / 2 * 2;
                attack::crop(v, m, m, m, m).unwrap()
            }),
        ),
        (
            "crop 10% left+top",
            Box::new(|v, _| {
                let m = (v.width() as f32 * 0.1).round() as u32 / 2 * 2;
                attack::crop(v, m + 1, m + 1, 1, 1).unwrap()
            }),
        ),
        ("trim 2 s start", Box::new(|v, _| attack::trim(v, 2.0, 0.0))),
        ("trim 2 s end", Box::new(|v, _| attack::trim(v, 0.0, 2.0))),
        (
            "scale 50% + crop 10% + 1/4 bitrate",
            Box::new(|v, bps| {
                let s = attack::resize(v, 0.5).unwrap();
                let m = (s.width() as f32 * 0.05).round() as u32;
                let c = attack::crop(&s, m + 1, m - 1, m - 1, m + 1).unwrap();
                attack::reencode(&c, VideoQuality::Bitrate(bps / 4))
                    .unwrap()
                    .0
            }),
        ),
        (
            "all + trim 2 s",
            Box::new(|v, bps| {
                let t = attack::trim(v, 2.0, 0.0);
                let s = attack::resize(&t, 0.5).unwrap();
                let m = (s.width() as f32 * 0.05).round() as u32;
                let c = attack::crop(&s, m + 1, m - 1, m - 1, m + 1).unwrap();
                attack::reencode(&c, VideoQuality::Bitrate(bps / 4))
                    .unwrap()
                    .0
            }),
        ),
    ];
    let mut rows: Vec<(f64, f64, usize, usize, usize)> =
        vec![(0.0, f64::MAX, 0, 0, 0); attacks.len()];
    // Claim checks per attack: confirmed, exact or confirmed, min claim score, and the
    // highest claim score of another clip's payload (same generator).
    let mut claim_rows: Vec<(usize, usize, f64, f64)> =
        vec![(0, 0, f64::MAX, f64::MIN); attacks.len()];
    let mut unmarked_claims = Vec::new();
    // Identification among a server's clips: the other clips' payloads, and per attack the
    // clips read or identified among 10^3 and among 10^5, and the best wrong pick's score.
    let server_clips: Vec<Payload> = (0..99_999)
        .map(|i| Payload::from_clip_id(7, &format!("server-clip-{i}")))
        .collect();
    let mut identified: Vec<(usize, usize)> = vec![(0, 0); attacks.len()];
    let mut identify_runner_up = f64::MIN;
    let mut identify_time = [0.0f64; 2];
    let mut psnrs = Vec::new();
    let (mut detect_time, mut detect_calls) = (0.0f64, 0usize);
    let mut unmarked_scores = Vec::new();
    let mut wrong_scores = Vec::new();
    let mut chosen: Vec<(f32, bool, usize)> = Vec::new();
    let (mut embed_time, mut tries_total) = (0.0f64, 0usize);
    for seed in 0..clips {
        let t0 = Instant::now();
        let original = world_clip(1000 + seed, size, seconds);
        let mut marked = original.clone();
        let payload = Payload::from_clip_id(7, &format!("clip-{seed}"));
        let eo = EmbedOptions {
            strength,
            ..EmbedOptions::default()
        };
        let te = Instant::now();
        let rep = if adaptive {
            let a = embed_adaptive(&mut marked, &payload, &key, &adaptive_opts).unwrap();
            let tries: Vec<String> = a
                .tries
                .iter()
                .map(|t| {
                    format!(
                        "{}: {:.2}/{}",
                        t.strength,
                        t.detection.score,
                        t.detection
                            .coded_bit_errors
                            .map_or("-".to_string(), |e| e.to_string())
                    )
                })
                .collect();
            eprintln!(
                "clip {seed}: strength {} ({}), PSNR {:.2} dB, simulated score/errors [{}], \
                 {:.2} s",
                a.strength,
                if a.passed {
                    "passed"
                } else {
                    "cap, not passed"
                },
                a.embed.psnr_db,
                tries.join(", "),
                te.elapsed().as_secs_f64()
            );
            chosen.push((a.strength, a.passed, a.tries.len()));
            tries_total += a.tries.len();
            a.embed
        } else {
            embed(&mut marked, &payload, &key, &eo).unwrap()
        };
        embed_time += te.elapsed().as_secs_f64();
        psnrs.push(rep.psnr_db);
        // The delivered file (kino's default quality unless DELIVERY_CRF); attacks start from
        // its decoded frames.
        let (delivered, bps) = attack::reencode(&marked, delivery).unwrap();
        let (plain, _) = attack::reencode(&original, delivery).unwrap();
        unmarked_scores.push(detect(&plain, &key, &opts).unwrap().score);
        unmarked_claims.push(check_claim(&plain, &key, &payload, &opts).unwrap().score);
        let other = Payload::from_clip_id(7, &format!("other-clip-{seed}"));
        wrong_scores.push(detect(&delivered, &wrong, &opts).unwrap().score);
        for (i, (_, f)) in attacks.iter().enumerate() {
            let attacked = f(&delivered, bps);
            let td = Instant::now();
            let d = detect(&attacked, &key, &opts).unwrap();
            detect_time += td.elapsed().as_secs_f64();
            detect_calls += 1;
            let ok = d.found && d.payload == Some(payload);
            let claim = check_claim(&attacked, &key, &payload, &opts).unwrap();
            let wrong_claim = check_claim(&attacked, &key, &other, &opts).unwrap();
            for (n, count) in [(1_000usize, 0usize), (100_000, 1)] {
                let mut candidates = server_clips[..n - 1].to_vec();
                candidates.push(payload);
                let ti = Instant::now();
                let id = identify(&attacked, &key, &candidates, &opts).unwrap();
                identify_time[count] += ti.elapsed().as_secs_f64();
                let own = id.confirmed && id.best == Some(n - 1);
                let slot = if count == 0 {
                    &mut identified[i].0
                } else {
                    &mut identified[i].1
                };
                *slot += usize::from(ok || own);
                identify_runner_up = identify_runner_up.max(if id.best == Some(n - 1) {
                    id.runner_up.unwrap_or(f64::MIN)
                } else {
                    id.score
                });
            }
            let c = &mut claim_rows[i];
            c.0 += usize::from(claim.confirmed);
            c.1 += usize::from(ok || claim.confirmed);
            c.2 = c.2.min(claim.score);
            c.3 = c.3.max(wrong_claim.score);
            if std::env::var_os("VERBOSE").is_some() {
                eprintln!(
                    "  {:<36} score {:6.2} scale {:.3} shift ({:5.2}, {:5.2}) ok {ok} errors {:?} \
                     claim {:.2} ({}/{} bits agree) other {:.2}",
                    attacks[i].0,
                    d.score,
                    d.scale,
                    d.shift.0,
                    d.shift.1,
                    d.coded_bit_errors,
                    claim.score,
                    claim.agreeing_bits,
                    claim.tested_bits,
                    wrong_claim.score
                );
            }
            let r = &mut rows[i];
            r.0 += d.score;
            r.1 = r.1.min(d.score);
            r.2 += usize::from(ok);
            r.3 += d.coded_bit_errors.unwrap_or(CODED_BITS);
            r.4 = r.4.max(d.coded_bit_errors.unwrap_or(CODED_BITS));
        }
        eprintln!(
            "clip {seed}: PSNR {:.2} dB, {} kbit/s, {:.1} s",
            rep.psnr_db,
            bps / 1000,
            t0.elapsed().as_secs_f64()
        );
    }
    let n = clips as f64;
    println!(
        "PSNR: mean {:.2} dB, min {:.2} dB",
        psnrs.iter().sum::<f64>() / n,
        psnrs.iter().cloned().fold(f64::MAX, f64::min)
    );
    println!(
        "{:<36} {:>10} {:>9} {:>9} {:>16}",
        "attack", "mean score", "min score", "exact", "coded BER mean/max"
    );
    for ((name, _), r) in attacks.iter().zip(&rows) {
        println!(
            "{:<36} {:>10.2} {:>9.2} {:>6}/{:<2} {:>8.3}/{:.3}",
            name,
            r.0 / n,
            r.1,
            r.2,
            clips,
            r.3 as f64 / n / CODED_BITS as f64,
            r.4 as f64 / CODED_BITS as f64
        );
    }
    println!(
        "claim check (threshold {:.2}): {:<22} {:>9} {:>16} {:>10} {:>18}",
        opts.claim_threshold(),
        "attack",
        "confirmed",
        "exact or confirmed",
        "min claim",
        "max other clip's"
    );
    for ((name, _), c) in attacks.iter().zip(&claim_rows) {
        println!(
            "{:<36} {:>6}/{:<2} {:>13}/{:<2} {:>10.2} {:>18.2}",
            name, c.0, clips, c.1, clips, c.2, c.3
        );
    }
    println!(
        "read or identified among a server's clips (thresholds {:.2} for 10^3, {:.2} for 10^5; \
         highest score of a wrong clip {:.2}):",
        opts.identify_threshold(1_000),
        opts.identify_threshold(100_000),
        identify_runner_up
    );
    println!(
        "identify: {:.1} ms per clip among 10^3, {:.1} ms among 10^5 (mean over {detect_calls})",
        1000.0 * identify_time[0] / detect_calls.max(1) as f64,
        1000.0 * identify_time[1] / detect_calls.max(1) as f64
    );
    println!("{:<36} {:>9} {:>9}", "attack", "10^3", "10^5");
    for ((name, _), (a, b)) in attacks.iter().zip(&identified) {
        println!("{:<36} {:>6}/{:<2} {:>6}/{:<2}", name, a, clips, b, clips);
    }
    println!(
        "detect: {:.1} ms per attacked clip (mean over {detect_calls})",
        1000.0 * detect_time / detect_calls.max(1) as f64
    );
    if adaptive {
        let mut hist: Vec<(f32, usize)> = Vec::new();
        for &(s, _, _) in &chosen {
            match hist.iter_mut().find(|(h, _)| *h == s) {
                Some(h) => h.1 += 1,
                None => hist.push((s, 1)),
            }
        }
        hist.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hist: Vec<String> = hist.iter().map(|(s, c)| format!("{s}: {c}")).collect();
        println!(
            "adaptive: strengths chosen {{{}}}, {} of {clips} passed the simulation; \
             {tries_total} tries, embed_adaptive {:.2} s per clip, {:.2} s per try",
            hist.join(", "),
            chosen.iter().filter(|c| c.1).count(),
            embed_time / n,
            embed_time / tries_total.max(1) as f64
        );
    } else {
        println!("embed: {:.3} s per clip", embed_time / n);
    }
    let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
    println!(
        "unmarked clips: max score {:.2}, max claim score {:.2}; wrong key: max score {:.2}",
        max(&unmarked_scores),
        max(&unmarked_claims),
        max(&wrong_scores)
    );
}
