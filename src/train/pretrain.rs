//! The `ssl-pretrain` job: the tutorial's epoch loop (docs/MONAI_COMPAT.md, "Pretraining
//! tutorial") on the run driver, around [`SslTrainer`] (the tutorial's ViTAutoEnc) or
//! [`RestorationTrainer`] (a CNN restoring the crop): the run's data, plan and summary here; the
//! per-epoch means, validation every `val_interval` epochs, best model and loss plots in
//! `pretrain_job`.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;

use super::data_parallel_run::in_data_parallel_run;
use super::driver::{Plan, RunData, Schedule, drive, start_run};
use super::pretrain_config::PretrainConfig;
use super::pretrain_job::PretrainJob;
use super::pretrain_trainer::PretrainTrainer;
use super::restoration_step::RestorationTrainer;
use super::run_identity::RunIdentity;
use super::run_spec::RunSpec;
use super::ssl_step::SslTrainer;
use super::swin_ssl_step::SwinSslTrainer;
use crate::data::LoaderConfig;
use crate::distributed::DataParallel;
use crate::error::{Error, Result};
use crate::io::write_json_atomic;
use crate::networks::NetworkKind;
use crate::networks::seeded_init::init_seeded;
use crate::report::PretrainSummary;
use crate::report::loss_plots::write_ssl_loss_plots;
use crate::report::records::Record;
use crate::transforms::pipelines::PipelineSpec;

/// Runs (or resumes) a pretraining of the network `cfg.network` names on `device`: the
/// tutorial's ViTAutoEnc, or a CNN's restoration.
pub fn pretrain<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    spec: &RunSpec,
    device: &B::Device,
) -> Result<PretrainSummary> {
    if spec.world.is_some() && cfg.network == NetworkKind::SwinUnetr {
        return Err(Error::InvalidArgument(
            "data-parallel pretraining (--nproc, --nnodes) runs the ViTAutoEnc and the CNNs' \
             restoration; swin_unetr's is pretrained by one process"
                .into(),
        ));
    }
    cfg.check()?;
    in_data_parallel_run::<B, _, _>(spec, cfg, device, |dp| {
        pretrain_network::<B>(cfg, spec, dp, device)
    })
}

/// [`pretrain`] of the network `cfg.network` names, as one process of a data-parallel run when
/// `dp` is given.
fn pretrain_network<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    spec: &RunSpec,
    dp: Option<Arc<DataParallel>>,
    device: &B::Device,
) -> Result<PretrainSummary> {
    match cfg.network {
        NetworkKind::Unetr => {
            let model = init_seeded::<B, _>(&cfg.model, cfg.seed, device)?;
            let mut trainer = SslTrainer::new(model, cfg.lr, cfg.temperature);
            if let Some(dp) = dp {
                trainer = trainer.in_parallel(dp, cfg.negatives);
            }
            pretrain_with(cfg, spec, trainer, &cfg.model, device)
        }
        NetworkKind::Dynunet => {
            let net = cfg.dynunet_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let trainer = RestorationTrainer::new(model, cfg.lr, device)
                .with_micro_batches(cfg.micro_batches, cfg.transforms.num_samples)
                .in_parallel(dp);
            pretrain_with(cfg, spec, trainer, &net, device)
        }
        NetworkKind::Segresnet => {
            let net = cfg.segresnet_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let trainer = RestorationTrainer::new(model, cfg.lr, device)
                .with_micro_batches(cfg.micro_batches, cfg.transforms.num_samples)
                .in_parallel(dp);
            pretrain_with(cfg, spec, trainer, &net, device)
        }
        NetworkKind::SwinUnetr => {
            let s = cfg.swin_ssl_config();
            let model = init_seeded::<B, _>(&s.model, cfg.seed, device)?;
            let (wd, schedule, t) = (s.weight_decay, s.lr_schedule, s.temperature);
            let trainer = SwinSslTrainer::new(model, cfg.lr, wd, schedule, t, cfg.seed, device);
            pretrain_with(cfg, spec, trainer, &s.model, device)
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
        loader: LoaderConfig {
            shard: spec.shard(),
            ..cfg.loader()
        },
        checkpoint_every: cfg.checkpoint_every,
        checkpoint_at_epoch_end: true,
        config_changes,
        writes: spec.writes(),
    };
    let run = drive(
        &mut job,
        &mut trainer,
        plan,
        (&spec.logdir, spec.resume),
        device,
    )?;
    // The tutorial draws the figure at validations only; the last epochs belong in it too.
    if spec.writes() {
        write_ssl_loss_plots(&spec.logdir.join("loss_plots.png"), run.records())?;
    }
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
    if spec.writes() {
        write_json_atomic(&summary, &spec.logdir.join("summary.json"))?;
    }
    Ok(summary)
}
