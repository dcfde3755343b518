//! The `ssl-finetune` run (SPEC §2): the tutorial's iteration loop around [`SegTrainer`] with
//! sliding-window validation, per-organ Dice and HD95, the best model in two formats, reports, and
//! the same resumable checkpoints as pretraining.
//!
//! Exactness: data are a pure function of (seed, epoch, item), UNETR draws no random numbers after
//! its initialisation (dropout 0), and a checkpoint holds the weights, the AdamW state and the loop
//! position, including the tutorial's running `epoch_loss`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use ndarray::{Axis, Ix3};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::config::{BestMetric, FinetuneConfig};
use super::finetune_report::{FinetuneReport, ValidationResult, write_finetune_plots};
use super::interrupt;
use super::metrics_log::RunLog;
use super::progress::RunProgress;
use super::run_checkpoint::RunCheckpoints;
use super::run_dir::prepare_logdir;
use super::seg_step::SegTrainer;
use crate::data::{DataItem, LoaderConfig, VolumeDataset, batches_per_epoch, epoch_batches_from};
use crate::error::{Error, Result};
use crate::io::{read_header, write_volume};
use crate::metrics::{
    argmax_channels, dice_per_class, foreground_mean_dice, hd95_per_class,
    mean_of_running_aggregates, per_class_mean,
};
use crate::networks::checkpoint::{TransferReport, write_safetensors};
use crate::networks::native::save_native;
use crate::networks::state_dict::{Arch, export_state_dict};
use crate::networks::{Unetr, UnetrConfig};
use crate::transforms::invert_labels::labels_to_grid;
use crate::transforms::pipelines::PipelineSpec;

/// Config keys a resumed run may change.
const RESUMABLE_CHANGES: [&str; 3] = ["max_iterations", "checkpoint_every", "prefetch_batches"];

/// Where a fine-tuning run stands; saved in every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneState {
    /// The (0-based) epoch the run is in.
    pub epoch: usize,
    /// The first batch of `epoch` not trained yet.
    pub next_batch: usize,
    /// Optimisation steps done (the tutorial's `global_step` after its increment).
    pub global_step: u64,
    /// The tutorial's `epoch_loss` (a running sum, divided in place at validations: SPEC §2.5).
    pub epoch_loss: f64,
    /// 1-based index of the last step within the epoch.
    pub step_in_epoch: usize,
    /// Best value of the configured metric so far, and the tutorial iteration it came from.
    pub best_metric: f64,
    pub best_iteration: Option<u64>,
    pub log_records: usize,
    pub wall_s: f64,
    pub data_wait_s: f64,
    pub compute_s: f64,
    pub validation_s: f64,
}

impl Default for FinetuneState {
    fn default() -> Self {
        FinetuneState {
            epoch: 0,
            next_batch: 0,
            global_step: 0,
            epoch_loss: 0.0,
            step_in_epoch: 0,
            best_metric: 0.0,
            best_iteration: None,
            log_records: 0,
            wall_s: 0.0,
            data_wait_s: 0.0,
            compute_s: 0.0,
            validation_s: 0.0,
        }
    }
}

/// How the UNETR starts.
#[derive(Debug, Clone)]
pub enum Init {
    /// The tutorial's baseline: every weight at its random initialisation.
    Random,
    /// A pretrained backbone moved into `UNETR.vit`, with the report of what was loaded.
    Pretrained {
        path: PathBuf,
        report: TransferReport,
    },
}

/// What a run needs besides its config.
pub struct FinetuneRun {
    pub train: Vec<DataItem>,
    pub validation: Vec<DataItem>,
    pub logdir: PathBuf,
    pub resume: bool,
    pub device_name: String,
    /// The datalist, for the report (e.g. `dataset_0_init_6.json`).
    pub datalist: PathBuf,
    /// Write each new best model's validation predictions as NIfTI in the original grids.
    pub save_predictions: bool,
}

