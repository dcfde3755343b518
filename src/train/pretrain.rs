//! The `ssl-pretrain` run (SPEC §1): the tutorial's epoch loop around [`SslTrainer`], with what a
//! long run needs on top: a metrics log, progress, plots, the best model in two formats, and
//! checkpoints that a killed run resumes from exactly.
//!
//! Exactness: data are a pure function of (seed, epoch, item) and the model draws no random
//! numbers after its initialisation (ViT dropout is 0), so a checkpoint holding the weights, the
//! optimiser state and the loop position (epoch, batch, running epoch sums) is the whole state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{PretrainConfig, ValidationMode, write_effective};
use super::interrupt;
use super::metrics_log::RunLog;
use super::progress::RunProgress;
use super::run_checkpoint::RunCheckpoints;
use super::run_dir::prepare_logdir;
use super::ssl_step::{SslLosses, SslTrainer};
use crate::data::seeding::mix;
use crate::data::{
    DataItem, LoaderConfig, VolumeDataset, batches_per_epoch, epoch_batches, epoch_batches_from,
};
use crate::error::{Error, Result};
use crate::networks::checkpoint::write_safetensors;
use crate::networks::native::save_native;
use crate::networks::state_dict::{Arch, export_state_dict};
use crate::report::loss_plots::{Panel, write_panels};
use crate::transforms::pipelines::PipelineSpec;

/// Config keys a resumed run may change (everything else must match the run's saved config).
const RESUMABLE_CHANGES: [&str; 3] = ["max_epochs", "checkpoint_every", "prefetch_batches"];

/// Running sums of the current epoch (the tutorial logs their means at the epoch's end).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct EpochSums {
    pub total: f64,
    pub recon: f64,
    pub contrastive: f64,
    pub steps: usize,
    pub data_wait_s: f64,
    pub compute_s: f64,
}

/// Where a run stands; saved in every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainState {
    /// The (0-based) epoch the run is in.
    pub epoch: usize,
    /// The first batch of `epoch` not trained yet.
    pub next_batch: usize,
    /// Optimisation steps done.
    pub step: u64,
    /// Best validation L1 so far (the tutorial starts from 1000).
    pub best_val_l1: f64,
    /// 1-based epoch of the best validation, if any.
    pub best_epoch: Option<usize>,
    pub sums: EpochSums,
    /// Records of `metrics.jsonl` that belong to this state (resume cuts the log back to them).
    pub log_records: usize,
    /// Training wall time so far, over all sessions of the run.
    pub wall_s: f64,
}

impl Default for PretrainState {
    fn default() -> Self {
        PretrainState {
            epoch: 0,
            next_batch: 0,
            step: 0,
            best_val_l1: 1000.0,
            best_epoch: None,
            sums: EpochSums::default(),
            log_records: 0,
            wall_s: 0.0,
        }
    }
}

/// What a run needs besides its config.
pub struct PretrainRun {
    pub train: Vec<DataItem>,
    pub validation: Vec<DataItem>,
    pub logdir: PathBuf,
    /// Continue from the latest checkpoint in `logdir`.
    pub resume: bool,
    /// For the summary (e.g. `cpu`, `cuda:0`).
    pub device_name: String,
}

/// The outcome of a finished run.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainSummary {
    pub epochs: usize,
    pub steps: u64,
    pub best_val_l1: f64,
    pub best_epoch: Option<usize>,
    pub final_train_total: Option<f64>,
    pub wall_s: f64,
    pub data_wait_share: f64,
    pub device: String,
}

