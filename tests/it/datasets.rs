//! Datasets and the loader: the three cache modes give identical batches, the disk cache survives
//! restarts and recovers from corruption, batches do not depend on scheduling, an epoch restarts
//! identically, and bad input stops the loader with the file named (no hang, nothing skipped).

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ssl3d::data::synthetic::{SynthOptions, SynthSize, generate};
use ssl3d::data::{CacheMode, LoaderConfig, Split, VolumeDataset, epoch_batches, load_datalist};
use ssl3d::transforms::pipelines::PipelineSpec;
use ssl3d::transforms::{FinetuneTransforms, PretrainTransforms, wsum};

/// Tiny synthetic data with small pipelines, so debug-build tests stay quick.
fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = common::scratch(name);
    let opts = SynthOptions {
        out_dir: dir.join("data"),
        json_dir: dir.join("json"),
        seed: 11,
        size: SynthSize::Tiny,
        chest_count: 6,
        labelled: 3,
        validation: 1,
    };
    generate(&opts, &|| {}).unwrap();
    (dir.join("data"), dir.join("json"))
}

fn pretrain_spec() -> PipelineSpec {
    PipelineSpec::Pretrain(PretrainTransforms {
        pixdim: [6.0, 6.0, 8.0],
        patch_size: [32, 32, 16],
        ..Default::default()
    })
}

fn pretrain_items(data: &Path, json: &Path) -> Vec<ssl3d::data::DataItem> {
    load_datalist(
        &json.join("tcia/dataset_split.json"),
        Split::Training,
        Some(&data.join("tcia")),
        false,
    )
    .unwrap()
}

fn cfg(volumes: usize) -> LoaderConfig {
    LoaderConfig {
        volumes_per_batch: volumes,
        shuffle: true,
        drop_last: false,
        prefetch: 2,
        run_seed: 42,
        shard: ssl3d::data::shard::Shard::WHOLE,
    }
}

/// A batch reduced to its items and, per key, shape and checksum.
type BatchPrint = (Vec<usize>, Vec<(String, Vec<usize>, f64)>);

/// Every batch of an epoch reduced to (items, per-key shape and checksum).
fn fingerprint(ds: Arc<VolumeDataset>, c: LoaderConfig, epoch: u64) -> Vec<BatchPrint> {
    epoch_batches(ds, c, epoch)
        .map(|b| {
            let b = b.unwrap();
            let keys = b
                .tensors
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        t.shape().to_vec(),
                        t.iter()
                            .enumerate()
                            .map(|(j, &v)| ((j % 1009) + 1) as f64 * v as f64)
                            .sum(),
                    )
                })
                .collect();
            (b.items, keys)
        })
        .collect()
}

#[test]
fn cache_modes_give_identical_batches_and_the_disk_cache_survives() {
    let (data, json) = setup("ds_cache_modes");
    let items = pretrain_items(&data, &json);
    let n = items.len();
    let none =
        Arc::new(VolumeDataset::new(items.clone(), pretrain_spec(), CacheMode::None).unwrap());
    let ram = Arc::new(
        VolumeDataset::new(
            items.clone(),
            pretrain_spec(),
            CacheMode::Ram {
                budget_bytes: 1 << 30,
            },
        )
        .unwrap(),
    );
    let cache_dir = data.join("../cache");
    let disk = Arc::new(
        VolumeDataset::new(
            items.clone(),
            pretrain_spec(),
            CacheMode::Disk {
                dir: Some(cache_dir.clone()),
            },
        )
        .unwrap(),
    );
    ram.load_all().unwrap();
    disk.load_all().unwrap();
    let reference = fingerprint(none, cfg(2), 0);
    assert_eq!(reference.len(), n.div_ceil(2));
    // Volume-major: 2 volumes × 2 crops, (B, C, X, Y, Z).
    let (_, keys) = &reference[0];
    assert_eq!(
        keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["gt_image", "image", "image_2"]
    );
    assert_eq!(keys[0].1, [4, 1, 32, 32, 16]);
    assert_eq!(fingerprint(ram, cfg(2), 0), reference);
    assert_eq!(fingerprint(disk.clone(), cfg(2), 0), reference);
    let files: Vec<PathBuf> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), n, "one cache file per volume");
    // A new run over the same directory reads the entries back; a corrupt one is recomputed.
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() / 2]).unwrap();
    let again = Arc::new(
        VolumeDataset::new(
            items.clone(),
            pretrain_spec(),
            CacheMode::Disk {
                dir: Some(cache_dir.clone()),
            },
        )
        .unwrap(),
    );
    assert_eq!(fingerprint(again, cfg(2), 0), reference);
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        bytes,
        "the corrupt entry was rewritten"
    );
    // A different deterministic config gets its own entries.
    let other = PipelineSpec::Pretrain(PretrainTransforms {
        pixdim: [7.0, 7.0, 8.0],
        patch_size: [32, 32, 16],
        ..Default::default()
    });
    VolumeDataset::new(
        items,
        other,
        CacheMode::Disk {
            dir: Some(cache_dir.clone()),
        },
    )
    .unwrap()
    .load_all()
    .unwrap();
    assert_eq!(std::fs::read_dir(&cache_dir).unwrap().count(), 2 * n);
}

