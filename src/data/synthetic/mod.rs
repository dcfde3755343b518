//! Synthetic CT phantoms, so every part of ssl3d runs and is tested offline, and a user can try it
//! before they have data: an unlabelled chest set in the TCIA-COVID19 style (pretraining) and a
//! labelled abdomen set in the BTCV convention (fine-tuning), with MONAI-format datalists that
//! mirror the tutorial's. Deterministic: the same seed gives byte-identical files.

pub mod anatomy;
pub mod geometry;
pub mod phantom;
pub mod radiograph;
pub mod report_corpus;
pub mod reports;

use std::path::{Path, PathBuf};

use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde_json::json;

use self::anatomy::Trunk;
use self::phantom::Grid;
use super::btcv::BTCV_CLASSES;
use crate::error::{Error, Result};
use crate::io::{Affine, write_json_atomic, write_volume};

/// Volume size: `tiny` for tests and the CPU demo, `full` for benchmarks (512² like clinical CT).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SynthSize {
    /// 64×64×32 voxels.
    Tiny,
    /// 192×192×64 voxels.
    Small,
    /// 512×512×100–140 voxels.
    Full,
}

/// How much of the lungs a chest's findings take. `Focal`: lesions 24–80 mm across, the pretraining
/// chests'. `Extensive`: the same lesions (same draws, places and kinds) with 20 mm more radius, as
/// widespread ground-glass in COVID-19 pneumonia — on tiny phantoms, large enough for an image
/// encoder trained from scratch to see them (docs/CONVIRT.md, "Running on the synthetic corpus").
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Involvement {
    #[default]
    Focal,
    Extensive,
}

impl Involvement {
    /// Added to each lesion's drawn radius (mm).
    pub fn extra_radius_mm(self) -> f64 {
        match self {
            Involvement::Focal => 0.0,
            Involvement::Extensive => 20.0,
        }
    }
}

/// Which phantom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhantomKind {
    /// Unlabelled chest CT with lung lesions (TCIA-COVID19 style).
    Chest,
    /// Labelled abdominal CT, BTCV labels 0–13.
    Abdomen,
}

/// One generated volume: HU stored as int16 (as scanners write), optional labels, the affine.
pub struct SyntheticVolume {
    pub hu: Array3<i16>,
    pub labels: Option<Array3<u8>>,
    pub affine: Affine,
}

fn volume_seed(seed: u64, kind: PhantomKind, number: u32) -> u64 {
    // SplitMix64 of the triple: volumes do not depend on how many others are generated.
    let mut z = seed
        .wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(number as u64 + 1))
        .wrapping_add(match kind {
            PhantomKind::Chest => 0x1234_5678,
            PhantomKind::Abdomen => 0x8765_4321,
        });
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generates one phantom volume (number `number` of its kind) deterministically from `seed`.
pub fn synthesize(kind: PhantomKind, size: SynthSize, seed: u64, number: u32) -> SyntheticVolume {
    build(kind, size, seed, number, Some(Involvement::Focal)).0
}

/// A chest volume with its findings, for image–report pairs: about `normal_share` of the numbers
/// give a normal chest, the others [`synthesize`]'s chest volume of that number (with `Focal`
/// involvement; `Extensive` grows its lesions).
pub fn synthesize_chest_with_findings(
    size: SynthSize,
    seed: u64,
    number: u32,
    normal_share: f64,
    involvement: Involvement,
) -> (SyntheticVolume, Vec<reports::Finding>) {
    let draw = super::seeding::mix(volume_seed(seed, PhantomKind::Chest, number) ^ 0x4E4F_524D);
    let normal = ((draw >> 11) as f64 / (1u64 << 53) as f64) < normal_share;
    build(
        PhantomKind::Chest,
        size,
        seed,
        number,
        (!normal).then_some(involvement),
    )
}

