//! The `ssl-pretrain` job: the tutorial's epoch loop (docs/MONAI_COMPAT.md, "Pretraining
//! tutorial") on the run driver, around [`SslTrainer`] (the tutorial's ViTAutoEnc) or
//! [`RestorationTrainer`] (a CNN restoring the crop): per-epoch means, validation every
//! `val_interval` epochs keeping the best model, loss plots and a summary.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::driver::{Job, JobContext, Plan, RunData, RunSpec, Schedule, drive, start_run};
use super::pretrain_config::PretrainConfig;
use super::pretrain_trainer::PretrainTrainer;
use super::restoration_step::RestorationTrainer;
use super::run_identity::RunIdentity;
use super::ssl_step::SslTrainer;
use super::ssl_validation::SslValidationState;
use crate::data::VolumeDataset;
use crate::error::Result;
use crate::io::write_json_atomic;
use crate::networks::NetworkKind;
use crate::networks::seeded_init::init_seeded;
use crate::report::PretrainSummary;
use crate::report::loss_plots::write_ssl_loss_plots;
use crate::report::records::{Record, SslEpochRecord, SslLosses, SslValRecord};
use crate::transforms::pipelines::PipelineSpec;

/// Pretraining's part of the checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PretrainState {
    /// Running loss sums of the current epoch (the tutorial logs their means).
    pub sums: SslLosses,
    pub validation: SslValidationState,
}

struct PretrainJob<'a, T, C> {
    cfg: &'a PretrainConfig,
    /// The network's config, saved beside its best model.
    model_config: &'a C,
    validation: Arc<VolumeDataset>,
    trainer: PhantomData<T>,
}

type Run<B, T, C> = JobContext<B, PretrainJob<'static, T, C>>;

impl<B: AutodiffBackend, T: PretrainTrainer<B>, C: Config + 'static> Job<B>
    for PretrainJob<'_, T, C>
{
    type Trainer = T;
    type State = PretrainState;
    type EpochRecord = SslEpochRecord;
    type ValRecord = SslValRecord;

    fn after_step(&mut self, _: &T, run: &mut Run<B, T, C>, l: &SslLosses) -> Result<()> {
        let s = &mut run.state.job.sums;
        (s.total, s.recon, s.contrastive) = (
            s.total + l.total,
            s.recon + l.recon,
            s.contrastive + l.contrastive,
        );
        Ok(())
    }

    fn end_epoch(&mut self, trainer: &T, run: &mut Run<B, T, C>) -> Result<()> {
        let st = &run.state;
        let (epoch, n) = (st.epoch, st.step_in_epoch.max(1) as f64);
        let sums = st.job.sums;
        let mean = SslEpochRecord {
            epoch: epoch + 1,
            step: st.step,
            steps: st.step_in_epoch,
            total: sums.total / n,
            recon: sums.recon / n,
            contrastive: sums.contrastive / n,
            data_wait_s: st.epoch_data_wait_s,
            compute_s: st.epoch_compute_s,
        };
        let (t, r, c) = (mean.total, mean.recon, mean.contrastive);
        let of = self.cfg.max_epochs;
        run.println(&format!(
            "epoch {}/{of}: average loss {t:.4} (recon {r:.4}, contrastive {c:.4})",
            epoch + 1
        ));
        run.log(Record::Epoch(mean))?;
        run.state.job.sums = SslLosses::default();
        if epoch.is_multiple_of(self.cfg.val_interval) {
            let (cfg, at, logdir) = (self.cfg, (epoch, run.state.step), run.logdir().to_owned());
            let (record, line) = (run.state.job.validation).validate(
                trainer,
                &self.validation,
                cfg,
                self.model_config,
                at,
                &logdir,
            )?;
            run.log(Record::Val(record))?;
            write_ssl_loss_plots(&logdir.join("loss_plots.png"), run.records())?;
            run.println(&line);
        }
        Ok(())
    }
}

/// Runs (or resumes) a pretraining of the network `cfg.network` names on `device`: the
/// tutorial's ViTAutoEnc, or a CNN's restoration.
pub fn pretrain<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    spec: &RunSpec,
    device: &B::Device,
) -> Result<PretrainSummary> {
    cfg.check()?;
    match cfg.network {
        NetworkKind::Unetr => {
            let model = init_seeded::<B, _>(&cfg.model, cfg.seed, device)?;
            let trainer = SslTrainer::new(model, cfg.lr, cfg.temperature);
            pretrain_with(cfg, spec, trainer, &cfg.model, device)
        }
        NetworkKind::Dynunet => {
            let net = cfg.dynunet_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let trainer = RestorationTrainer::new(model, cfg.lr, device);
            pretrain_with(cfg, spec, trainer, &net, device)
        }
        NetworkKind::Segresnet => {
            let net = cfg.segresnet_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let trainer = RestorationTrainer::new(model, cfg.lr, device);
            pretrain_with(cfg, spec, trainer, &net, device)
        }
    }
}

/// The pretraining loop around `trainer`, whose model `model_config` describes.
fn pretrain_with<B: AutodiffBackend, T: PretrainTrainer<B>, C: Config + 'static>(
    cfg: &PretrainConfig,
    spec: &RunSpec,
    mut trainer: T,
    model_config: &C,
    device: &B::Device,
) -> Result<PretrainSummary> {
    let pipeline = PipelineSpec::Pretrain(cfg.transforms.clone());
    let (cache, pipelines) = (
        cfg.cache.in_run_folder(&spec.logdir),
        [pipeline.clone(), pipeline],
    );
    let identity = RunIdentity::new(spec, None);
    let resumable = (cfg, &PretrainConfig::RESUMABLE[..]);
    let RunData {
        train,
        validation,
        lock: _lock,
        config_changes,
    } = start_run(spec, resumable, &identity, pipelines, cache)?;
    let mut job = PretrainJob {
        cfg,
        model_config,
        validation,
        trainer: PhantomData,
    };
    let plan = Plan {
        train,
        model_config,
        schedule: Schedule::Epochs(cfg.max_epochs),
        loader: cfg.loader(),
        checkpoint_every: cfg.checkpoint_every,
        checkpoint_at_epoch_end: true,
        config_changes,
    };
    let run = drive(&mut job, &mut trainer, plan, spec, device)?;
    // The tutorial draws the figure at validations only; the last epochs belong in it too.
    write_ssl_loss_plots(&spec.logdir.join("loss_plots.png"), run.records())?;
    let best = &run.state.job.validation;
    let summary = PretrainSummary {
        epochs: run.state.epoch,
        steps: run.state.step,
        best_val_l1: best.best().map(|(l1, _)| l1),
        best_epoch: best.best().map(|(_, epoch)| epoch),
        final_train_total: run.records().iter().rev().find_map(|r| match r {
            Record::Epoch(e) => Some(e.total),
            _ => None,
        }),
        wall_s: run.state.wall_s,
        data_wait_share: run.state.data_wait_share(),
        device: spec.device_name.clone(),
        network: cfg.network.name().to_string(),
    };
    write_json_atomic(&summary, &spec.logdir.join("summary.json"))?;
    Ok(summary)
}
