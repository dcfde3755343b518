//! The tutorial's three transform pipelines, built from JSON configs whose defaults are the
//! tutorial's values: `pretrain`, `finetune-train` and `finetune-val` (docs/MONAI_COMPAT.md,
//! "Pretraining transforms" and "Fine-tuning transforms"). Each is a deterministic prefix
//! (cacheable) and a random part seeded like MONAI's `Compose`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::coarse_holes::HoleSpec;
use super::compose::{Compose, OneOf, StageTimes, Transform};
use super::copy_items::CopyItemsd;
use super::crop_foreground::CropForegroundd;
use super::load_image::load_sample;
use super::meta::Sample;
use super::orientation::Orientationd;
use super::rand_coarse_dropout::RandCoarseDropoutd;
use super::rand_coarse_shuffle::RandCoarseShuffled;
use super::rand_crop_by_pos_neg_label::{FgBgToIndicesd, RandCropByPosNegLabeld};
use super::rand_flip::RandFlipd;
use super::rand_rotate90::RandRotate90d;
use super::rand_shift_intensity::RandShiftIntensityd;
use super::rand_spatial_crop_samples::RandSpatialCropSamplesd;
use super::scale_intensity_range::{ScaleIntensityRange, ScaleIntensityRanged};
use super::spacing::{Interp, Spacingd};
use super::spatial_pad::SpatialPadd;
use crate::error::{Error, Result};

/// Which pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PipelineKind {
    /// SSL pretraining: two augmented views and the ground truth per 96³ crop.
    Pretrain,
    /// BTCV fine-tuning training: 4 label-balanced crops with flips, rotations and shifts.
    FinetuneTrain,
    /// BTCV validation: the whole preprocessed volume.
    FinetuneVal,
}

/// The HU window, as `ScaleIntensityRanged` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub a_min: f64,
    pub a_max: f64,
    pub b_min: f64,
    pub b_max: f64,
    pub clip: bool,
}

impl Window {
    pub(crate) fn transform(&self) -> ScaleIntensityRange {
        ScaleIntensityRange {
            a_min: self.a_min,
            a_max: self.a_max,
            b_min: self.b_min,
            b_max: self.b_max,
            clip: self.clip,
        }
    }
}

/// SSL pretraining transforms. Defaults: the tutorial's `train_transforms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainTransforms {
    /// Target voxel size in mm (Spacingd, bilinear).
    pub pixdim: [f64; 3],
    pub window: Window,
    /// Pad to at least this, then crop patches of this size.
    pub patch_size: [usize; 3],
    /// Crops per volume (RandSpatialCropSamplesd).
    pub num_samples: usize,
    /// In-painting variant of RandCoarseDropoutd (holes filled with noise).
    pub inpaint: HoleSpec,
    /// Out-painting variant (everything but the holes replaced with noise).
    pub outpaint: HoleSpec,
    /// OneOf weights of [in-painting, out-painting].
    pub dropout_weights: [f64; 2],
    /// RandCoarseShuffled holes and probability (local pixel shuffling).
    pub shuffle: HoleSpec,
    pub shuffle_prob: f64,
    /// MONAI ≤ 1.5: each crop draws its own OneOf choice (the tutorial's intent). `false`: one
    /// choice per volume's list of crops, as MONAI 1.6 does.
    pub oneof_per_sample: bool,
}

impl Default for PretrainTransforms {
    fn default() -> Self {
        PretrainTransforms {
            pixdim: [2.0, 2.0, 2.0],
            window: Window {
                a_min: -57.0,
                a_max: 164.0,
                b_min: 0.0,
                b_max: 1.0,
                clip: true,
            },
            patch_size: [96, 96, 96],
            num_samples: 2,
            inpaint: HoleSpec {
                holes: 6,
                spatial_size: 5,
                max_spatial_size: Some(32),
                max_holes: None,
            },
            outpaint: HoleSpec {
                holes: 6,
                spatial_size: 20,
                max_spatial_size: Some(64),
                max_holes: None,
            },
            dropout_weights: [1.0, 1.0],
            shuffle: HoleSpec {
                holes: 10,
                spatial_size: 8,
                max_spatial_size: None,
                max_holes: None,
            },
            shuffle_prob: 0.8,
            oneof_per_sample: true,
        }
    }
}