#[test]
fn batches_depend_only_on_seed_epoch_and_item() {
    let (data, json) = setup("ds_determinism");
    let items = pretrain_items(&data, &json);
    let ds = Arc::new(
        VolumeDataset::new(
            items.clone(),
            pretrain_spec(),
            CacheMode::Ram {
                budget_bytes: 1 << 30,
            },
        )
        .unwrap(),
    );
    let epoch1 = fingerprint(ds.clone(), cfg(2), 1);
    // Computed one item at a time, in order, on this thread: the same batches.
    let order = ssl3d::data::seeding::epoch_order(ds.len(), 42, 1, true);
    for (b, (items, keys)) in epoch1.iter().enumerate() {
        assert_eq!(items, &order[2 * b..(2 * b + 2).min(order.len())]);
        let samples: Vec<_> = items
            .iter()
            .flat_map(|&i| ds.get(i, 42, 1).unwrap())
            .collect();
        for (k, _, w) in keys {
            let total: f64 = samples
                .iter()
                .enumerate()
                .map(|(s, smp)| {
                    // wsum of the stacked tensor = sum over samples with the index offset.
                    let d = &smp.get(k).unwrap().data;
                    let off = s * d.len();
                    d.iter()
                        .enumerate()
                        .map(|(j, &v)| (((off + j) % 1009) + 1) as f64 * v as f64)
                        .sum::<f64>()
                })
                .sum();
            assert!((total - w).abs() <= 1e-9 * w.abs(), "batch {b} {k}");
        }
    }
    // A restart at the epoch boundary (fresh dataset and loader) sees the same epoch.
    let fresh = Arc::new(VolumeDataset::new(items, pretrain_spec(), CacheMode::None).unwrap());
    assert_eq!(fingerprint(fresh, cfg(2), 1), epoch1);
    assert_ne!(
        fingerprint(ds.clone(), cfg(2), 2),
        epoch1,
        "another epoch, other augmentations"
    );
    let single = ds.get(0, 42, 1).unwrap();
    assert_eq!(
        wsum(&single[0].get("image").unwrap().data),
        wsum(&ds.get(0, 42, 1).unwrap()[0].get("image").unwrap().data)
    );
}

#[test]
fn fine_tuning_batches_and_bad_input() {
    let (data, json) = setup("ds_finetune");
    let items = load_datalist(
        &json.join("btcv/dataset_0.json"),
        Split::Training,
        Some(&data.join("btcv")),
        true,
    )
    .unwrap();
    let spec = PipelineSpec::Finetune {
        config: FinetuneTransforms {
            pixdim: [6.0, 6.0, 8.0],
            spatial_size: [16, 16, 8],
            ..Default::default()
        },
        train: true,
    };
    let ds = Arc::new(VolumeDataset::new(items.clone(), spec.clone(), CacheMode::None).unwrap());
    let batches: Vec<_> = epoch_batches(ds, cfg(1), 0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), items.len());
    assert_eq!(batches[0].tensors["image"].shape(), [4, 1, 16, 16, 8]);
    assert_eq!(batches[0].tensors["label"].shape(), [4, 1, 16, 16, 8]);
    // RAM-cached samples carry precomputed foreground/background indices (FgBgToIndicesd); disk
    // entries do not and recompute them: the batches are the same.
    let ram = Arc::new(
        VolumeDataset::new(
            items.clone(),
            spec.clone(),
            CacheMode::Ram {
                budget_bytes: 1 << 30,
            },
        )
        .unwrap(),
    );
    let disk = Arc::new(
        VolumeDataset::new(
            items.clone(),
            spec.clone(),
            CacheMode::Disk {
                dir: Some(data.join("../ft_cache")),
            },
        )
        .unwrap(),
    );
    assert!(ram.preprocessed(0).unwrap().fg_bg.is_some());
    disk.load_all().unwrap();
    assert!(
        disk.preprocessed(0).unwrap().fg_bg.is_none(),
        "entries read back from disk carry no indices, so the cropper recomputes them"
    );
    assert_eq!(fingerprint(ram, cfg(1), 3), fingerprint(disk, cfg(1), 3));
    // The RAM budget is checked before any work, with the numbers.
    let err = VolumeDataset::new(
        items.clone(),
        spec.clone(),
        CacheMode::Ram { budget_bytes: 1000 },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("GiB") && err.contains("budget"), "{err}");
    // A file that disappears mid-run stops the epoch with its name, without hanging.
    let ds = Arc::new(VolumeDataset::new(items.clone(), spec.clone(), CacheMode::None).unwrap());
    std::fs::remove_file(items[1].label.clone().unwrap()).unwrap();
    let results: Vec<_> = epoch_batches(
        ds,
        LoaderConfig {
            shuffle: false,
            ..cfg(1)
        },
        0,
    )
    .collect();
    assert!(results[0].is_ok());
    let err = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("an error")
        .to_string();
    assert!(err.contains("label0002.nii.gz"), "{err}");
    assert!(
        results.last().unwrap().is_err(),
        "the epoch ends at the error"
    );
    // And the datalist check at creation reports it up front.
    let err = VolumeDataset::new(items, spec, CacheMode::None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("label0002.nii.gz"), "{err}");
}

#[test]
fn two_runs_can_share_a_disk_cache() {
    let (data, json) = setup("ds_shared_cache");
    let items = pretrain_items(&data, &json);
    let dir = data.join("../shared_cache");
    let reference = fingerprint(
        Arc::new(VolumeDataset::new(items.clone(), pretrain_spec(), CacheMode::None).unwrap()),
        cfg(2),
        0,
    );
    // Two "runs" fill the same directory at the same time; entries are written atomically, so
    // neither ever reads a half-written file.
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (items, dir) = (items.clone(), dir.clone());
            s.spawn(move || {
                let ds =
                    VolumeDataset::new(items, pretrain_spec(), CacheMode::Disk { dir: Some(dir) })
                        .unwrap();
                ds.load_all().unwrap();
            });
        }
    });
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names.len(),
        items.len(),
        "no temporary files left: {names:?}"
    );
    let third = Arc::new(
        VolumeDataset::new(items, pretrain_spec(), CacheMode::Disk { dir: Some(dir) }).unwrap(),
    );
    assert_eq!(fingerprint(third, cfg(2), 0), reference);
}
