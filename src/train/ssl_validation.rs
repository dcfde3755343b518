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

/// Mean validation L1 after 0-based `epoch`, and the number of batches it averaged. In a
/// data-parallel run each process validates every N-th batch of the same sequence and the batch
/// losses are shared exactly, so every process averages what one process would.
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
    let dp = trainer.data_parallel();
    let mut losses: Vec<Option<Vec<f64>>> = Vec::new();
    for (b, batch) in epoch_batches(dataset.clone(), loader, epoch_seed).enumerate() {
        let batch = batch?;
        if dp
            .as_ref()
            .is_some_and(|(dp, _)| b % dp.size() != dp.rank())
        {
            losses.push(None);
            continue;
        }
        let loss = trainer.validation_l1(&SslBatch::from_collated(batch.tensors)?)?;
        losses.push(Some(vec![loss]));
    }
    let losses: Vec<f64> = match &dp {
        Some((dp, device)) => (dp.share_rows::<B::InnerBackend>(&losses, 1, device)?)
            .into_iter()
            .map(|row| row[0])
            .collect(),
        None => losses.into_iter().flatten().map(|row| row[0]).collect(),
    };
    if let Some(loss) = losses.iter().find(|l| !l.is_finite()) {
        return Err(Error::Training(format!(
            "the validation loss is not finite ({loss}) after epoch {}",
            epoch + 1
        )));
    }
    let n = losses.len();
    Ok((losses.iter().sum::<f64>() / n.max(1) as f64, n))
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
    /// as `best_model` in both formats in `logdir`, with `model_config`, by the process that
    /// `writes` the run folder. Returns the log record and the line to print.
    pub(crate) fn validate<B: AutodiffBackend, T: PretrainTrainer<B>, C: Config>(
        &mut self,
        trainer: &T,
        dataset: &Arc<VolumeDataset>,
        cfg: &PretrainConfig,
        model_config: &C,
        (epoch, step): (usize, u64),
        (logdir, writes): (&Path, bool),
    ) -> Result<(SslValRecord, String)> {
        let (val_l1, batches) = validate_ssl(trainer, dataset, cfg, epoch)?;
        let new_best = val_l1 < self.best_val_l1;
        if new_best {
            (self.best_val_l1, self.best_epoch) = (val_l1, Some(epoch + 1));
            if writes {
                trainer.save_model(model_config, logdir, "best_model")?;
            }
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
