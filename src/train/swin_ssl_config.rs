//! Settings of Swin UNETR's self-supervised pretraining (`ssl-pretrain --network swin_unetr`),
//! the research code's published ones by default (Tang et al. 2022; MONAI's research
//! contributions, `SwinUNETR/Pretrain`): its model, AdamW with weight decay 0.1, a linear warm-up
//! of 500 steps then a cosine decay (`--lrdecay --lr_schedule warmup_cosine`), temperature 0.5.

use serde::{Deserialize, Serialize};

use super::lr_schedule::LrSchedule;
use crate::error::{Error, Result};
use crate::losses::swin_ssl::SWIN_SSL_TEMPERATURE;
use crate::networks::SwinSslHeadConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwinSslConfig {
    /// The pretraining model (the encoder SwinUNETR fine-tunes from, and its three heads).
    pub model: SwinSslHeadConfig,
    /// The contrastive loss's temperature.
    pub temperature: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// The rate over the run's steps (`lr` is its peak).
    pub lr_schedule: LrSchedule,
}

impl Default for SwinSslConfig {
    fn default() -> Self {
        SwinSslConfig {
            model: SwinSslHeadConfig::new(),
            temperature: SWIN_SSL_TEMPERATURE,
            weight_decay: 0.1,
            lr_schedule: LrSchedule::warmup_cosine(500),
        }
    }
}

impl SwinSslConfig {
    /// The model's checks for crop `roi`, whose last two sides must be equal (the views turn the
    /// crop in that plane), and the optimiser's.
    pub fn check(&self, roi: [usize; 3]) -> Result<()> {
        self.model.check(roi)?;
        if roi[1] != roi[2] {
            return Err(Error::InvalidArgument(format!(
                "swin_ssl: the crop {roi:?} is turned by quarter turns in its last two axes, which \
                 must be equal"
            )));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "swin_ssl.temperature {} must be a positive number",
                self.temperature
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "swin_ssl.weight_decay {} must be a finite number, 0 or above",
                self.weight_decay
            )));
        }
        self.lr_schedule.check()
    }
}
