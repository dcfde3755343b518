//! What pretraining's loop, validation and best-model saving need from a trainer, so the
//! tutorial's ViTAutoEnc ([`super::ssl_step::SslTrainer`]) and the CNNs' restoration
//! (`RestorationTrainer`) run in the same job.

use std::path::Path;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;

use super::driver::Trainer;
use crate::data::SslBatch;
use crate::distributed::DataParallel;
use crate::error::Result;
use crate::report::records::SslLosses;

/// A pretraining trainer: steps on two-view batches, validates by reconstruction L1, and saves
/// its model for fine-tuning.
pub trait PretrainTrainer<B: AutodiffBackend>:
    Trainer<B, Batch = SslBatch, Losses = SslLosses>
{
    /// Validation L1 of view 1's reconstruction against the clean crop, without gradients (the
    /// tutorial's validation loss, the same for every network).
    fn validation_l1(&self, batch: &SslBatch) -> Result<f64>;

    /// Saves the current model as `name` in `dir`: Burn's record with `config`, and MONAI-keyed
    /// safetensors.
    fn save_model<C: Config>(&self, config: &C, dir: &Path, name: &str) -> Result<()>;

    /// This process's data-parallel run and the model's device, when it is one of several
    /// (validation is then shared out).
    fn data_parallel(&self) -> Option<(&DataParallel, B::Device)> {
        None
    }
}