/// One volume, with the chest's lesions as `lesions` says (`None`: a normal chest; the abdomen has
/// no findings).
fn build(
    kind: PhantomKind,
    size: SynthSize,
    seed: u64,
    number: u32,
    lesions: Option<Involvement>,
) -> (SyntheticVolume, Vec<reports::Finding>) {
    let vseed = volume_seed(seed, kind, number);
    let mut rng = StdRng::seed_from_u64(vseed);
    let (n_xy, n_z) = match size {
        SynthSize::Tiny => (64, 32),
        SynthSize::Small => (192, 64),
        SynthSize::Full => (512, rng.random_range(100..=140)),
    };
    let fov = rng.random_range(350.0..460.0);
    let s_xy = fov / n_xy as f64;
    let (extent, z_centre) = match kind {
        PhantomKind::Abdomen => (rng.random_range(230.0..300.0), rng.random_range(-25.0..5.0)),
        PhantomKind::Chest => (
            rng.random_range(260.0..330.0),
            rng.random_range(-45.0..-15.0),
        ),
    };
    let s_z = extent / n_z as f64;
    let a = fov * rng.random_range(0.33..0.41);
    let trunk = Trunk {
        a,
        b: a * rng.random_range(0.68..0.8),
        z_lo: z_centre - extent / 2.0,
        z_hi: z_centre + extent / 2.0,
    };
    let shift = [rng.random_range(-15.0..15.0), rng.random_range(-20.0..10.0)];
    // LPS-stored voxels seen in RAS world, as DICOM-converted CT usually is: x and y axes flipped.
    let diag = [-s_xy, -s_xy, s_z];
    let centre = [
        (n_xy as f64 - 1.0) / 2.0,
        (n_xy as f64 - 1.0) / 2.0,
        (n_z as f64 - 1.0) / 2.0,
    ];
    let offset = [shift[0], shift[1], z_centre];
    let mut affine = crate::io::affine::identity();
    for r in 0..3 {
        affine[r][r] = diag[r];
        affine[r][3] = offset[r] - diag[r] * centre[r];
    }
    let grid = Grid {
        shape: [n_xy, n_xy, n_z],
        affine,
        origin: [0.0, 0.0, 0.0],
    };
    let (phantom, findings) = match kind {
        PhantomKind::Chest => anatomy::chest_with_findings(&mut rng, &trunk, lesions),
        PhantomKind::Abdomen => (anatomy::abdomen(&mut rng, &trunk), Vec::new()),
    };
    let (hu, labels) = phantom.render(&grid, vseed);
    let volume = SyntheticVolume {
        hu,
        labels: (kind == PhantomKind::Abdomen).then_some(labels),
        affine,
    };
    (volume, findings)
}

/// What `ssl-data synth` generates.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Data directory: `tcia/` and `btcv/` are created under it.
    pub out_dir: PathBuf,
    /// Where the datalists go (`tcia/dataset_split.json`, `btcv/dataset_0*.json`).
    pub json_dir: PathBuf,
    pub seed: u64,
    pub size: SynthSize,
    /// Chest volumes, split like TCIA's 600/171.
    pub chest_count: usize,
    /// Labelled abdominal training volumes (BTCV `dataset_0.json` has 24).
    pub labelled: usize,
    /// Labelled abdominal validation volumes (BTCV: 6, the same in every split).
    pub validation: usize,
}

/// BTCV's training order in `dataset_0.json` (img0001–0010, then 0021–0034), continued past 40.
fn btcv_train_numbers(n: usize) -> Vec<u32> {
    (1..=10).chain(21..=34).chain(41..).take(n).collect()
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_json_atomic(value, path)
}

/// Paths of everything [`generate`] wrote.
#[derive(Debug, Default)]
pub struct SynthOutput {
    pub images: Vec<PathBuf>,
    pub labels: Vec<PathBuf>,
    pub datalists: Vec<PathBuf>,
}

