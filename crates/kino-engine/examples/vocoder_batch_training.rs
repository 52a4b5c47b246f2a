//! Trains the vocoder on one world clip at batch 1 and at batch 2 (the clip twice) with
//! kino's AdamW and prints the losses: both must fall (`cargo run -p kino-engine --example
//! vocoder_batch_training`). Kept as the reproduction of a divergence seen at batch 2.
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use kino_engine::train::optim::{AdamW, AdamWConfig};
use kino_models::vocoder::{Vocoder, VocoderConfig};
fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let shape = kino_engine::train::data::ClipShape {
        width: 64,
        height: 64,
        fps: 12,
        frames: 9,
        sample_rate: 16000,
    };
    let clip = kino_engine::train::data::world_clip(&shape, 0, 0)?;
    for (b2, clip_norm, wd, batch) in [(0.99, 1.0, 0.01, 1usize), (0.99, 1.0, 0.01, 2)] {
        let map = VarMap::new();
        let cfg = VocoderConfig::kino_tiny();
        let voc = Vocoder::new(cfg.clone(), VarBuilder::from_varmap(&map, DType::F32, &dev))?;
        let lm = cfg
            .mel
            .log_mel_tensor(&clip.audio, &dev)?
            .unsqueeze(0)?
            .repeat((batch, 1, 1))?;
        let tgt = voc
            .target_magnitude(&clip.audio, &dev)?
            .unsqueeze(0)?
            .repeat((batch, 1, 1))?;
        let mut opt = AdamW::new(
            &map,
            AdamWConfig {
                beta2: b2,
                weight_decay: wd,
                ..Default::default()
            },
        )?;
        let mut ls = vec![];
        for _ in 0..30 {
            let loss = voc.loss(&lm, &tgt)?;
            ls.push(loss.to_scalar::<f32>()?);
            opt.step(&loss.backward()?, 1e-3, clip_norm)?;
        }
        println!("batch {batch}: {:.3?}", ls);
    }
    Ok(())
}
