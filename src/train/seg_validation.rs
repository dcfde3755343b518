//! Fine-tuning's validation: sliding-window inference over every validation volume, Dice per
//! organ (the tutorial's aggregate and the clean one) and HD95, the best model kept by the
//! configured metric, and its predictions written back in each CT's own grid.

use std::path::Path;
use std::time::Instant;

use burn::config::Config;
use burn::tensor::backend::AutodiffBackend;
use ndarray::{Array3, Axis, Ix3};
use serde::{Deserialize, Serialize};

use super::finetune_config::FinetuneConfig;
use super::seg_step::{SegTrainer, TrainableSegmentation};
use crate::data::VolumeDataset;
use crate::error::{Error, Result};
use crate::io::{Placement, read_header, write_image};
use crate::metrics::{
    BestMetric, argmax_channels, dice_per_class, foreground_mean_dice, hd95_per_class,
    mean_of_running_aggregates, per_class_mean,
};
use crate::networks::SegmentationModel;
use crate::networks::checkpoint::save_best_model_tensors;
use crate::report::ValidationResult;
use crate::report::records::SegValRecord;
use crate::transforms::invert_labels::labels_to_grid;

/// Validates the trainer's model on every volume of `val`; with `keep`, returns the predicted
/// label maps (in the preprocessed grid) too. In a data-parallel run each process infers every
/// N-th volume and the per-volume rows are shared, so every process aggregates the same table as
/// one process would (with `keep`, rank 0 infers them all: it writes the label maps).
fn validate_seg<B: AutodiffBackend, M: TrainableSegmentation<B>>(
    trainer: &SegTrainer<B, M>,
    val: &VolumeDataset,
    cfg: &FinetuneConfig,
    keep: bool,
) -> Result<(ValidationResult, Vec<Array3<u8>>)> {
    let model = trainer.inference_model();
    let classes = cfg.transforms.num_classes;
    let shard = trainer.parallel().filter(|_| !keep);
    let owns = |i: usize| shard.is_none_or(|dp| i % dp.size() == dp.rank());
    let mut dice_rows: Vec<Option<Vec<f64>>> = Vec::new();
    let mut hd95_rows: Vec<Option<Vec<f64>>> = Vec::new();
    let mut preds = Vec::new();
    for i in 0..val.len() {
        if !owns(i) {
            dice_rows.push(None);
            hd95_rows.push(None);
            continue;
        }
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
        dice_rows.push(Some(dice_per_class(&p, &g, classes, true, true)));
        if cfg.hd95 {
            let spacing = crate::io::affine::spacing_of(&image.affine);
            hd95_rows.push(Some(hd95_per_class(
                pred.view(),
                gt.view(),
                classes,
                false,
                spacing,
            )));
        }
        if keep {
            preds.push(pred);
        }
    }
    let (dice_rows, hd95_rows) = match shard {
        Some(dp) => {
            let device = trainer.device();
            let dice = dp.share_rows::<B::InnerBackend>(&dice_rows, classes, device)?;
            let hd95 = match cfg.hd95 {
                true => dp.share_rows::<B::InnerBackend>(&hd95_rows, classes - 1, device)?,
                false => Vec::new(),
            };
            (dice, hd95)
        }
        None => (
            dice_rows.into_iter().flatten().collect::<Vec<_>>(),
            hd95_rows.into_iter().flatten().collect::<Vec<_>>(),
        ),
    };
    let cases = (0..val.len())
        .map(|i| val.item(i).image.display().to_string())
        .collect();
    let result = ValidationResult {
        tutorial_dice: mean_of_running_aggregates(&dice_rows),
        foreground_dice: foreground_mean_dice(&dice_rows),
        per_organ_dice: per_class_mean(&dice_rows)[1..].to_vec(),
        per_organ_hd95: if cfg.hd95 {
            per_class_mean(&hd95_rows)
        } else {
            Vec::new()
        },
        cases,
        dice_rows,
        hd95_rows,
    };
    Ok((result, preds))
}

/// Writes each prediction in its original image's grid as `dir/<image>_pred.nii.gz`.
pub fn save_predictions(dir: &Path, val: &VolumeDataset, preds: &[Array3<u8>]) -> Result<()> {
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
        // The image's own qform, sform and codes, so the prediction overlays exactly like it.
        write_image(
            &dir.join(format!("{stem}_pred.nii.gz")),
            &grid,
            Placement::LikeHeader(&h.raw),
        )?;
    }
    Ok(())
}

/// What fine-tuning's validations remember: the best value of the configured metric so far and
/// the tutorial iteration it came from, and the time spent validating.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SegValidationState {
    pub best_metric: f64,
    pub best_iteration: Option<u64>,
    pub validation_s: f64,
}

/// Where a validation happens: the tutorial's iteration, the step count, and the tutorial's
/// iteration-average training loss at that moment.
pub(crate) struct ValidationPoint {
    pub iteration: u64,
    pub step: u64,
    pub train_loss: f64,
}

impl SegValidationState {
    /// Validates at `at`; a new best model is saved as `best_metric_model` in both formats in
    /// `logdir` (with its predictions when `keep_predictions`) by the process that `writes` the
    /// run folder. Returns the log record and the line to print; none on the ranks that leave a
    /// validation with predictions to rank 0.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn validate<B: AutodiffBackend, M: TrainableSegmentation<B>, C: Config>(
        &mut self,
        trainer: &SegTrainer<B, M>,
        val: &VolumeDataset,
        cfg: &FinetuneConfig,
        model_config: &C,
        (keep_predictions, writes): (bool, bool),
        at: ValidationPoint,
        logdir: &Path,
    ) -> Result<Option<(SegValRecord, String)>> {
        let t = Instant::now();
        // With predictions kept, rank 0 alone validates a data-parallel run (it writes them).
        if keep_predictions && !writes {
            return Ok(None);
        }
        let (v, preds) = validate_seg(trainer, val, cfg, keep_predictions)?;
        self.validation_s += t.elapsed().as_secs_f64();
        let metric = match cfg.best_metric {
            BestMetric::Tutorial => v.tutorial_dice,
            BestMetric::Foreground => v.foreground_dice,
        };
        let new_best = metric > self.best_metric;
        if new_best {
            (self.best_metric, self.best_iteration) = (metric, Some(at.iteration));
        }
        if new_best && writes {
            let model = trainer.inference_model();
            let tensors = model.monai_tensors()?;
            save_best_model_tensors(model, model_config, &tensors, logdir, "best_metric_model")?;
            if keep_predictions {
                save_predictions(&logdir.join("predictions"), val, &preds)?;
            }
        }
        let line = format!(
            "iteration {}: val Dice {:.4} (tutorial) / {:.4} (13 organs){}",
            at.iteration,
            v.tutorial_dice,
            v.foreground_dice,
            match new_best {
                true => " (new best: saved best_metric_model)".to_string(),
                false => format!(
                    " (best {:.4} at iteration {})",
                    self.best_metric,
                    self.best_iteration.unwrap_or(0)
                ),
            }
        );
        let record = SegValRecord {
            iteration: at.iteration,
            step: at.step,
            train_loss: at.train_loss,
            dice_tutorial: v.tutorial_dice,
            dice_foreground: v.foreground_dice,
            new_best,
            best_metric: self.best_metric,
            result: v,
        };
        Ok(Some((record, line)))
    }
}
