//! The `ssl-finetune` job: the tutorial's iteration loop (docs/MONAI_COMPAT.md, "Fine-tuning
//! tutorial") around [`SegTrainer`] on the run driver, for whichever network the config names
//! ([`finetune_network`]): the run's data, plan and report here; the sliding-window validation at
//! the tutorial's iterations, best model, per-organ Dice and HD95 in `finetune_job`.

use std::marker::PhantomData;
use std::path::Path;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;

use super::data_parallel_run::in_data_parallel_run;
use super::driver::{Plan, RunData, Schedule, drive, start_run};
use super::finetune_config::FinetuneConfig;
use super::finetune_init::{Init, starting_network, starting_unetr};
use super::finetune_job::FinetuneJob;
use super::finetune_outcome::finetune_report;
use super::run_identity::RunIdentity;
use super::run_spec::RunSpec;
use super::seg_step::{SegTrainer, TrainableSegmentation};
use crate::data::LoaderConfig;
use crate::error::Result;
use crate::io::write_json_atomic;
use crate::networks::NetworkKind;
use crate::networks::restoration_transfer::transfer_restoration;
use crate::networks::seeded_init::init_seeded;
use crate::networks::state_dict::Arch;
use crate::networks::swin_transfer::transfer_swin;
use crate::report::FinetuneReport;
use crate::report::records::validations;
use crate::transforms::pipelines::PipelineSpec;

/// Runs (or resumes) a fine-tuning on `device` from `model` (built from `model_config`, already
/// initialised as `init` says); with `keep_predictions`, each new best model's validation label
/// maps are written.
pub fn finetune<B: AutodiffBackend, M: TrainableSegmentation<B>, C: Config + 'static>(
    cfg: &FinetuneConfig,
    spec: &RunSpec,
    init: &Init,
    model: M,
    model_config: &C,
    keep_predictions: bool,
    device: &B::Device,
) -> Result<FinetuneReport> {
    cfg.check()?;
    in_data_parallel_run::<B, _, _>(spec, cfg, device, |dp| {
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
        if let Init::Pretrained { report, .. } = init
            && spec.writes()
        {
            write_json_atomic(report, &spec.logdir.join("transfer_report.json"))?;
        }
        let mut trainer = SegTrainer::new(
            model,
            cfg.lr,
            cfg.weight_decay,
            cfg.deep_supervision_weights,
            device,
        )
        .with_schedule(cfg.lr_schedule, cfg.max_iterations as u64)
        .with_micro_batches(cfg.micro_batches, cfg.transforms.num_samples)
        .in_parallel(dp);
        let mut job = FinetuneJob {
            cfg,
            model_config,
            validation,
            keep_predictions,
            network: PhantomData,
        };
        let n_train = train.len();
        let plan = Plan {
            train,
            model_config,
            schedule: Schedule::Iterations(cfg.max_iterations as u64),
            loader: LoaderConfig {
                shard: spec.shard(),
                ..cfg.loader()
            },
            checkpoint_every: cfg.checkpoint_every,
            checkpoint_at_epoch_end: false,
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
        let (state, vals) = (&run.state, validations(run.records()));
        let report = finetune_report(
            (cfg, spec, init),
            state,
            &state.job.validation,
            &vals,
            n_train,
        );
        if spec.writes() {
            report.write(&spec.logdir)?;
        }
        Ok(report)
    })
}

/// Fine-tunes the network `cfg.network` names, from `pretrained` (UNETR: a ViTAutoEnc or UNETR
/// backbone; DynUNet, SegResNet: the same network's restoration pretraining; SwinUNETR: a Swin
/// backbone in any published layout) or from its seeded random initialisation.
pub fn finetune_network<B: AutodiffBackend>(
    cfg: &FinetuneConfig,
    spec: &RunSpec,
    pretrained: Option<&Path>,
    keep_predictions: bool,
    device: &B::Device,
) -> Result<FinetuneReport> {
    cfg.check()?;
    let keep = keep_predictions;
    match cfg.network {
        NetworkKind::Unetr => {
            let (model, init) = starting_unetr::<B>(&cfg.model, cfg.seed, pretrained, device)?;
            finetune(cfg, spec, &init, model, &cfg.model, keep, device)
        }
        NetworkKind::Dynunet => {
            let net = cfg.dynunet_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let transfer = |m: &mut _, t: &_| transfer_restoration(m, Arch::DynUnet, t);
            let (model, init) = starting_network::<B, _>(model, pretrained, transfer, device)?;
            finetune(cfg, spec, &init, model, &net, keep, device)
        }
        NetworkKind::Segresnet => {
            let net = cfg.segresnet_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let transfer = |m: &mut _, t: &_| transfer_restoration(m, Arch::SegResNet, t);
            let (model, init) = starting_network::<B, _>(model, pretrained, transfer, device)?;
            finetune(cfg, spec, &init, model, &net, keep, device)
        }
        NetworkKind::SwinUnetr => {
            let net = cfg.swin_unetr_config();
            let model = init_seeded::<B, _>(&net, cfg.seed, device)?;
            let (model, init) = starting_network::<B, _>(model, pretrained, transfer_swin, device)?;
            finetune(cfg, spec, &init, model, &net, keep, device)
        }
    }
}
