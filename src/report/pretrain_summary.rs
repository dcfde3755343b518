//! `summary.json`: what a finished pretraining run reports.

use serde::{Deserialize, Serialize};

/// The outcome of a finished pretraining run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainSummary {
    pub epochs: usize,
    pub steps: u64,
    /// The best validation L1 and its epoch; `null` when there is no best model (no validation
    /// ran, or none beat the tutorial's starting value of 1000), never a placeholder.
    pub best_val_l1: Option<f64>,
    pub best_epoch: Option<usize>,
    /// The last epoch's mean training loss.
    pub final_train_total: Option<f64>,
    pub wall_s: f64,
    pub data_wait_share: f64,
    pub device: String,
    /// What was pretrained: `unetr` (the tutorial's ViTAutoEnc), `dynunet` or `segresnet`
    /// (restoration). Summaries written before CNN pretraining existed are `unetr`.
    #[serde(default = "super::finetune_report::unetr")]
    pub network: String,
}