/// The model and transforms must agree on the patch size, and ViTAutoEnc needs square patches.
fn check_config(cfg: &PretrainConfig) -> Result<()> {
    let vit = &cfg.model.vit;
    if vit.img_size != cfg.transforms.patch_size {
        return Err(Error::InvalidArgument(format!(
            "model.vit.img_size {:?} must equal transforms.patch_size {:?} (the crops the model sees)",
            vit.img_size, cfg.transforms.patch_size
        )));
    }
    for d in 0..3 {
        let p = vit.patch_size[d];
        let r = (p as f64).sqrt().round() as usize;
        if p == 0 || r * r != p || !vit.img_size[d].is_multiple_of(p) {
            return Err(Error::InvalidArgument(format!(
                "model.vit.patch_size {:?}: each must be a perfect square (ViTAutoEnc's transposed \
                 convolutions use its root) dividing img_size {:?}",
                vit.patch_size, vit.img_size
            )));
        }
    }
    if !vit.hidden_size.is_multiple_of(vit.num_heads.max(1)) {
        return Err(Error::InvalidArgument(format!(
            "model.vit.hidden_size {} must be divisible by num_heads {}",
            vit.hidden_size, vit.num_heads
        )));
    }
    if cfg.max_epochs == 0 || cfg.val_interval == 0 || cfg.volumes_per_batch == 0 {
        return Err(Error::InvalidArgument(
            "max_epochs, val_interval and volumes_per_batch must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The validation loader's seed, apart from the training one.
fn validation_seed(seed: u64) -> u64 {
    mix(seed ^ 0x7661_6c69_6461_7465)
}

/// Mean validation L1 of view 1 over the validation batches (the tutorial's `total_val_loss`).
fn validate<B: AutodiffBackend>(
    trainer: &SslTrainer<B>,
    dataset: &Arc<VolumeDataset>,
    cfg: &PretrainConfig,
    epoch: usize,
) -> Result<(f64, usize)> {
    let (loader, epoch) = match cfg.validation {
        ValidationMode::Tutorial => (
            LoaderConfig {
                volumes_per_batch: cfg.volumes_per_batch,
                shuffle: true,
                drop_last: false,
                prefetch: cfg.prefetch_batches,
                run_seed: validation_seed(cfg.seed),
            },
            epoch as u64,
        ),
        ValidationMode::Deterministic => (
            LoaderConfig {
                volumes_per_batch: cfg.volumes_per_batch,
                shuffle: false,
                drop_last: false,
                prefetch: cfg.prefetch_batches,
                run_seed: validation_seed(cfg.seed),
            },
            0,
        ),
    };
    let mut sum = 0.0;
    let mut n = 0;
    for batch in epoch_batches(dataset.clone(), loader, epoch) {
        let loss = trainer.validate(&batch?.tensors)?;
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

/// The tutorial's 2×2 `loss_plots.png` from the log's epoch and validation records.
fn write_loss_plots(path: &Path, records: &[Value]) -> Result<()> {
    let series = |kind: &str, field: &str| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter(|r| r["kind"] == kind)
            .filter_map(|r| Some((r["epoch"].as_f64()?, r[field].as_f64()?)))
            .collect()
    };
    let panels = [
        Panel {
            title: "Training Loss",
            x_label: "epoch",
            points: series("epoch", "total"),
        },
        Panel {
            title: "Validation Loss",
            x_label: "epoch",
            points: series("val", "val_l1"),
        },
        Panel {
            title: "Training Contrastive Loss",
            x_label: "epoch",
            points: series("epoch", "contrastive"),
        },
        Panel {
            title: "Training Recon Loss",
            x_label: "epoch",
            points: series("epoch", "recon"),
        },
    ];
    write_panels(path, &panels, 2)
}

/// Runs (or resumes) a pretraining on `device`.
pub fn pretrain<B: AutodiffBackend>(
    cfg: &PretrainConfig,
    run: &PretrainRun,
    device: &B::Device,
) -> Result<PretrainSummary> {
    check_config(cfg)?;
    prepare_logdir(cfg, &run.logdir, run.resume, &RESUMABLE_CHANGES)?;
    let interrupt_handled = interrupt::install();
    let spec = PipelineSpec::Pretrain(cfg.transforms.clone());
    let cache = cfg.cache.mode(&run.logdir);
    let train = Arc::new(VolumeDataset::new(
        run.train.clone(),
        spec.clone(),
        cache.clone(),
    )?);
    let val = Arc::new(VolumeDataset::new(run.validation.clone(), spec, cache)?);
    if train.is_empty() || val.is_empty() {
        return Err(Error::InvalidArgument(
            "the datalist needs at least one training and one validation volume".into(),
        ));
    }
    train.fill_cache()?;
    val.fill_cache()?;

    B::seed(device, cfg.seed);
    let model = cfg.model.init::<B>(device);
    let mut trainer = SslTrainer::new(model, cfg.lr, cfg.temperature);
    let ckpts = RunCheckpoints::new(&run.logdir);
    let mut state = PretrainState::default();
    let mut last_ckpt: Option<PathBuf> = None;
    if run.resume {
        let (ckpt, saved, model, optimizer) =
            ckpts.resume::<B, _, _, _>(trainer.model.clone(), device)?;
        state = saved;
        trainer.model = model;
        trainer.load_optimizer_record(optimizer);
        eprintln!(
            "resuming from {} (epoch {}, batch {}, step {})",
            ckpt.display(),
            state.epoch + 1,
            state.next_batch,
            state.step
        );
        last_ckpt = Some(ckpt);
    }
    let mut log = RunLog::open(&run.logdir, state.log_records)?;
    let loader = LoaderConfig {
        volumes_per_batch: cfg.volumes_per_batch,
        shuffle: true,
        drop_last: false,
        prefetch: cfg.prefetch_batches,
        run_seed: cfg.seed,
    };
    let per_epoch = batches_per_epoch(train.len(), &loader);
    let progress = RunProgress::new((per_epoch * cfg.max_epochs) as u64, state.step);
    let session_start = Instant::now();
    let wall_before = state.wall_s;
    let save = |trainer: &SslTrainer<B>, state: &PretrainState| -> Result<PathBuf> {
        ckpts.save::<B, _, _, _, _>(
            state.step,
            trainer.model.clone(),
            &cfg.model,
            trainer.optimizer_record(),
            state,
        )
    };

    for epoch in state.epoch..cfg.max_epochs {
        for batch in epoch_batches_from(train.clone(), loader, epoch as u64, state.next_batch) {
            let batch = batch?;
            let t = Instant::now();
            let losses: SslLosses = trainer.step(&batch.tensors).map_err(|e| match e {
                Error::Training(msg) => Error::Training(format!(
                    "epoch {}, step {}: {msg}. The last good checkpoint is {}; resume with \
                     --resume (perhaps with a lower lr).",
                    epoch + 1,
                    state.step + 1,
                    last_ckpt
                        .as_ref()
                        .map_or("none (no checkpoint yet)".into(), |p| p
                            .display()
                            .to_string())
                )),
                other => other,
            })?;
            let compute_s = t.elapsed().as_secs_f64();
            let wait_s = batch.wait.as_secs_f64();
            state.step += 1;
            state.next_batch = batch.index + 1;
            let s = &mut state.sums;
            s.total += losses.total;
            s.recon += losses.recon;
            s.contrastive += losses.contrastive;
            s.steps += 1;
            s.data_wait_s += wait_s;
            s.compute_s += compute_s;
            state.wall_s = wall_before + session_start.elapsed().as_secs_f64();
            let r = json!({
                "kind": "step", "step": state.step, "epoch": epoch + 1, "batch": batch.index + 1,
                "total": losses.total, "recon": losses.recon, "contrastive": losses.contrastive,
                "lr": cfg.lr, "data_wait_ms": wait_s * 1e3, "compute_ms": compute_s * 1e3,
            });
            log.push(r, &mut state.log_records)?;
            progress.step(
                state.step,
                &format!("epoch {}/{}", epoch + 1, cfg.max_epochs),
                &format!(
                    "total {:.4} recon {:.4} contrastive {:.4} ({:.2} s)",
                    losses.total, losses.recon, losses.contrastive, compute_s
                ),
            );
            let interrupted = interrupt_handled && interrupt::requested();
            let due =
                cfg.checkpoint_every > 0 && state.step.is_multiple_of(cfg.checkpoint_every as u64);
            // The epoch-end checkpoint covers the epoch's last batch.
            if interrupted || (due && state.next_batch < per_epoch) {
                last_ckpt = Some(save(&trainer, &state)?);
            }
            if interrupted {
                progress.finish();
                return Err(Error::Interrupted(format!(
                    "interrupted at step {}; continue with the same command and --resume",
                    state.step
                )));
            }
        }

        let s = state.sums;
        let n = s.steps.max(1) as f64;
        let r = json!({
            "kind": "epoch", "epoch": epoch + 1, "step": state.step, "steps": s.steps,
            "total": s.total / n, "recon": s.recon / n, "contrastive": s.contrastive / n,
            "data_wait_s": s.data_wait_s, "compute_s": s.compute_s,
        });
        log.push(r, &mut state.log_records)?;
        progress.println(&format!(
            "epoch {}/{}: average loss {:.4} (recon {:.4}, contrastive {:.4})",
            epoch + 1,
            cfg.max_epochs,
            s.total / n,
            s.recon / n,
            s.contrastive / n
        ));
        if epoch % cfg.val_interval == 0 {
            let (val_l1, batches) = validate(&trainer, &val, cfg, epoch)?;
            let best = val_l1 < state.best_val_l1;
            if best {
                state.best_val_l1 = val_l1;
                state.best_epoch = Some(epoch + 1);
                let model = trainer.model.valid();
                save_native(model.clone(), &cfg.model, &run.logdir, "best_model")?;
                write_safetensors(
                    &run.logdir.join("best_model.safetensors"),
                    &export_state_dict(&model, Arch::VitAutoEnc)?,
                )?;
            }
            let r = json!({
                "kind": "val", "epoch": epoch + 1, "step": state.step, "val_l1": val_l1,
                "batches": batches, "best_val_l1": state.best_val_l1, "new_best": best,
            });
            log.push(r, &mut state.log_records)?;
            write_loss_plots(&run.logdir.join("loss_plots.png"), &log.records)?;
            progress.println(&format!(
                "epoch {}: validation L1 {val_l1:.4}{}",
                epoch + 1,
                if best {
                    " (new best: saved best_model)".to_string()
                } else {
                    format!(
                        " (best {:.4} at epoch {})",
                        state.best_val_l1,
                        state.best_epoch.unwrap_or(0)
                    )
                }
            ));
        }
        state.epoch = epoch + 1;
        state.next_batch = 0;
        state.sums = EpochSums::default();
        state.wall_s = wall_before + session_start.elapsed().as_secs_f64();
        last_ckpt = Some(save(&trainer, &state)?);
        if interrupt_handled && interrupt::requested() {
            progress.finish();
            return Err(Error::Interrupted(format!(
                "interrupted after epoch {}; continue with the same command and --resume",
                epoch + 1
            )));
        }
    }
    progress.finish();
    // The tutorial draws the figure at validations only; the last epochs belong in it too.
    write_loss_plots(&run.logdir.join("loss_plots.png"), &log.records)?;

    let (wait, compute) =
        log.records
            .iter()
            .filter(|r| r["kind"] == "epoch")
            .fold((0.0, 0.0), |(w, c), r| {
                (
                    w + r["data_wait_s"].as_f64().unwrap_or(0.0),
                    c + r["compute_s"].as_f64().unwrap_or(0.0),
                )
            });
    let summary = PretrainSummary {
        epochs: state.epoch,
        steps: state.step,
        best_val_l1: state.best_val_l1,
        best_epoch: state.best_epoch,
        final_train_total: log
            .records
            .iter()
            .rev()
            .find(|r| r["kind"] == "epoch")
            .and_then(|r| r["total"].as_f64()),
        wall_s: state.wall_s,
        data_wait_share: if wait + compute > 0.0 {
            wait / (wait + compute)
        } else {
            0.0
        },
        device: run.device_name.clone(),
    };
    write_effective(&summary, &run.logdir.join("summary.json"))?;
    Ok(summary)
}
