//! `write_dataset`: deterministic shards of world clips (safetensors frames + audio, JSON
//! captions and ground truth) with a train/validation/test split by seed range.

use crate::clip::{sample, write_json};
use crate::error::{Result, WorldError};
use crate::spec::{RandomOptions, SceneSpec};
use crate::truth::GroundTruth;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Options for [`write_dataset`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetOptions {
    /// What each clip looks like (size, length, fps, vocabulary switches).
    pub random: RandomOptions,
    /// Clips per shard.
    pub shard_size: usize,
    /// Fraction of clips (the seed range after train) for validation.
    pub validation_fraction: f32,
    /// Fraction of clips (the last seed range) for test.
    pub test_fraction: f32,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Write the full per-frame ground truth (else captions, spec and contacts only).
    pub full_truth: bool,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            random: RandomOptions::default(),
            shard_size: 64,
            validation_fraction: 0.05,
            test_fraction: 0.05,
            threads: 0,
            full_truth: false,
        }
    }
}

/// Which part of the dataset a clip belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// One shard on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub split: Split,
    /// The `.safetensors` file (tensors `frames` u8 [n, T, H, W, 3], `audio` f32
    /// [n, samples, 2], `seeds` u64 [n]).
    pub tensors: PathBuf,
    /// The `.json` file: one record per clip with seed, captions, spec and ground truth.
    pub records: PathBuf,
    pub first_seed: u64,
    pub count: usize,
}

/// What [`write_dataset`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub count: usize,
    pub seed: u64,
    /// Seed ranges `[first, end)` of each split.
    pub splits: std::collections::BTreeMap<String, [u64; 2]>,
    pub shards: Vec<ShardInfo>,
    pub seconds: f64,
    pub clips_per_s: f64,
    pub options: DatasetOptions,
}

/// One clip's record in a shard's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipRecord {
    pub seed: u64,
    pub captions: Vec<String>,
    pub spec: SceneSpec,
    pub contacts: Vec<crate::sim::Contact>,
    /// Present when `full_truth` was asked for.
    pub truth: Option<GroundTruth>,
}

/// The split of clip `index` out of `count` (by seed range: train, then validation, then test).
pub fn split_of(index: usize, count: usize, opts: &DatasetOptions) -> Split {
    let (train_end, val_end) = split_bounds(count, opts);
    if index < train_end {
        Split::Train
    } else if index < val_end {
        Split::Validation
    } else {
        Split::Test
    }
}

fn split_bounds(count: usize, opts: &DatasetOptions) -> (usize, usize) {
    let test = (count as f32 * opts.test_fraction).round() as usize;
    let val = (count as f32 * opts.validation_fraction).round() as usize;
    let train_end = count.saturating_sub(test + val);
    (train_end, (train_end + val).min(count))
}

struct Rendered {
    frames: kino_media::VideoFrames,
    audio: kino_media::AudioBuffer,
    record: ClipRecord,
}

fn render_one(seed: u64, opts: &DatasetOptions) -> Result<Rendered> {
    let spec = SceneSpec::random(seed, &opts.random)?;
    let clip = sample(&spec)?;
    Ok(Rendered {
        frames: clip.video,
        audio: clip.audio,
        record: ClipRecord {
            seed,
            captions: clip.captions,
            contacts: clip.truth.contacts.clone(),
            spec,
            truth: opts.full_truth.then_some(clip.truth),
        },
    })
}

