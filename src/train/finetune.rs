//! The `ssl-finetune` job: the tutorial's iteration loop (docs/MONAI_COMPAT.md, "Fine-tuning
//! tutorial") around [`SegTrainer`] on the run driver: sliding-window validation at the
//! tutorial's iterations keeping the best model, per-organ Dice and HD95, reports.

use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::driver::{Job, JobContext, Plan, RunData, RunSpec, Schedule, drive, start_run};
use super::finetune_config::FinetuneConfig;
use super::finetune_init::Init;
use super::finetune_outcome::finetune_report;
use super::run_identity::RunIdentity;
use super::seg_step::SegTrainer;
use super::seg_validation::{SegValidationState, ValidationPoint};
use crate::data::VolumeDataset;
use crate::error::Result;
use crate::io::write_json_atomic;
use crate::networks::Unetr;
use crate::report::FinetuneReport;
use crate::report::finetune_report::write_finetune_plots;
use crate::report::records::{NoRecord, Record, SegLoss, SegValRecord, validations};
use crate::transforms::pipelines::PipelineSpec;

/// Fine-tuning's part of the checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FinetuneState {
    /// The tutorial's `epoch_loss`: a running sum, divided in place at each validation.
    pub epoch_loss: f64,
    pub validation: SegValidationState,
}

struct FinetuneJob<'a> {
    cfg: &'a FinetuneConfig,
    validation: Arc<VolumeDataset>,
    keep_predictions: bool,
}

type Run<B> = JobContext<B, FinetuneJob<'static>>;

impl<B: AutodiffBackend> Job<B> for FinetuneJob<'_> {
    type Trainer = SegTrainer<B>;
    type State = FinetuneState;
    type EpochRecord = NoRecord;
    type ValRecord = SegValRecord;

    fn after_step(&mut self, trainer: &SegTrainer<B>, run: &mut Run<B>, l: &SegLoss) -> Result<()> {
        run.state.job.epoch_loss += l.loss;
        // The tutorial's pre-increment counter, which its validation condition reads.
        let iteration = run.state.step - 1;
        let (eval_num, max) = (self.cfg.eval_num as u64, self.cfg.max_iterations as u64);
        if !((iteration.is_multiple_of(eval_num) && iteration != 0) || iteration == max) {
            return Ok(());
        }
        let (step, logdir) = (run.state.step, run.logdir().to_owned());
        let job = &mut run.state.job;
        job.epoch_loss /= run.state.step_in_epoch as f64;
        let at = ValidationPoint {
            iteration,
            step,
            train_loss: job.epoch_loss,
        };
        let (record, line) = job.validation.validate(
            trainer,
            &self.validation,
            self.cfg,
            self.keep_predictions,
            at,
            &logdir,
        )?;
        run.println(&line);
        run.log(Record::Val(record))?;
        let classes = self.cfg.transforms.num_classes;
        write_finetune_plots(
            &logdir.join("finetune_plots.png"),
            &validations(run.records()),
            classes,
        )
    }

    fn end_epoch(&mut self, _: &SegTrainer<B>, run: &mut Run<B>) -> Result<()> {
        run.state.job.epoch_loss = 0.0;
        Ok(())
    }
}

/// Runs (or resumes) a fine-tuning on `device` from `model` (already initialised as `init`
/// says); with `keep_predictions`, each new best model's validation label maps are written.
pub fn finetune<B: AutodiffBackend>(
    cfg: &FinetuneConfig,
    spec: &RunSpec,
    init: &Init,
    model: Unetr<B>,
    keep_predictions: bool,
    device: &B::Device,
) -> Result<FinetuneReport> {
    cfg.check()?;
    let config = || cfg.transforms.clone();
    let pipelines = [true, false].map(|train| PipelineSpec::Finetune {
        config: config(),
        train,
    });
    let cache = cfg.cache.in_run_folder(&spec.logdir);
    let identity = RunIdentity::new(spec, Some(init.identity()?));
    let resumable = (cfg, &FinetuneConfig::RESUMABLE[..]);
    let RunData {
        train,
        validation,
        lock: _lock,
        config_changes,
    } = start_run(spec, resumable, &identity, pipelines, cache)?;
    if let Init::Pretrained { report, .. } = init {
        write_json_atomic(report, &spec.logdir.join("transfer_report.json"))?;
    }
    let mut trainer = SegTrainer::new(model, cfg.lr, cfg.weight_decay);
    let mut job = FinetuneJob {
        cfg,
        validation,
        keep_predictions,
    };
    let n_train = train.len();
    let plan = Plan {
        train,
        model_config: &cfg.model,
        schedule: Schedule::Iterations(cfg.max_iterations as u64),
        loader: cfg.loader(),
        checkpoint_every: cfg.checkpoint_every,
        checkpoint_at_epoch_end: false,
        config_changes,
    };
    let run = drive(&mut job, &mut trainer, plan, spec, device)?;
    let (state, vals) = (&run.state, validations(run.records()));
    let report = finetune_report(
        (cfg, spec, init),
        state,
        &state.job.validation,
        &vals,
        n_train,
    );
    report.write(&spec.logdir)?;
    Ok(report)
}