/// BTCV fine-tuning transforms (training and validation). Defaults: the tutorial's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneTransforms {
    /// Target voxel size in mm (bilinear for the image, nearest for the label).
    pub pixdim: [f64; 3],
    pub window: Window,
    /// Crop size of RandCropByPosNegLabeld.
    pub spatial_size: [usize; 3],
    pub pos: f64,
    pub neg: f64,
    /// Crops per volume.
    pub num_samples: usize,
    /// Background crops are centred where the image is above this (inside the body).
    pub image_threshold: f32,
    /// RandFlipd probability, for each of the three axes.
    pub flip_prob: f64,
    pub rot90_prob: f64,
    pub rot90_max_k: usize,
    /// RandShiftIntensityd: offset range ±`shift_offset` with probability `shift_prob`.
    pub shift_offset: f64,
    pub shift_prob: f64,
    /// Labels must lie in `0..num_classes` (BTCV: 13 organs + background).
    pub num_classes: usize,
}

impl Default for FinetuneTransforms {
    fn default() -> Self {
        FinetuneTransforms {
            pixdim: [1.5, 1.5, 2.0],
            window: Window {
                a_min: -175.0,
                a_max: 250.0,
                b_min: 0.0,
                b_max: 1.0,
                clip: true,
            },
            spatial_size: [96, 96, 96],
            pos: 1.0,
            neg: 1.0,
            num_samples: 4,
            image_threshold: 0.0,
            flip_prob: 0.1,
            rot90_prob: 0.1,
            rot90_max_k: 3,
            shift_offset: 0.1,
            shift_prob: 0.5,
            num_classes: 14,
        }
    }
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

/// Reads a config file, layered over the defaults: unknown fields are an error naming them.
pub fn read_config<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::bad_file(path, format!("invalid config: {e}")))
}

/// What a dataset needs to rebuild a pipeline anywhere (one per worker): its kind and config.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineSpec {
    Pretrain(PretrainTransforms),
    Finetune {
        config: FinetuneTransforms,
        train: bool,
    },
}

impl PipelineSpec {
    pub fn from_config(kind: PipelineKind, config: Option<&Path>) -> Result<Self> {
        Ok(match kind {
            PipelineKind::Pretrain => {
                PipelineSpec::Pretrain(config.map(read_config).transpose()?.unwrap_or_default())
            }
            PipelineKind::FinetuneTrain | PipelineKind::FinetuneVal => PipelineSpec::Finetune {
                config: config.map(read_config).transpose()?.unwrap_or_default(),
                train: kind == PipelineKind::FinetuneTrain,
            },
        })
    }

    pub fn build(&self) -> Pipeline {
        match self {
            PipelineSpec::Pretrain(c) => Pipeline::pretrain(c),
            PipelineSpec::Finetune { config, train } => Pipeline::finetune(config, *train),
        }
    }

    /// Everything the deterministic prefix (load → preprocess) depends on, as a stable string:
    /// a cache keyed by it is invalidated exactly when the cached result would change.
    pub(crate) fn deterministic_key(&self) -> String {
        let v = match self {
            PipelineSpec::Pretrain(c) => serde_json::json!({
                "pipeline": "pretrain", "pixdim": c.pixdim, "window": c.window, "patch_size": c.patch_size,
            }),
            PipelineSpec::Finetune { config: c, train } => serde_json::json!({
                "pipeline": "finetune", "pixdim": c.pixdim, "window": c.window, "num_classes": c.num_classes,
                "fg_bg_threshold": train.then_some(c.image_threshold),
            }),
        };
        format!("ssl3d-{}:{v}", env!("CARGO_PKG_VERSION"))
    }

    pub(crate) fn needs_label(&self) -> bool {
        matches!(self, PipelineSpec::Finetune { .. })
    }
}