/// Writes `count` clips with seeds `seed..seed+count` into `out_dir` as shards plus a
/// `manifest.json`. Deterministic per seed: the same arguments give identical files.
pub fn write_dataset(
    out_dir: &Path,
    count: usize,
    seed: u64,
    opts: &DatasetOptions,
) -> Result<DatasetSummary> {
    if count == 0 {
        return Err(WorldError::option("count", "must be at least 1"));
    }
    if opts.shard_size == 0 {
        return Err(WorldError::option("shard_size", "must be at least 1"));
    }
    if !(0.0..1.0).contains(&(opts.validation_fraction + opts.test_fraction))
        || opts.validation_fraction < 0.0
        || opts.test_fraction < 0.0
    {
        return Err(WorldError::option(
            "validation_fraction/test_fraction",
            "each must be >= 0 and together below 1",
        ));
    }
    // Validate the clip options once, up front.
    SceneSpec::random(seed, &opts.random)?;
    std::fs::create_dir_all(out_dir).map_err(|e| WorldError::io(out_dir, e))?;
    let start = std::time::Instant::now();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        opts.threads
    };
    let (train_end, val_end) = split_bounds(count, opts);
    // Shards never straddle a split.
    let mut groups: Vec<(Split, usize, usize)> = Vec::new();
    for (split, a, b) in [
        (Split::Train, 0, train_end),
        (Split::Validation, train_end, val_end),
        (Split::Test, val_end, count),
    ] {
        let mut i = a;
        while i < b {
            let j = (i + opts.shard_size).min(b);
            groups.push((split, i, j));
            i = j;
        }
    }
    let mut shards = Vec::new();
    let mut counters: HashMap<Split, usize> = HashMap::new();
    // Render shard k+1 while shard k is being written.
    std::thread::scope(|scope| -> Result<()> {
        let mut pending: Option<std::thread::ScopedJoinHandle<'_, Result<()>>> = None;
        for (split, a, b) in groups {
            let clips = render_group(seed, a, b, threads, opts)?;
            let index = counters.entry(split).or_insert(0);
            let stem = format!("{}-{:05}", split.name(), index);
            *index += 1;
            let tensors = out_dir.join(format!("{stem}.safetensors"));
            let records = out_dir.join(format!("{stem}.json"));
            shards.push(ShardInfo {
                split,
                tensors: tensors.clone(),
                records: records.clone(),
                first_seed: seed.wrapping_add(a as u64),
                count: b - a,
            });
            if let Some(h) = pending.take() {
                join_writer(h)?;
            }
            pending = Some(scope.spawn(move || write_group(&tensors, &records, &clips, opts)));
        }
        if let Some(h) = pending.take() {
            join_writer(h)?;
        }
        Ok(())
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut splits = std::collections::BTreeMap::new();
    splits.insert(
        "train".to_string(),
        [seed, seed.wrapping_add(train_end as u64)],
    );
    splits.insert(
        "validation".to_string(),
        [
            seed.wrapping_add(train_end as u64),
            seed.wrapping_add(val_end as u64),
        ],
    );
    splits.insert(
        "test".to_string(),
        [
            seed.wrapping_add(val_end as u64),
            seed.wrapping_add(count as u64),
        ],
    );
    let summary = DatasetSummary {
        count,
        seed,
        splits,
        shards,
        seconds,
        clips_per_s: count as f64 / seconds.max(1e-9),
        options: opts.clone(),
    };
    write_json(&out_dir.join("manifest.json"), &summary)?;
    Ok(summary)
}

fn join_writer(h: std::thread::ScopedJoinHandle<'_, Result<()>>) -> Result<()> {
    h.join()
        .map_err(|_| WorldError::option("threads", "the shard writer panicked"))?
}

fn render_group(
    seed: u64,
    a: usize,
    b: usize,
    threads: usize,
    opts: &DatasetOptions,
) -> Result<Vec<Rendered>> {
    let n = b - a;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Rendered>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.min(n) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    break;
                }
                let r = render_one(seed.wrapping_add((a + k) as u64), opts);
                if let Ok(mut v) = results.lock() {
                    v[k] = Some(r);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| WorldError::option("threads", "a worker thread panicked"))?;
    let mut clips = Vec::with_capacity(n);
    for r in results {
        match r {
            Some(r) => clips.push(r?),
            None => return Err(WorldError::option("threads", "a clip was not rendered")),
        }
    }
    Ok(clips)
}

fn write_group(
    tensors: &Path,
    records: &Path,
    clips: &[Rendered],
    opts: &DatasetOptions,
) -> Result<()> {
    write_shard(tensors, clips, opts)?;
    let recs: Vec<&ClipRecord> = clips.iter().map(|c| &c.record).collect();
    let text = serde_json::to_string(&recs).map_err(|source| WorldError::Json {
        path: records.display().to_string(),
        source,
    })?;
    std::fs::write(records, text).map_err(|e| WorldError::io(records, e))
}

fn write_shard(path: &Path, clips: &[Rendered], opts: &DatasetOptions) -> Result<()> {
    let r = &opts.random;
    let n = clips.len();
    let t = clips.first().map(|c| c.frames.data().len()).unwrap_or(0)
        / (r.width as usize * r.height as usize * 3).max(1);
    let samples = clips.first().map(|c| c.audio.frames()).unwrap_or(0);
    let mut frames = Vec::with_capacity(n * t * r.width as usize * r.height as usize * 3);
    let mut audio = Vec::with_capacity(n * samples * 2 * 4);
    let mut seeds = Vec::with_capacity(n * 8);
    for c in clips {
        frames.extend_from_slice(c.frames.data());
        audio.extend(c.audio.samples().iter().flat_map(|s| s.to_le_bytes()));
        seeds.extend_from_slice(&c.record.seed.to_le_bytes());
    }
    let err = |e: safetensors::SafeTensorError| WorldError::Shard {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let tensors = vec![
        (
            "frames",
            TensorView::new(
                Dtype::U8,
                vec![n, t, r.height as usize, r.width as usize, 3],
                &frames,
            )
            .map_err(err)?,
        ),
        (
            "audio",
            TensorView::new(Dtype::F32, vec![n, samples, 2], &audio).map_err(err)?,
        ),
        (
            "seeds",
            TensorView::new(Dtype::U64, vec![n], &seeds).map_err(err)?,
        ),
    ];
    // One metadata entry: a HashMap's order would make the header differ between runs.
    let mut meta = HashMap::new();
    meta.insert(
        "kino-world".to_string(),
        format!(
            "format=1;fps={};sample_rate={};width={};height={}",
            r.fps, r.sample_rate, r.width, r.height
        ),
    );
    safetensors::tensor::serialize_to_file(tensors, &Some(meta), path).map_err(err)
}
