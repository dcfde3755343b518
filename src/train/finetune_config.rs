//! `ssl-finetune`'s configuration: the tutorial's values as defaults, and the checks that refuse
//! settings that cannot work before anything is loaded.

use serde::{Deserialize, Serialize};

use super::config::{
    RunConfig, check_heads, check_micro_batches, check_one_roi, check_pixdim, check_positive,
    default_out_channels, train_loader,
};
use super::lr_schedule::LrSchedule;
use crate::data::{CacheMode, LoaderConfig};
use crate::error::{Error, Result};
use crate::losses::DeepSupervisionWeights;
use crate::metrics::BestMetric;
use crate::networks::{
    DynUnetConfig, NetworkKind, SegNetworkConfig, SegResNetConfig, SwinUnetrConfig, UnetrConfig,
};
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
    /// How `lr` changes over the run: `{"kind": "constant"}` (the tutorial's) or MONAI's
    /// `{"kind": "warmup_cosine", "warmup_steps": N, "end_lr": 0, "warmup_multiplier": 0}`.
    pub lr_schedule: LrSchedule,
    pub seed: u64,
    /// Volumes per step; each gives `transforms.num_samples` (4) crops.
    pub volumes_per_batch: usize,
    /// Gradient accumulation: each step's volumes go through the network in this many parts
    /// (volume `i` in part `i mod micro_batches`), their gradients averaged before one AdamW
    /// step: the same update with a part's activations in memory, and bit for bit the update of
    /// a `micro_batches`-process data-parallel run with `volumes_per_batch / micro_batches` each.
    pub micro_batches: usize,
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
    /// Which network to train: `unetr` (the tutorial's, described by `model`), `dynunet`
    /// (`dynunet`), `segresnet` (`segresnet`) or `swin_unetr` (`swin_unetr`).
    pub network: NetworkKind,
    /// UNETR, when `network` is `unetr`.
    pub model: UnetrConfig,
    /// DynUNet's arguments; `null`: nnU-Net's plan for `roi_size` (3³ kernels, halving each side
    /// while it stays at least 4 voxels, filters 32 doubling to 320) with `transforms.num_classes`.
    pub dynunet: Option<DynUnetConfig>,
    /// SegResNet's arguments; `null`: MONAI's blocks at 16 filters with `transforms.num_classes`.
    pub segresnet: Option<SegResNetConfig>,
    /// SwinUNETR's arguments; `null`: the BTCV tutorial's (feature_size 48, MONAI's depths, heads
    /// and 7³ windows) with `transforms.num_classes`.
    pub swin_unetr: Option<SwinUnetrConfig>,
    /// How DynUNet's deep-supervision levels are weighted (MONAI's `DeepSupervisionLoss` modes:
    /// `exp`, `same`, `two`), when its `deep_supervision` is on.
    pub deep_supervision_weights: DeepSupervisionWeights,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            roi_size: [96; 3],
            max_iterations: 30_000,
            eval_num: 100,
            lr: 1e-4,
            weight_decay: 1e-5,
            lr_schedule: LrSchedule::default(),
            seed: 0,
            volumes_per_batch: 1,
            micro_batches: 1,
            checkpoint_every: 100,
            prefetch_batches: 2,
            best_metric: BestMetric::Tutorial,
            hd95: true,
            cache: CacheMode::default(),
            sliding_window: crate::inferers::SlidingWindow::default(),
            transforms: FinetuneTransforms::default(),
            network: NetworkKind::Unetr,
            model: UnetrConfig::tutorial(),
            dynunet: None,
            segresnet: None,
            swin_unetr: None,
            deep_supervision_weights: DeepSupervisionWeights::Exp,
        }
    }
}

impl FinetuneConfig {
    /// Keys a resumed run may change (everything else must match the run's saved config): how
    /// long to run, when to checkpoint, the loader's look-ahead, how a step is split into
    /// micro-batches (the same update, in other memory), and the two a diverging or slow run may
    /// need, the learning rate and the validation interval. A resume that changes any of them
    /// logs a `resume` record saying which, from what to what.
    pub(crate) const RESUMABLE: [&str; 6] = [
        "max_iterations",
        "checkpoint_every",
        "prefetch_batches",
        "micro_batches",
        "lr",
        "eval_num",
    ];

