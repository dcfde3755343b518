//! Pretraining's validation: the mean L1 of view 1 against the clean crop over the validation
//! batches (the tutorial's `total_val_loss`), drawn as the configured `ValidationMode` says, and
//! the best model kept by it.

use std::path::Path;
use std::sync::Arc;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::pretrain_config::{PretrainConfig, ValidationMode};
use super::pretrain_trainer::PretrainTrainer;
use crate::data::seeding::mix;
use crate::data::{FromCollated, LoaderConfig, SslBatch, VolumeDataset, epoch_batches};
use crate::error::{Error, Result};
use crate::report::records::SslValRecord;

/// The validation loader's seed, apart from the training one.
fn validation_seed(seed: u64) -> u64 {
    mix(seed ^ 0x7661_6c69_6461_7465)
}

/// Mean validation L1 after 0-based `epoch`, and the number of batches it averaged.
fn validate_ssl<B: AutodiffBackend, T: PretrainTrainer<B>>(
    trainer: &T,
    dataset: &Arc<VolumeDataset>,
    cfg: &PretrainConfig,
    epoch: usize,
) -> Result<(f64, usize)> {
    // The tutorial reshuffles and re-augments validation every time; deterministic mode draws
    // the same batches at every validation.
    let (shuffle, epoch_seed) = match cfg.validation {
        ValidationMode::Tutorial => (true, epoch as u64),
        ValidationMode::Deterministic => (false, 0),
    };
    let loader = LoaderConfig {
        volumes_per_batch: cfg.volumes_per_batch,
        shuffle,
        drop_last: false,
        prefetch: cfg.prefetch_batches,
        run_seed: validation_seed(cfg.seed),
        shard: crate::data::shard::Shard::WHOLE,
    };
    let mut sum = 0.0;
    let mut n = 0;
    for batch in epoch_batches(dataset.clone(), loader, epoch_seed) {
        let loss = trainer.validation_l1(&SslBatch::from_collated(batch?.tensors)?)?;
        if !loss.is_finite() {
            return Err(Error::Training(format!(
                "the validation loss is not finite ({loss}) after epoch {}",
                epoch + 1
            )));
        }
        sum += loss;
        n += 1;
    }
    Ok((sum / n.max(1) as f64, n))
}

/// What pretraining's validations remember: the best validation L1 so far (the tutorial starts
/// from 1000) and its 1-based epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SslValidationState {
    pub best_val_l1: f64,
    pub best_epoch: Option<usize>,
}

impl Default for SslValidationState {
    fn default() -> Self {
        SslValidationState {
            best_val_l1: 1000.0,
            best_epoch: None,
        }
    }
}

impl SslValidationState {
    /// The best validation L1 and its 1-based epoch; `None` while no validation has beaten the
    /// tutorial's starting value, so no best model exists (never reported as a result).
    pub fn best(&self) -> Option<(f64, usize)> {
        self.best_epoch.map(|epoch| (self.best_val_l1, epoch))
    }

    /// Validates after 0-based `epoch` (at optimisation step `step`); a new best model is saved
    /// as `best_model` in both formats in `logdir`, with `model_config`. Returns the log record
    /// and the line to print.
    pub(crate) fn validate<B: AutodiffBackend, T: PretrainTrainer<B>, C: Config>(
        &mut self,
        trainer: &T,
        dataset: &Arc<VolumeDataset>,
        cfg: &PretrainConfig,
        model_config: &C,
        (epoch, step): (usize, u64),
        logdir: &Path,
    ) -> Result<(SslValRecord, String)> {
        let (val_l1, batches) = validate_ssl(trainer, dataset, cfg, epoch)?;
        let new_best = val_l1 < self.best_val_l1;
        if new_best {
            (self.best_val_l1, self.best_epoch) = (val_l1, Some(epoch + 1));
            trainer.save_model(model_config, logdir, "best_model")?;
        }
        let line = match (new_best, self.best()) {
            (true, _) => format!(
                "epoch {}: validation L1 {val_l1:.4} (new best: saved best_model)",
                epoch + 1
            ),
            (false, Some((best, at))) => format!(
                "epoch {}: validation L1 {val_l1:.4} (best {best:.4} at epoch {at})",
                epoch + 1,
            ),
            (false, None) => format!(
                "epoch {}: validation L1 {val_l1:.4} (no best model yet: as the tutorial, one is \
                 kept only below 1000)",
                epoch + 1,
            ),
        };
        let record = SslValRecord {
            epoch: epoch + 1,
            step,
            val_l1,
            batches,
            best_val_l1: self.best().map(|(l1, _)| l1),
            new_best,
        };
        Ok((record, line))
    }
}
