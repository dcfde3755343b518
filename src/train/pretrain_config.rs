//! `ssl-pretrain`'s configuration: the tutorial's values as defaults, and the checks that refuse
//! settings that cannot work before anything is loaded.

use serde::{Deserialize, Serialize};

use super::config::{
    RunConfig, check_heads, check_micro_batches, check_one_roi, check_pixdim, check_positive,
    default_out_channels, train_loader,
};
use super::ssl_parallel_loss::Negatives;
use super::swin_ssl_config::SwinSslConfig;
use crate::data::{CacheMode, LoaderConfig};
use crate::error::{Error, Result};
use crate::networks::{DynUnetConfig, NetworkKind, SegResNetConfig, VitAutoEncConfig};
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
    /// Gradient accumulation for the CNNs' restoration, as in fine-tuning: the step's volumes go
    /// through in this many parts (bit for bit the step of as many data-parallel processes). The
    /// ViTAutoEnc's and Swin's contrastive losses compare crops across the whole batch, so they
    /// take it in one piece (1).
    pub micro_batches: usize,
    /// Adam learning rate (betas 0.9/0.999, eps 1e-8, no weight decay).
    pub lr: f64,
    /// ContrastiveLoss temperature.
    pub temperature: f64,
    /// In a data-parallel run (`--nproc`), the contrastive loss's negatives: `global`, every
    /// process's crops (the loss of one process with the whole batch), or `local`, each
    /// process's own.
    pub negatives: Negatives,
    pub seed: u64,
    pub validation: ValidationMode,
    /// Checkpoint every this many steps (and at each epoch end); 0: at epoch ends only.
    pub checkpoint_every: usize,
    /// Batches prepared ahead of the training step.
    pub prefetch_batches: usize,
    /// Where preprocessed volumes are kept (`{"mode": "none"|"ram"|"disk", "ram_budget_gib", "dir"}`).
    pub cache: CacheMode,
    pub transforms: PretrainTransforms,
    /// What is pretrained: `unetr` (the tutorial's ViTAutoEnc, described by `model`, whose
    /// backbone UNETR takes), or a CNN, `dynunet` (`dynunet`) or `segresnet` (`segresnet`),
    /// trained to restore the clean crop from its views (L1 only, Models Genesis' idea), whose
    /// fine-tuning run loads everything but the output layer; or `swin_unetr` (`swin_ssl`): Swin
    /// UNETR's encoder with the rotation, contrastive and reconstruction heads of Tang et al.
    pub network: NetworkKind,
    /// ViTAutoEnc, when `network` is `unetr`.
    pub model: VitAutoEncConfig,
    /// DynUNet's arguments, when `network` is `dynunet`; `null`: nnU-Net's plan for `roi_size`
    /// (as `ssl-finetune`'s) with one output channel, the restored crop.
    pub dynunet: Option<DynUnetConfig>,
    /// SegResNet's arguments, when `network` is `segresnet`; `null`: MONAI's blocks at 16 filters
    /// with one output channel.
    pub segresnet: Option<SegResNetConfig>,
    /// Swin UNETR's self-supervised pretraining, when `network` is `swin_unetr`: its model,
    /// temperature, weight decay and schedule; `null`: the research code's published settings.
    pub swin_ssl: Option<SwinSslConfig>,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            roi_size: [96; 3],
            max_epochs: 500,
            val_interval: 2,
            volumes_per_batch: 4,
            micro_batches: 1,
            lr: 1e-4,
            temperature: 0.05,
            negatives: Negatives::Global,
            seed: 123,
            validation: ValidationMode::Tutorial,
            checkpoint_every: 100,
            prefetch_batches: 2,
            cache: CacheMode::default(),
            transforms: PretrainTransforms::default(),
            network: NetworkKind::Unetr,
            model: VitAutoEncConfig::tutorial(),
            dynunet: None,
            segresnet: None,
            swin_ssl: None,
        }
    }
}

impl PretrainConfig {
    /// Keys a resumed run may change (everything else must match the run's saved config): how
    /// long to run, when to checkpoint, the loader's look-ahead, how a step is split into
    /// micro-batches (the same update, in other memory), and the two a diverging or slow run may
    /// need, the learning rate and the validation interval. A resume that changes any of them
    /// logs a `resume` record saying which, from what to what.
    pub(crate) const RESUMABLE: [&str; 6] = [
        "max_epochs",
        "checkpoint_every",
        "prefetch_batches",
        "micro_batches",
        "lr",
        "val_interval",
    ];