/// Writes the chest and abdomen sets and their datalists. Calls `progress` after each volume.
pub fn generate(opts: &SynthOptions, progress: &(dyn Fn() + Sync)) -> Result<SynthOutput> {
    if opts.chest_count < 2 {
        return Err(Error::InvalidArgument(
            "--count must be at least 2 (one training and one validation chest volume)".into(),
        ));
    }
    if opts.labelled == 0 || opts.validation == 0 {
        return Err(Error::InvalidArgument(
            "--labelled and --validation must be at least 1".into(),
        ));
    }
    let tcia = opts.out_dir.join("tcia");
    let btcv = opts.out_dir.join("btcv");
    // Chest: TCIA's 600 train / 171 validation ratio, at least one of each.
    let n_train =
        ((opts.chest_count as f64 * 600.0 / 771.0).round() as usize).clamp(1, opts.chest_count - 1);
    let chest_rel: Vec<String> = (1..=opts.chest_count)
        .map(|n| format!("data/volume-covid19-synth-{n:04}.nii.gz"))
        .collect();
    let train_nums = btcv_train_numbers(opts.labelled);
    let val_nums: Vec<u32> = (35..35 + opts.validation as u32).collect();
    let abdomen_nums: Vec<u32> = train_nums.iter().chain(&val_nums).copied().collect();

    enum Job {
        Chest(u32, PathBuf),
        Abdomen(u32, PathBuf, PathBuf),
    }
    let mut jobs: Vec<Job> = chest_rel
        .iter()
        .enumerate()
        .map(|(i, rel)| Job::Chest(i as u32 + 1, tcia.join(rel)))
        .collect();
    jobs.extend(abdomen_nums.iter().map(|&n| {
        Job::Abdomen(
            n,
            btcv.join(format!("imagesTr/img{n:04}.nii.gz")),
            btcv.join(format!("labelsTr/label{n:04}.nii.gz")),
        )
    }));
    jobs.par_iter().try_for_each(|job| {
        match job {
            Job::Chest(n, path) => {
                let v = synthesize(PhantomKind::Chest, opts.size, opts.seed, *n);
                write_volume(path, &v.hu, &v.affine)?;
            }
            Job::Abdomen(n, img, lab) => {
                let v = synthesize(PhantomKind::Abdomen, opts.size, opts.seed, *n);
                write_volume(img, &v.hu, &v.affine)?;
                write_volume(
                    lab,
                    v.labels.as_ref().expect("abdomen is labelled"),
                    &v.affine,
                )?;
            }
        }
        progress();
        Ok::<(), Error>(())
    })?;

    let mut out = SynthOutput::default();
    for job in &jobs {
        match job {
            Job::Chest(_, p) => out.images.push(p.clone()),
            Job::Abdomen(_, i, l) => {
                out.images.push(i.clone());
                out.labels.push(l.clone());
            }
        }
    }
    let entries = |list: &[String]| -> Vec<serde_json::Value> {
        list.iter().map(|p| json!({ "image": p })).collect()
    };
    let split = json!({
        "training": entries(&chest_rel[..n_train]),
        "validation": entries(&chest_rel[n_train..]),
    });
    let p = opts.json_dir.join("tcia/dataset_split.json");
    write_json(&p, &split)?;
    out.datalists.push(p);

    let pair = |n: &u32| {
        json!({
            "image": format!("imagesTr/img{n:04}.nii.gz"),
            "label": format!("labelsTr/label{n:04}.nii.gz"),
        })
    };
    let labels: serde_json::Map<String, serde_json::Value> = BTCV_CLASSES
        .iter()
        .enumerate()
        .map(|(i, name)| (i.to_string(), json!(name)))
        .collect();
    for (file, n) in [
        ("dataset_0.json", train_nums.len()),
        ("dataset_0_init_12.json", train_nums.len().min(12)),
        ("dataset_0_init_6.json", train_nums.len().min(6)),
        // Smaller nested splits for studies of how Dice grows with labelled volumes.
        ("dataset_0_init_4.json", train_nums.len().min(4)),
        ("dataset_0_init_2.json", train_nums.len().min(2)),
    ] {
        let list = json!({
            "description": "ssl3d synthetic abdominal CT phantoms in the BTCV label convention",
            "labels": labels,
            "licence": "generated by ssl3d",
            "modality": { "0": "CT" },
            "name": "btcv-synthetic",
            "numTest": 0,
            "numTraining": train_nums.len() + val_nums.len(),
            "reference": "ssl3d data::synthetic",
            "release": env!("CARGO_PKG_VERSION"),
            "tensorImageSize": "3D",
            "test": [],
            "training": train_nums[..n].iter().map(pair).collect::<Vec<_>>(),
            "validation": val_nums.iter().map(pair).collect::<Vec<_>>(),
        });
        let p = opts.json_dir.join("btcv").join(file);
        write_json(&p, &list)?;
        out.datalists.push(p);
    }
    Ok(out)
}
