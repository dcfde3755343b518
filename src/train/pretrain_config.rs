//! `ssl-pretrain`'s configuration: the tutorial's values as defaults, and the checks that refuse
//! settings that cannot work before anything is loaded.

use serde::{Deserialize, Serialize};

use super::config::{RunConfig, check_heads, check_pixdim, check_positive, train_loader};
use crate::data::{CacheMode, LoaderConfig};
use crate::error::{Error, Result};
use crate::networks::VitAutoEncConfig;
use crate::transforms::PretrainTransforms;

/// How validation draws its augmentations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// The tutorial: the random training transforms on a shuffled validation loader.
    Tutorial,
    /// A fixed seed per item and no shuffling, so validation curves compare between runs.
    Deterministic,
}

/// `ssl-pretrain` defaults: the tutorial's code (docs/MONAI_COMPAT.md, "Pretraining
/// tutorial"). The tutorial's README says 300
/// epochs and temperature 0.005; its code uses 500 and 0.05 (0.005 overflows to NaN in MONAI).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainConfig {
    /// The crop size the model sees, declared once: the model's `img_size` and the transforms'
    /// `patch_size` follow it.
    pub roi_size: [usize; 3],
    pub max_epochs: usize,
    /// Validate when `epoch % val_interval == 0` (0-based, as the tutorial).
    pub val_interval: usize,
    /// Volumes per batch; each gives `transforms.num_samples` crops (tutorial: 4 × 2 = 8).
    pub volumes_per_batch: usize,
    /// Adam learning rate (betas 0.9/0.999, eps 1e-8, no weight decay).
    pub lr: f64,
    /// ContrastiveLoss temperature.
    pub temperature: f64,
    pub seed: u64,
    pub validation: ValidationMode,
    /// Checkpoint every this many steps (and at each epoch end); 0: at epoch ends only.
    pub checkpoint_every: usize,
    /// Batches prepared ahead of the training step.
    pub prefetch_batches: usize,
    /// Where preprocessed volumes are kept (`{"mode": "none"|"ram"|"disk", "ram_budget_gib", "dir"}`).
    pub cache: CacheMode,
    pub transforms: PretrainTransforms,
    pub model: VitAutoEncConfig,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            roi_size: [96; 3],
            max_epochs: 500,
            val_interval: 2,
            volumes_per_batch: 4,
            lr: 1e-4,
            temperature: 0.05,
            seed: 123,
            validation: ValidationMode::Tutorial,
            checkpoint_every: 100,
            prefetch_batches: 2,
            cache: CacheMode::default(),
            transforms: PretrainTransforms::default(),
            model: VitAutoEncConfig::tutorial(),
        }
    }
}

impl PretrainConfig {
    /// Keys a resumed run may change (everything else must match the run's saved config): how
    /// long to run, when to checkpoint, the loader's look-ahead, and the two a diverging or slow
    /// run may need, the learning rate and the validation interval. A resume that changes any of
    /// them logs a `resume` record saying which, from what to what.
    pub const RESUMABLE: [&str; 5] = [
        "max_epochs",
        "checkpoint_every",
        "prefetch_batches",
        "lr",
        "val_interval",
    ];

    /// Refuses settings that cannot work: the model and the transforms must agree on the crop
    /// size, and ViTAutoEnc needs square patch sizes.
    pub fn check(&self) -> Result<()> {
        let vit = &self.model.vit;
        if vit.img_size != self.roi_size || self.transforms.patch_size != self.roi_size {
            return Err(Error::InvalidArgument(format!(
                "roi_size {:?}, model.vit.img_size {:?} and transforms.patch_size {:?} differ: set \
                 roi_size alone (the others follow it)",
                self.roi_size, vit.img_size, self.transforms.patch_size
            )));
        }
        for d in 0..3 {
            let p = vit.patch_size[d];
            let r = (p as f64).sqrt().round() as usize;
            if p == 0 || r * r != p || !vit.img_size[d].is_multiple_of(p) {
                return Err(Error::InvalidArgument(format!(
                    "model.vit.patch_size {:?}: each must be a perfect square (ViTAutoEnc's transposed \
                     convolutions use its root) dividing img_size {:?}",
                    vit.patch_size, vit.img_size
                )));
            }
        }
        check_heads(vit.hidden_size, vit.num_heads)?;
        check_pixdim(self.transforms.pixdim)?;
        check_positive("lr", self.lr)?;
        // The contrastive loss divides by it: 0 is a NaN at the first step.
        check_positive("temperature", self.temperature)?;
        if self.max_epochs == 0 || self.val_interval == 0 || self.volumes_per_batch == 0 {
            return Err(Error::InvalidArgument(
                "max_epochs, val_interval and volumes_per_batch must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The training loader: shuffled, every batch kept.
    pub fn loader(&self) -> LoaderConfig {
        train_loader(self.volumes_per_batch, self.prefetch_batches, self.seed)
    }
}

impl RunConfig for PretrainConfig {
    const ROI_FIELDS: &'static [&'static str] = &["model.vit.img_size", "transforms.patch_size"];
}