/// A built pipeline: load, deterministic prefix, random part.
pub struct Pipeline {
    pub kind: PipelineKind,
    deterministic: Compose,
    random: Compose,
    num_classes: Option<usize>,
    /// Built for images without labels (`ssl-segment`), whatever the kind.
    image_only: bool,
}

impl Pipeline {
    pub fn pretrain(cfg: &PretrainTransforms) -> Self {
        let img = || keys(&["image"]);
        let deterministic: Vec<Box<dyn Transform>> = vec![
            Box::new(Spacingd {
                keys: vec![("image".into(), Interp::Bilinear)],
                pixdim: cfg.pixdim,
            }),
            Box::new(ScaleIntensityRanged {
                keys: img(),
                params: cfg.window.transform(),
            }),
            Box::new(CropForegroundd {
                keys: img(),
                source_key: "image".into(),
            }),
            Box::new(SpatialPadd {
                keys: img(),
                spatial_size: cfg.patch_size,
            }),
        ];
        let view = |key: &str| -> Vec<Box<dyn Transform>> {
            vec![
                Box::new(OneOf::new(
                    vec![
                        Box::new(RandCoarseDropoutd::new(
                            keys(&[key]),
                            1.0,
                            cfg.inpaint,
                            true,
                        )),
                        Box::new(RandCoarseDropoutd::new(
                            keys(&[key]),
                            1.0,
                            cfg.outpaint,
                            false,
                        )),
                    ],
                    cfg.dropout_weights.to_vec(),
                    cfg.oneof_per_sample,
                )),
                Box::new(RandCoarseShuffled::new(
                    keys(&[key]),
                    cfg.shuffle_prob,
                    cfg.shuffle,
                )),
            ]
        };
        let mut random: Vec<Box<dyn Transform>> = vec![
            Box::new(RandSpatialCropSamplesd::new(
                img(),
                cfg.patch_size,
                cfg.num_samples,
            )),
            Box::new(CopyItemsd {
                key: "image".into(),
                names: keys(&["gt_image", "image_2"]),
            }),
        ];
        random.extend(view("image"));
        random.extend(view("image_2"));
        Pipeline {
            kind: PipelineKind::Pretrain,
            deterministic: Compose::new(deterministic),
            random: Compose::new(random),
            num_classes: None,
            image_only: true,
        }
    }

    pub fn finetune(cfg: &FinetuneTransforms, train: bool) -> Self {
        let both = || keys(&["image", "label"]);
        let mut deterministic: Vec<Box<dyn Transform>> = vec![
            Box::new(Orientationd { keys: both() }),
            Box::new(Spacingd {
                keys: vec![
                    ("image".into(), Interp::Bilinear),
                    ("label".into(), Interp::Nearest),
                ],
                pixdim: cfg.pixdim,
            }),
            Box::new(ScaleIntensityRanged {
                keys: keys(&["image"]),
                params: cfg.window.transform(),
            }),
            Box::new(CropForegroundd {
                keys: both(),
                source_key: "image".into(),
            }),
        ];
        if train {
            deterministic.push(Box::new(FgBgToIndicesd {
                label_key: "label".into(),
                image_key: Some("image".into()),
                image_threshold: cfg.image_threshold,
            }));
        }
        let random: Vec<Box<dyn Transform>> = if train {
            vec![
                Box::new(RandCropByPosNegLabeld::new(
                    both(),
                    "label".into(),
                    Some("image".into()),
                    cfg.spatial_size,
                    cfg.pos,
                    cfg.neg,
                    cfg.num_samples,
                    cfg.image_threshold,
                )),
                Box::new(RandFlipd::new(both(), 0, cfg.flip_prob)),
                Box::new(RandFlipd::new(both(), 1, cfg.flip_prob)),
                Box::new(RandFlipd::new(both(), 2, cfg.flip_prob)),
                Box::new(RandRotate90d::new(
                    both(),
                    cfg.rot90_prob,
                    cfg.rot90_max_k,
                    (0, 1),
                )),
                Box::new(RandShiftIntensityd::new(
                    keys(&["image"]),
                    cfg.shift_offset,
                    cfg.shift_prob,
                )),
            ]
        } else {
            Vec::new()
        };
        Pipeline {
            kind: if train {
                PipelineKind::FinetuneTrain
            } else {
                PipelineKind::FinetuneVal
            },
            deterministic: Compose::new(deterministic),
            random: Compose::new(random),
            num_classes: Some(cfg.num_classes),
            image_only: false,
        }
    }

