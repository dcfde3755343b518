//! The fine-tuning job's hooks on the run driver: the tutorial's running `epoch_loss` and, at its
//! validation iterations, sliding-window validation keeping the best model, the log and the plots
//! ([`super::finetune`] sets the run up).

use std::marker::PhantomData;
use std::sync::Arc;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::driver::{Job, JobContext};
use super::finetune_config::FinetuneConfig;
use super::seg_step::{SegTrainer, TrainableSegmentation};
use super::seg_validation::{SegValidationState, ValidationPoint};
use crate::data::VolumeDataset;
use crate::error::Result;
use crate::report::finetune_report::write_finetune_plots;
use crate::report::records::{NoRecord, Record, SegLoss, SegValRecord, validations};

/// Fine-tuning's part of the checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FinetuneState {
    /// The tutorial's `epoch_loss`: a running sum, divided in place at each validation.
    pub epoch_loss: f64,
    pub validation: SegValidationState,
}

pub(super) struct FinetuneJob<'a, M, C> {
    pub(super) cfg: &'a FinetuneConfig,
    /// The network's config, saved beside its best model.
    pub(super) model_config: &'a C,
    pub(super) validation: Arc<VolumeDataset>,
    pub(super) keep_predictions: bool,
    pub(super) network: PhantomData<M>,
}

pub(super) type Run<B, M, C> = JobContext<B, FinetuneJob<'static, M, C>>;

impl<B: AutodiffBackend, M: TrainableSegmentation<B>, C: Config + 'static> Job<B>
    for FinetuneJob<'_, M, C>
{
    type Trainer = SegTrainer<B, M>;
    type State = FinetuneState;
    type EpochRecord = NoRecord;
    type ValRecord = SegValRecord;

    fn after_step(
        &mut self,
        trainer: &SegTrainer<B, M>,
        run: &mut Run<B, M, C>,
        l: &SegLoss,
    ) -> Result<()> {
        run.state.job.epoch_loss += l.loss;
        // The tutorial's pre-increment counter, which its validation condition reads.
        let iteration = run.state.step - 1;
        let (eval_num, max) = (self.cfg.eval_num as u64, self.cfg.max_iterations as u64);
        if !((iteration.is_multiple_of(eval_num) && iteration != 0) || iteration == max) {
            return Ok(());
        }
        let (step, logdir, writes) = (run.state.step, run.logdir().to_owned(), run.writes());
        let job = &mut run.state.job;
        job.epoch_loss /= run.state.step_in_epoch as f64;
        let at = ValidationPoint {
            iteration,
            step,
            train_loss: job.epoch_loss,
        };
        // Every process of a data-parallel run takes its share; rank 0 keeps the best model.
        let Some((record, line)) = job.validation.validate(
            trainer,
            &self.validation,
            self.cfg,
            self.model_config,
            (self.keep_predictions, writes),
            at,
            &logdir,
        )?
        else {
            return Ok(());
        };
        run.println(&line);
        run.log(Record::Val(record))?;
        if !writes {
            return Ok(());
        }
        let classes = self.cfg.transforms.num_classes;
        write_finetune_plots(
            &logdir.join("finetune_plots.png"),
            &validations(run.records()),
            classes,
        )
    }

    fn end_epoch(&mut self, _: &SegTrainer<B, M>, run: &mut Run<B, M, C>) -> Result<()> {
        run.state.job.epoch_loss = 0.0;
        Ok(())
    }
}
