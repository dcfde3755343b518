//! ConVIRT's hooks on the run driver, as the reference's train.py: the running loss sums; at each
//! epoch's end the epoch line and, every `eval_every_n_epochs` epochs (from the first), the
//! validation loss over augmented validation batches (the reference's `_validate`, whole
//! batches only), the best model kept by it, and retrieval on the held-out pairs.

use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use super::convirt_config::ConvirtConfig;
use super::convirt_eval::retrieval;
use super::convirt_step::{ConvirtTrainer, convirt_batch_loss, losses_of};
use super::driver::{Job, JobContext, Trainer};
use crate::data::report_pair_dataset::ReportPairDataset;
use crate::data::seeding::mix;
use crate::data::{BatchSource, LoaderConfig, epoch_batches};
use crate::error::{Error, Result};
use crate::metrics::retrieval::RetrievalScores;
use crate::networks::checkpoint::save_best_model;
use crate::networks::nets::{Convirt, ConvirtModelConfig};
use crate::networks::state_dict::Arch;
use crate::report::convirt_records::{ConvirtEpochRecord, ConvirtValRecord};
use crate::report::records::{ConvirtLosses, Record};

/// ConVIRT's part of the checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ConvirtState {
    /// Running loss sums of the current epoch.
    pub sums: ConvirtLosses,
    /// The best validation loss so far and its 1-based epoch.
    pub best: Option<(f64, usize)>,
    pub last_retrieval: Option<RetrievalScores>,
}

pub(super) struct ConvirtJob<'a> {
    pub(super) cfg: &'a ConvirtConfig,
    pub(super) model_config: &'a ConvirtModelConfig,
    pub(super) validation: Arc<ReportPairDataset>,
}

type Run<B> = JobContext<B, ConvirtJob<'static>>;

/// The validation loader's seed, apart from the training one.
fn validation_seed(seed: u64) -> u64 {
    mix(seed ^ 0x636f_6e76_7661_6c21)
}

impl ConvirtJob<'_> {
    /// The reference's validation loss after 0-based `epoch`: the mean over shuffled, augmented
    /// whole validation batches, the model in evaluation mode. Returns it and the batch count.
    fn validation_loss<B: Backend>(
        &self,
        model: &Convirt<B>,
        device: &B::Device,
        epoch: usize,
    ) -> Result<(f64, usize)> {
        let loader = LoaderConfig {
            volumes_per_batch: self.cfg.batch_size,
            shuffle: true,
            drop_last: true,
            prefetch: 2,
            run_seed: validation_seed(self.cfg.seed),
            shard: crate::data::shard::Shard::WHOLE,
        };
        let (mut sum, mut n) = (0.0, 0);
        for batch in epoch_batches(self.validation.clone(), loader, epoch as u64) {
            let loss = convirt_batch_loss(
                model,
                &batch?.tensors,
                self.cfg.loss.temperature,
                self.cfg.loss.alpha_weight,
                device,
            );
            sum += losses_of(&loss).total;
            n += 1;
        }
        let mean = sum / n.max(1) as f64;
        if !mean.is_finite() {
            return Err(Error::Training(format!(
                "the validation loss is not finite ({mean}) after epoch {}",
                epoch + 1
            )));
        }
        Ok((mean, n))
    }
}

impl<B: AutodiffBackend> Job<B> for ConvirtJob<'_> {
    type Trainer = ConvirtTrainer<B>;
    type State = ConvirtState;
    type EpochRecord = ConvirtEpochRecord;
    type ValRecord = ConvirtValRecord;

    fn after_step(
        &mut self,
        _: &ConvirtTrainer<B>,
        run: &mut Run<B>,
        l: &ConvirtLosses,
    ) -> Result<()> {
        let s = &mut run.state.job.sums;
        s.total += l.total;
        s.image_to_text += l.image_to_text;
        s.text_to_image += l.text_to_image;
        Ok(())
    }

    fn end_epoch(&mut self, trainer: &ConvirtTrainer<B>, run: &mut Run<B>) -> Result<()> {
        let st = &run.state;
        let (epoch, n) = (st.epoch, st.step_in_epoch.max(1) as f64);
        let sums = st.job.sums;
        let record = ConvirtEpochRecord {
            epoch: epoch + 1,
            step: st.step,
            steps: st.step_in_epoch,
            total: sums.total / n,
            image_to_text: sums.image_to_text / n,
            text_to_image: sums.text_to_image / n,
            lr: trainer.lr(),
            data_wait_s: st.epoch_data_wait_s,
            compute_s: st.epoch_compute_s,
        };
        run.println(&format!(
            "epoch {}/{}: loss {:.4} (image→text {:.4}, text→image {:.4}), lr {:.3e}",
            epoch + 1,
            self.cfg.epochs,
            record.total,
            record.image_to_text,
            record.text_to_image,
            record.lr
        ));
        run.log(Record::Epoch(record))?;
        run.state.job.sums = ConvirtLosses::default();
        if self.validation.is_empty() || !epoch.is_multiple_of(self.cfg.eval_every_n_epochs) {
            return Ok(());
        }
        // The model in evaluation mode, once for the loss and the retrieval.
        let model = trainer.model.valid();
        let (val_loss, batches) = self.validation_loss(&model, trainer.device(), epoch)?;
        let scores = retrieval(
            &model,
            &self.validation,
            self.cfg.batch_size,
            trainer.device(),
        )?;
        let new_best = run.state.job.best.is_none_or(|(best, _)| val_loss < best);
        if new_best {
            run.state.job.best = Some((val_loss, epoch + 1));
            let logdir = run.logdir().to_owned();
            save_best_model(
                model,
                self.model_config,
                Arch::Convirt,
                &logdir,
                "best_model",
            )?;
        }
        let (best, at) = run.state.job.best.expect("set above");
        run.println(&format!(
            "epoch {}: validation loss {val_loss:.4} ({}); {}",
            epoch + 1,
            if new_best {
                "new best: saved best_model".to_string()
            } else {
                format!("best {best:.4} at epoch {at}")
            },
            scores.describe()
        ));
        run.log(Record::Val(ConvirtValRecord {
            epoch: epoch + 1,
            step: run.state.step,
            val_loss,
            batches,
            best_val_loss: best,
            new_best,
            retrieval: scores.clone(),
        }))?;
        run.state.job.last_retrieval = Some(scores);
        Ok(())
    }
}