fn check_config(cfg: &FinetuneConfig) -> Result<()> {
    let m = &cfg.model;
    if m.out_channels != cfg.transforms.num_classes {
        return Err(Error::InvalidArgument(format!(
            "model.out_channels {} must equal transforms.num_classes {}",
            m.out_channels, cfg.transforms.num_classes
        )));
    }
    if m.vit.patch_size != [16, 16, 16] {
        return Err(Error::InvalidArgument(format!(
            "model.vit.patch_size {:?}: UNETR's decoder upsamples by 16 (MONAI fixes 16³ patches)",
            m.vit.patch_size
        )));
    }
    if m.vit.img_size != cfg.transforms.spatial_size
        || m.vit.img_size != cfg.sliding_window.roi_size
    {
        return Err(Error::InvalidArgument(format!(
            "model.vit.img_size {:?}, transforms.spatial_size {:?} and sliding_window.roi_size {:?} \
             must be equal (the crops and windows the model sees)",
            m.vit.img_size, cfg.transforms.spatial_size, cfg.sliding_window.roi_size
        )));
    }
    if m.vit.img_size.iter().any(|s| s % 16 != 0) || m.vit.num_layers < 10 {
        return Err(Error::InvalidArgument(format!(
            "model.vit: img_size {:?} must be multiples of 16 and num_layers ({}) at least 10 \
             (UNETR takes skips from blocks 4, 7 and 10)",
            m.vit.img_size, m.vit.num_layers
        )));
    }
    if !m.vit.hidden_size.is_multiple_of(m.vit.num_heads.max(1)) {
        return Err(Error::InvalidArgument(format!(
            "model.vit.hidden_size {} must be divisible by num_heads {}",
            m.vit.hidden_size, m.vit.num_heads
        )));
    }
    if cfg.max_iterations == 0 || cfg.eval_num == 0 || cfg.volumes_per_batch == 0 {
        return Err(Error::InvalidArgument(
            "max_iterations, eval_num and volumes_per_batch must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Sliding-window inference, Dice and HD95 over every validation volume; with `keep`, the
/// predicted label maps too.
fn validate<B: AutodiffBackend>(
    trainer: &SegTrainer<B>,
    val: &VolumeDataset,
    cfg: &FinetuneConfig,
    keep: bool,
) -> Result<(ValidationResult, Vec<ndarray::Array3<u8>>)> {
    let model: Unetr<B::InnerBackend> = trainer.inference_model();
    let classes = cfg.transforms.num_classes;
    let mut dice_rows = Vec::new();
    let mut hd95_rows = Vec::new();
    let mut preds = Vec::new();
    for i in 0..val.len() {
        let pre = val.preprocessed(i)?;
        let image = pre.get("image")?;
        let label = pre.get("label")?;
        let input = image.data.view().insert_axis(Axis(0));
        let logits = cfg
            .sliding_window
            .infer(input, |w| Ok(trainer.predict(&model, w)))?;
        let pred = argmax_channels(logits.index_axis(Axis(0), 0).into_dyn())
            .into_dimensionality::<Ix3>()
            .expect("3-D prediction");
        let gt = label
            .data
            .index_axis(Axis(0), 0)
            .mapv(|v| v.round().clamp(0.0, 255.0) as u8);
        let p: Vec<u8> = pred.iter().copied().collect();
        let g: Vec<u8> = gt.iter().copied().collect();
        dice_rows.push(dice_per_class(&p, &g, classes, true, true));
        if cfg.hd95 {
            let spacing = crate::io::affine::spacing_of(&image.affine);
            hd95_rows.push(hd95_per_class(
                pred.view(),
                gt.view(),
                classes,
                false,
                spacing,
            ));
        }
        if keep {
            preds.push(pred);
        }
    }
    let names = (0..val.len())
        .map(|i| val.item(i).image.display().to_string())
        .collect();
    Ok((
        ValidationResult {
            tutorial_dice: mean_of_running_aggregates(&dice_rows),
            foreground_dice: foreground_mean_dice(&dice_rows),
            per_organ_dice: per_class_mean(&dice_rows)[1..].to_vec(),
            per_organ_hd95: if cfg.hd95 {
                per_class_mean(&hd95_rows)
            } else {
                Vec::new()
            },
            cases: names,
            dice_rows,
            hd95_rows,
        },
        preds,
    ))
}

/// Writes each prediction in its original image's grid as `predictions/<image>_pred.nii.gz`.
fn save_predictions(dir: &Path, val: &VolumeDataset, preds: &[ndarray::Array3<u8>]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (i, pred) in preds.iter().enumerate() {
        let pre = val.preprocessed(i)?;
        let item = val.item(i);
        let h = read_header(&item.image)?;
        let shape = [h.shape[0], h.shape[1], h.shape[2]];
        let grid = labels_to_grid(pred.view(), &pre.get("image")?.affine, shape, &h.affine)?;
        let name = item
            .image
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| format!("case{i}"));
        let stem = name
            .trim_end_matches(".gz")
            .trim_end_matches(".nii")
            .trim_end_matches(".img")
            .to_string();
        write_volume(&dir.join(format!("{stem}_pred.nii.gz")), &grid, &h.affine)?;
    }
    Ok(())
}

/// Runs (or resumes) a fine-tuning on `device` from `model` (already initialised as `init` says).
pub fn finetune<B: AutodiffBackend>(
    cfg: &FinetuneConfig,
    run: &FinetuneRun,
    init: &Init,
    model: Unetr<B>,
    device: &B::Device,
) -> Result<FinetuneReport> {
    check_config(cfg)?;
    prepare_logdir(cfg, &run.logdir, run.resume, &RESUMABLE_CHANGES)?;
    if let Init::Pretrained { report, .. } = init {
        let text = serde_json::to_string_pretty(report).expect("reports serialise");
        std::fs::write(run.logdir.join("transfer_report.json"), text + "\n")
            .map_err(|e| Error::io(run.logdir.join("transfer_report.json"), e))?;
    }
    let interrupt_handled = interrupt::install();
    let cache = cfg.cache.mode(&run.logdir);
    let train = Arc::new(VolumeDataset::new(
        run.train.clone(),
        PipelineSpec::Finetune {
            config: cfg.transforms.clone(),
            train: true,
        },
        cache.clone(),
    )?);
    let val = VolumeDataset::new(
        run.validation.clone(),
        PipelineSpec::Finetune {
            config: cfg.transforms.clone(),
            train: false,
        },
        cache,
    )?;
    if train.is_empty() || val.is_empty() {
        return Err(Error::InvalidArgument(
            "the datalist needs at least one training and one validation volume".into(),
        ));
    }
    train.fill_cache()?;
    val.fill_cache()?;

    let mut trainer = SegTrainer::new(model, cfg.lr, cfg.weight_decay);
    let ckpts = RunCheckpoints::new(&run.logdir);
    let mut state = FinetuneState::default();
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
            state.global_step
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
    // Epochs run to their end, so the last one may go past max_iterations (not with 6/12/24).
    let total = (cfg.max_iterations.div_ceil(per_epoch) * per_epoch) as u64;
    let progress = RunProgress::new(total, state.global_step);
    let session_start = Instant::now();
    let wall_before = state.wall_s;

    let save = |trainer: &SegTrainer<B>, state: &FinetuneState| -> Result<PathBuf> {
        ckpts.save::<B, _, _, _, _>(
            state.global_step,
            trainer.model.clone(),
            &cfg.model,
            trainer.optimizer_record(),
            state,
        )
    };
    let mut last_validation: Option<ValidationResult> = None;
    let mut best_validation: Option<ValidationResult> = None;
    if run.resume {
        // The report's best and last validations come from the log.
        for r in log.records.iter().filter(|r| r["kind"] == "val") {
            let v: ValidationResult = serde_json::from_value(r["result"].clone()).map_err(|e| {
                Error::bad_file(
                    run.logdir.join("metrics.jsonl"),
                    format!("unreadable validation record: {e}"),
                )
            })?;
            if r["new_best"] == true {
                best_validation = Some(v.clone());
            }
            last_validation = Some(v);
        }
    }

    while state.global_step < cfg.max_iterations as u64 {
        let epoch = state.epoch;
        for batch in epoch_batches_from(train.clone(), loader, epoch as u64, state.next_batch) {
            let batch = batch?;
            let t = Instant::now();
            let loss = trainer.step(&batch.tensors).map_err(|e| match e {
                Error::Training(msg) => Error::Training(format!(
                    "step {}: {msg}. The last good checkpoint is {}; resume with --resume \
                     (perhaps with a lower lr).",
                    state.global_step + 1,
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
            state.step_in_epoch += 1;
            state.epoch_loss += loss;
            state.data_wait_s += wait_s;
            state.compute_s += compute_s;
            // The tutorial's pre-increment counter, which its validation condition reads.
            let iteration = state.global_step;
            state.global_step += 1;
            state.next_batch = batch.index + 1;
            state.wall_s = wall_before + session_start.elapsed().as_secs_f64();
            let r = json!({
                "kind": "step", "step": state.global_step, "epoch": epoch + 1,
                "batch": batch.index + 1, "loss": loss, "lr": cfg.lr,
                "data_wait_ms": wait_s * 1e3, "compute_ms": compute_s * 1e3,
            });
            log.push(r, &mut state.log_records)?;
            progress.step(
                state.global_step,
                &format!("epoch {}", epoch + 1),
                &format!("DiceCE {loss:.4} ({compute_s:.2} s)"),
            );

            let validate_now = (iteration.is_multiple_of(cfg.eval_num as u64) && iteration != 0)
                || iteration == cfg.max_iterations as u64;
            if validate_now {
                let t = Instant::now();
                let (v, preds) = validate(&trainer, &val, cfg, run.save_predictions)?;
                state.validation_s += t.elapsed().as_secs_f64();
                state.epoch_loss /= state.step_in_epoch as f64;
                let metric = match cfg.best_metric {
                    BestMetric::Tutorial => v.tutorial_dice,
                    BestMetric::Foreground => v.foreground_dice,
                };
                let best = metric > state.best_metric;
                if best {
                    state.best_metric = metric;
                    state.best_iteration = Some(iteration);
                    let model = trainer.inference_model();
                    save_native(model.clone(), &cfg.model, &run.logdir, "best_metric_model")?;
                    write_safetensors(
                        &run.logdir.join("best_metric_model.safetensors"),
                        &export_state_dict(&model, Arch::Unetr)?,
                    )?;
                    if run.save_predictions {
                        save_predictions(&run.logdir.join("predictions"), &val, &preds)?;
                    }
                    best_validation = Some(v.clone());
                }
                let r = json!({
                    "kind": "val", "iteration": iteration, "step": state.global_step,
                    "train_loss": state.epoch_loss, "dice_tutorial": v.tutorial_dice,
                    "dice_foreground": v.foreground_dice, "new_best": best,
                    "best_metric": state.best_metric, "result": v,
                });
                log.push(r, &mut state.log_records)?;
                write_finetune_plots(&run.logdir.join("finetune_plots.png"), &log.records, cfg)?;
                progress.println(&format!(
                    "iteration {iteration}: val Dice {:.4} (tutorial) / {:.4} (13 organs){}",
                    v.tutorial_dice,
                    v.foreground_dice,
                    if best {
                        " (new best: saved best_metric_model)".to_string()
                    } else {
                        format!(
                            " (best {:.4} at iteration {})",
                            state.best_metric,
                            state.best_iteration.unwrap_or(0)
                        )
                    }
                ));
                last_validation = Some(v);
            }
            let interrupted = interrupt_handled && interrupt::requested();
            let due = cfg.checkpoint_every > 0
                && state
                    .global_step
                    .is_multiple_of(cfg.checkpoint_every as u64);
            if interrupted || due {
                last_ckpt = Some(save(&trainer, &state)?);
            }
            if interrupted {
                progress.finish();
                return Err(Error::Interrupted(format!(
                    "interrupted at step {}; continue with the same command and --resume",
                    state.global_step
                )));
            }
        }
        state.epoch += 1;
        state.next_batch = 0;
        state.epoch_loss = 0.0;
        state.step_in_epoch = 0;
    }
    progress.finish();
    state.wall_s = wall_before + session_start.elapsed().as_secs_f64();
    save(&trainer, &state)?;
    if !log.records.iter().any(|r| r["kind"] == "val") {
        eprintln!(
            "note: no validation ran (the first is after iteration {}; max_iterations is {})",
            cfg.eval_num, cfg.max_iterations
        );
    }
    let report = FinetuneReport::new(
        cfg,
        run,
        init,
        &state,
        best_validation,
        last_validation,
        train.len(),
    );
    report.write(&run.logdir)?;
    Ok(report)
}

/// A UNETR built from `cfg`, seeded, with every weight at its random initialisation.
pub fn init_unetr<B: AutodiffBackend>(
    cfg: &UnetrConfig,
    seed: u64,
    device: &B::Device,
) -> Unetr<B> {
    B::seed(device, seed);
    cfg.init::<B>(device)
}
