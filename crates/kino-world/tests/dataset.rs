//! The dataset writer: deterministic shards, split by seed range.

use kino_world::{write_dataset, DatasetOptions, RandomOptions, Split};

fn opts() -> DatasetOptions {
    DatasetOptions {
        random: RandomOptions {
            duration_s: 0.5,
            width: 32,
            height: 32,
            ..RandomOptions::default()
        },
        shard_size: 4,
        validation_fraction: 0.2,
        test_fraction: 0.2,
        threads: 2,
        full_truth: false,
    }
}

#[test]
fn dataset_is_deterministic_and_split_by_seed_range() {
    let base = std::env::temp_dir().join(format!("kino-world-ds-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    let sa = write_dataset(&a, 10, 500, &opts()).unwrap();
    let sb = write_dataset(&b, 10, 500, &opts()).unwrap();
    assert_eq!(sa.count, 10);
    assert_eq!(sa.splits["train"], [500, 506]);
    assert_eq!(sa.splits["validation"], [506, 508]);
    assert_eq!(sa.splits["test"], [508, 510]);
    let names: Vec<(Split, usize)> = sa.shards.iter().map(|s| (s.split, s.count)).collect();
    assert_eq!(
        names,
        vec![
            (Split::Train, 4),
            (Split::Train, 2),
            (Split::Validation, 2),
            (Split::Test, 2)
        ]
    );
    for (x, y) in sa.shards.iter().zip(&sb.shards) {
        let bytes = |p: &std::path::Path| std::fs::read(p).unwrap();
        assert!(
            bytes(&x.tensors) == bytes(&y.tensors),
            "{} differs",
            x.tensors.display()
        );
        assert!(
            bytes(&x.records) == bytes(&y.records),
            "{} differs",
            x.records.display()
        );
    }
    // The shard holds what it says.
    let data = std::fs::read(&sa.shards[0].tensors).unwrap();
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    let frames = st.tensor("frames").unwrap();
    assert_eq!(frames.shape(), &[4, 12, 32, 32, 3]);
    let audio = st.tensor("audio").unwrap();
    assert_eq!(audio.shape(), &[4, 8000, 2]);
    let seeds = st.tensor("seeds").unwrap();
    assert_eq!(&seeds.data()[..8], &500u64.to_le_bytes());
    let records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&sa.shards[0].records).unwrap()).unwrap();
    assert_eq!(records.len(), 4);
    assert!(records[0]["captions"].as_array().unwrap().len() >= 4);
    assert!(base.join("a/manifest.json").exists());
    // Bad options are errors, not panics.
    assert!(write_dataset(&a, 0, 0, &opts()).is_err());
    let mut bad = opts();
    bad.shard_size = 0;
    assert!(write_dataset(&a, 3, 0, &bad).is_err());
    bad = opts();
    bad.random.fps = 500;
    assert!(write_dataset(&a, 3, 0, &bad)
        .unwrap_err()
        .to_string()
        .contains("fps"));
    let _ = std::fs::remove_dir_all(&base);
}
