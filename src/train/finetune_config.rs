//! `ssl-finetune`'s configuration: the tutorial's values as defaults, and the checks that refuse
//! settings that cannot work before anything is loaded.

use serde::{Deserialize, Serialize};

use super::config::{RunConfig, check_heads, check_pixdim, check_positive, train_loader};
use crate::data::{CacheMode, LoaderConfig};
use crate::error::{Error, Result};
use crate::metrics::BestMetric;
use crate::networks::UnetrConfig;
use crate::transforms::FinetuneTransforms;

/// `ssl-finetune` defaults: the tutorial's (docs/MONAI_COMPAT.md, "Fine-tuning tutorial").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// The crop and window size the model sees, declared once: the model's `img_size`, the
    /// transforms' `spatial_size` and the sliding window's `roi_size` follow it.
    pub roi_size: [usize; 3],
    /// Optimisation steps; epochs always run to their end, as in the tutorial.
    pub max_iterations: usize,
    /// Validate after the update whose 0-based iteration is a positive multiple of this (the
    /// tutorial: iterations 100, 200, …, 29900; none at the end).
    pub eval_num: usize,
    /// AdamW learning rate and decoupled weight decay (betas 0.9/0.999, eps 1e-8).
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Volumes per step; each gives `transforms.num_samples` (4) crops.
    pub volumes_per_batch: usize,
    /// A resumable checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    pub prefetch_batches: usize,
    pub best_metric: BestMetric,
    /// Compute HD95 (mm) per organ at each validation.
    pub hd95: bool,
    /// Where preprocessed volumes are kept (`{"mode": "none"|"ram"|"disk", "ram_budget_gib", "dir"}`).
    pub cache: CacheMode,
    pub sliding_window: crate::inferers::SlidingWindow,
    pub transforms: FinetuneTransforms,
    pub model: UnetrConfig,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            roi_size: [96; 3],
            max_iterations: 30_000,
            eval_num: 100,
            lr: 1e-4,
            weight_decay: 1e-5,
            seed: 0,
            volumes_per_batch: 1,
            checkpoint_every: 100,
            prefetch_batches: 2,
            best_metric: BestMetric::Tutorial,
            hd95: true,
            cache: CacheMode::default(),
            sliding_window: crate::inferers::SlidingWindow::default(),
            transforms: FinetuneTransforms::default(),
            model: UnetrConfig::tutorial(),
        }
    }
}

impl FinetuneConfig {
    /// Keys a resumed run may change (everything else must match the run's saved config): how
    /// long to run, when to checkpoint, the loader's look-ahead, and the two a diverging or slow
    /// run may need, the learning rate and the validation interval. A resume that changes any of
    /// them logs a `resume` record saying which, from what to what.
    pub const RESUMABLE: [&str; 5] = [
        "max_iterations",
        "checkpoint_every",
        "prefetch_batches",
        "lr",
        "eval_num",
    ];

    /// Refuses settings that cannot work: UNETR's fixed 16³ patches and skip blocks, and one
    /// size for the crops, the windows and the model.
    pub fn check(&self) -> Result<()> {
        let m = &self.model;
        if m.out_channels != self.transforms.num_classes {
            return Err(Error::InvalidArgument(format!(
                "model.out_channels {} must equal transforms.num_classes {}",
                m.out_channels, self.transforms.num_classes
            )));
        }
        if m.vit.patch_size != [16, 16, 16] {
            return Err(Error::InvalidArgument(format!(
                "model.vit.patch_size {:?}: UNETR's decoder upsamples by 16 (MONAI fixes 16³ patches)",
                m.vit.patch_size
            )));
        }
        let roi = self.roi_size;
        if [
            m.vit.img_size,
            self.transforms.spatial_size,
            self.sliding_window.roi_size,
        ] != [roi; 3]
        {
            return Err(Error::InvalidArgument(format!(
                "roi_size {roi:?}, model.vit.img_size {:?}, transforms.spatial_size {:?} and \
                 sliding_window.roi_size {:?} differ: set roi_size alone (the others follow it)",
                m.vit.img_size, self.transforms.spatial_size, self.sliding_window.roi_size
            )));
        }
        if m.vit.img_size.iter().any(|s| s % 16 != 0) || m.vit.num_layers < 10 {
            return Err(Error::InvalidArgument(format!(
                "model.vit: img_size {:?} must be multiples of 16 and num_layers ({}) at least 10 \
                 (UNETR takes skips from blocks 4, 7 and 10)",
                m.vit.img_size, m.vit.num_layers
            )));
        }
        check_heads(m.vit.hidden_size, m.vit.num_heads)?;
        check_pixdim(self.transforms.pixdim)?;
        check_positive("lr", self.lr)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "weight_decay {} must be a finite number, 0 or above",
                self.weight_decay
            )));
        }
        self.sliding_window.check()?;
        if self.max_iterations == 0 || self.eval_num == 0 || self.volumes_per_batch == 0 {
            return Err(Error::InvalidArgument(
                "max_iterations, eval_num and volumes_per_batch must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The training loader: shuffled, every batch kept.
    pub fn loader(&self) -> LoaderConfig {
        train_loader(self.volumes_per_batch, self.prefetch_batches, self.seed)
    }
}

impl RunConfig for FinetuneConfig {
    const ROI_FIELDS: &'static [&'static str] = &[
        "model.vit.img_size",
        "transforms.spatial_size",
        "sliding_window.roi_size",
    ];
}
