//! The pretraining job's hooks on the run driver: the running loss sums and, at each epoch's end,
//! the tutorial's epoch line and, every `val_interval` epochs, validation, the best model and the
//! loss plots ([`super::pretrain`] sets the run up).

use std::marker::PhantomData;
use std::sync::Arc;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::driver::{Job, JobContext};
use super::pretrain_config::PretrainConfig;
use super::pretrain_trainer::PretrainTrainer;
use super::ssl_validation::SslValidationState;
use crate::data::VolumeDataset;
use crate::error::Result;
use crate::report::loss_plots::write_ssl_loss_plots;
use crate::report::records::{Record, SslEpochRecord, SslLosses, SslValRecord};

/// Pretraining's part of the checkpointed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PretrainState {
    /// Running loss sums of the current epoch (the tutorial logs their means).
    pub sums: SslLosses,
    pub validation: SslValidationState,
}

pub(super) struct PretrainJob<'a, T, C> {
    pub(super) cfg: &'a PretrainConfig,
    /// The network's config, saved beside its best model.
    pub(super) model_config: &'a C,
    pub(super) validation: Arc<VolumeDataset>,
    pub(super) trainer: PhantomData<T>,
}

pub(super) type Run<B, T, C> = JobContext<B, PretrainJob<'static, T, C>>;

impl<B: AutodiffBackend, T: PretrainTrainer<B>, C: Config + 'static> Job<B>
    for PretrainJob<'_, T, C>
{
    type Trainer = T;
    type State = PretrainState;
    type EpochRecord = SslEpochRecord;
    type ValRecord = SslValRecord;

    fn after_step(&mut self, _: &T, run: &mut Run<B, T, C>, l: &SslLosses) -> Result<()> {
        let sums = &mut run.state.job.sums;
        *sums = sums.plus(*l);
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
            rotation: sums.rotation.map(|r| r / n),
            data_wait_s: st.epoch_data_wait_s,
            compute_s: st.epoch_compute_s,
        };
        let (t, r, c) = (mean.total, mean.recon, mean.contrastive);
        let of = self.cfg.max_epochs;
        let rot = (mean.rotation).map_or(String::new(), |x| format!(", rotation {x:.4}"));
        run.println(&format!(
            "epoch {}/{of}: average loss {t:.4} (recon {r:.4}, contrastive {c:.4}{rot})",
            epoch + 1
        ));
        run.log(Record::Epoch(mean))?;
        run.state.job.sums = SslLosses::default();
        // Every process of a data-parallel run takes its share; rank 0 keeps the best model.
        if epoch.is_multiple_of(self.cfg.val_interval) {
            let (cfg, at, logdir) = (self.cfg, (epoch, run.state.step), run.logdir().to_owned());
            let writes = run.writes();
            let (record, line) = (run.state.job.validation).validate(
                trainer,
                &self.validation,
                cfg,
                self.model_config,
                at,
                (&logdir, writes),
            )?;
            run.log(Record::Val(record))?;
            if writes {
                write_ssl_loss_plots(&logdir.join("loss_plots.png"), run.records())?;
            }
            run.println(&line);
        }
        Ok(())
    }
}
