//! `summary.json`: what a finished pretraining run reports.

use serde::{Deserialize, Serialize};

/// The outcome of a finished pretraining run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainSummary {
    pub epochs: usize,
    pub steps: u64,
    pub best_val_l1: f64,
    pub best_epoch: Option<usize>,
    /// The last epoch's mean training loss.
    pub final_train_total: Option<f64>,
    pub wall_s: f64,
    pub data_wait_share: f64,
    pub device: String,
}