    /// The network this config trains, with its settings.
    pub(crate) fn network_config(&self) -> SegNetworkConfig {
        match self.network {
            NetworkKind::Unetr => SegNetworkConfig::Unetr(self.model.clone()),
            NetworkKind::Dynunet => SegNetworkConfig::DynUnet(self.dynunet_config()),
            NetworkKind::Segresnet => SegNetworkConfig::SegResNet(self.segresnet_config()),
            NetworkKind::SwinUnetr => SegNetworkConfig::SwinUnetr(self.swin_unetr_config()),
        }
    }

    /// The DynUNet this config trains: `dynunet`, or nnU-Net's plan for the crop.
    pub fn dynunet_config(&self) -> DynUnetConfig {
        self.dynunet.clone().unwrap_or_else(|| {
            DynUnetConfig::nnunet_plan(self.roi_size, self.transforms.num_classes)
        })
    }

    /// The SegResNet this config trains: `segresnet`, or MONAI's blocks at 16 filters.
    pub fn segresnet_config(&self) -> SegResNetConfig {
        self.segresnet.clone().unwrap_or_else(|| {
            SegResNetConfig::new().with_out_channels(self.transforms.num_classes)
        })
    }

    /// The SwinUNETR this config trains: `swin_unetr`, or the BTCV tutorial's.
    pub fn swin_unetr_config(&self) -> SwinUnetrConfig {
        self.swin_unetr.clone().unwrap_or_else(|| {
            SwinUnetrConfig::new().with_out_channels(self.transforms.num_classes)
        })
    }

    /// Refuses settings that cannot work: the network's own (UNETR's fixed 16³ patches and skip
    /// blocks; DynUNet's and SegResNet's strides against the crop), one size for the crops, the
    /// windows and the model, and as many outputs as classes.
    pub fn check(&self) -> Result<()> {
        let classes = |name: &str, out: usize| {
            if out == self.transforms.num_classes {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "{name}.out_channels {out} must equal transforms.num_classes {}",
                    self.transforms.num_classes
                )))
            }
        };
        match self.network {
            NetworkKind::Unetr => {
                classes("model", self.model.out_channels)?;
                self.check_unetr()?;
            }
            NetworkKind::Dynunet => {
                let c = self.dynunet_config();
                classes("dynunet", c.out_channels)?;
                c.check(Some(self.roi_size))?;
                self.check_roi()?;
            }
            NetworkKind::Segresnet => {
                let c = self.segresnet_config();
                classes("segresnet", c.out_channels)?;
                c.check(Some(self.roi_size))?;
                self.check_roi()?;
            }
            NetworkKind::SwinUnetr => {
                let c = self.swin_unetr_config();
                classes("swin_unetr", c.out_channels)?;
                c.check(Some(self.roi_size))?;
                self.check_roi()?;
            }
        }
        self.lr_schedule.check()?;
        self.check_common()
    }

    /// UNETR's own constraints.
    fn check_unetr(&self) -> Result<()> {
        let m = &self.model;
        if m.vit.patch_size != [16, 16, 16] {
            return Err(Error::InvalidArgument(format!(
                "model.vit.patch_size {:?}: UNETR's decoder upsamples by 16 (MONAI fixes 16³ patches)",
                m.vit.patch_size
            )));
        }
        self.check_roi()?;
        if m.vit.img_size.iter().any(|s| s % 16 != 0) || m.vit.num_layers < 10 {
            return Err(Error::InvalidArgument(format!(
                "model.vit: img_size {:?} must be multiples of 16 and num_layers ({}) at least 10 \
                 (UNETR takes skips from blocks 4, 7 and 10)",
                m.vit.img_size, m.vit.num_layers
            )));
        }
        check_heads(m.vit.hidden_size, m.vit.num_heads)
    }

    /// One size for the crops, the windows and (UNETR's) model.
    fn check_roi(&self) -> Result<()> {
        let roi = self.roi_size;
        let mut sizes = Vec::new();
        if self.network == NetworkKind::Unetr {
            sizes.push(("model.vit.img_size", self.model.vit.img_size));
        }
        sizes.push(("transforms.spatial_size", self.transforms.spatial_size));
        sizes.push(("sliding_window.roi_size", self.sliding_window.roi_size));
        check_one_roi(roi, &sizes)
    }

    /// What every network needs besides one size ([`FinetuneConfig::check_roi`]).
    fn check_common(&self) -> Result<()> {
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
        check_micro_batches(self.micro_batches, self.volumes_per_batch)?;
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

    /// A CNN given without `out_channels` predicts `transforms.num_classes` classes.
    fn complete(cfg: &mut serde_json::Value) {
        let classes = cfg["transforms"]["num_classes"].clone();
        default_out_channels(cfg, &["dynunet", "segresnet", "swin_unetr"], classes);
    }
}