    /// Fine-tuning's validation transforms on an image alone (a new scan has no label): the same
    /// orientation, spacing, window and foreground crop, so the model sees what it saw in
    /// validation.
    pub(crate) fn finetune_images(cfg: &FinetuneTransforms) -> Self {
        let image = || keys(&["image"]);
        let deterministic: Vec<Box<dyn Transform>> = vec![
            Box::new(Orientationd { keys: image() }),
            Box::new(Spacingd {
                keys: vec![("image".into(), Interp::Bilinear)],
                pixdim: cfg.pixdim,
            }),
            Box::new(ScaleIntensityRanged {
                keys: image(),
                params: cfg.window.transform(),
            }),
            Box::new(CropForegroundd {
                keys: image(),
                source_key: "image".into(),
            }),
        ];
        Pipeline {
            kind: PipelineKind::FinetuneVal,
            deterministic: Compose::new(deterministic),
            random: Compose::new(Vec::new()),
            num_classes: None,
            image_only: true,
        }
    }

    /// Builds `kind` from an optional config file (defaults: the tutorial).
    pub fn from_config(kind: PipelineKind, config: Option<&Path>) -> Result<Self> {
        Ok(PipelineSpec::from_config(kind, config)?.build())
    }

    pub(crate) fn needs_label(&self) -> bool {
        self.kind != PipelineKind::Pretrain && !self.image_only
    }

    /// `LoadImaged` + `EnsureChannelFirstd` for this pipeline's keys.
    pub fn load(&self, image: &Path, label: Option<&Path>) -> Result<Sample> {
        match (self.needs_label(), label) {
            (true, None) => Err(Error::bad_file(
                image,
                "this pipeline needs a label map (--label)",
            )),
            (false, _) => load_sample(image, None, None),
            (true, Some(l)) => load_sample(image, Some(l), self.num_classes),
        }
    }

    /// The deterministic prefix (what a cache keeps).
    pub fn preprocess(&mut self, sample: Sample) -> Result<Sample> {
        let mut out = self.deterministic.run(sample)?;
        Ok(out.remove(0))
    }

    /// The random part on a preprocessed sample.
    pub fn augment(&mut self, sample: Sample) -> Result<Vec<Sample>> {
        self.random.run(sample)
    }

    /// The random part on a borrowed preprocessed sample (a cache entry is not copied first).
    pub(crate) fn augment_ref(&mut self, sample: &Sample) -> Result<Vec<Sample>> {
        self.random.run_ref(sample)
    }

    /// `Compose.set_random_state(seed)` on the whole pipeline (only random transforms take seeds).
    pub fn set_random_state(&mut self, seed: u32) {
        self.random.set_random_state(seed);
    }

    /// Load → preprocess → augment, with the wall time of loading and of each transform.
    pub(crate) fn run_timed(
        &mut self,
        image: &Path,
        label: Option<&Path>,
    ) -> Result<(Vec<Sample>, StageTimes)> {
        let start = std::time::Instant::now();
        let s = self.load(image, label)?;
        let mut times = vec![("LoadImaged", start.elapsed())];
        let (mut s, t) = self.deterministic.run_timed(s)?;
        times.extend(t);
        let (out, t) = self.random.run_timed(s.remove(0))?;
        times.extend(t);
        Ok((out, times))
    }

    /// Load → preprocess → augment.
    pub fn run(&mut self, image: &Path, label: Option<&Path>) -> Result<Vec<Sample>> {
        let s = self.load(image, label)?;
        let s = self.preprocess(s)?;
        self.augment(s)
    }
}