    /// The DynUNet a restoration pretraining trains: `dynunet`, or nnU-Net's plan for the crop
    /// with one output channel.
    pub fn dynunet_config(&self) -> DynUnetConfig {
        (self.dynunet.clone()).unwrap_or_else(|| DynUnetConfig::nnunet_plan(self.roi_size, 1))
    }

    /// The SegResNet a restoration pretraining trains: `segresnet`, or MONAI's blocks at 16
    /// filters with one output channel.
    pub fn segresnet_config(&self) -> SegResNetConfig {
        (self.segresnet.clone()).unwrap_or_else(|| SegResNetConfig::new().with_out_channels(1))
    }

    /// Swin UNETR's pretraining settings: `swin_ssl`, or the research code's.
    pub fn swin_ssl_config(&self) -> SwinSslConfig {
        self.swin_ssl.clone().unwrap_or_default()
    }

    /// Refuses settings that cannot work: the model and the transforms must agree on the crop
    /// size, ViTAutoEnc needs square patch sizes, a CNN's strides must divide the crop and it
    /// restores the one-channel crop it is given.
    pub fn check(&self) -> Result<()> {
        let mut sizes = Vec::new();
        if self.network == NetworkKind::Unetr {
            sizes.push(("model.vit.img_size", self.model.vit.img_size));
        }
        sizes.push(("transforms.patch_size", self.transforms.patch_size));
        check_one_roi(self.roi_size, &sizes)?;
        match self.network {
            NetworkKind::Unetr => self.check_vit()?,
            NetworkKind::Dynunet => {
                let c = self.dynunet_config();
                check_restoration_channels("dynunet", c.in_channels, c.out_channels)?;
                if c.deep_supervision {
                    return Err(Error::InvalidArgument(
                        "dynunet.deep_supervision: restoration pretraining restores the full-size \
                         crop only, so its heads would never train; set it to false (fine-tuning \
                         adds the heads, at their initial values)"
                            .into(),
                    ));
                }
                c.check(Some(self.roi_size))?;
            }
            NetworkKind::Segresnet => {
                let c = self.segresnet_config();
                check_restoration_channels("segresnet", c.in_channels, c.out_channels)?;
                c.check(Some(self.roi_size))?;
            }
            NetworkKind::SwinUnetr => self.swin_ssl_config().check(self.roi_size)?,
        }
        check_pixdim(self.transforms.pixdim)?;
        check_positive("lr", self.lr)?;
        // The contrastive loss divides by it: 0 is a NaN at the first step.
        check_positive("temperature", self.temperature)?;
        if self.max_epochs == 0 || self.val_interval == 0 || self.volumes_per_batch == 0 {
            return Err(Error::InvalidArgument(
                "max_epochs, val_interval and volumes_per_batch must be at least 1".into(),
            ));
        }
        check_micro_batches(self.micro_batches, self.volumes_per_batch)?;
        if self.micro_batches > 1
            && matches!(self.network, NetworkKind::Unetr | NetworkKind::SwinUnetr)
        {
            return Err(Error::InvalidArgument(format!(
                "micro_batches {}: {}'s contrastive loss compares crops across the whole batch, \
                 so it takes the batch in one piece (micro_batches 1); the CNNs' restoration \
                 accumulates",
                self.micro_batches,
                self.network.name()
            )));
        }
        Ok(())
    }

    /// ViTAutoEnc's own constraints.
    fn check_vit(&self) -> Result<()> {
        let vit = &self.model.vit;
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
        check_heads(vit.hidden_size, vit.num_heads)
    }

    /// The training loader: shuffled, every batch kept.
    pub fn loader(&self) -> LoaderConfig {
        train_loader(self.volumes_per_batch, self.prefetch_batches, self.seed)
    }
}

/// A restoration network takes the one-channel crop and gives back one channel.
fn check_restoration_channels(name: &str, input: usize, output: usize) -> Result<()> {
    if input == 1 && output == 1 {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "{name}.in_channels {input} and {name}.out_channels {output}: restoration pretraining \
         takes the one-channel crop and restores it, so both must be 1"
    )))
}

impl RunConfig for PretrainConfig {
    const ROI_FIELDS: &'static [&'static str] = &["model.vit.img_size", "transforms.patch_size"];

    /// A CNN given without `out_channels` restores the one-channel crop.
    fn complete(cfg: &mut serde_json::Value) {
        default_out_channels(cfg, &["dynunet", "segresnet"], 1.into());
    }
}
