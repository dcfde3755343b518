//! What a finished fine-tuning run reports (`report.json`, `report.md`): how it started, its
//! data, and its best and last validations as the log holds them.

use super::driver::LoopState;
use super::finetune_config::FinetuneConfig;
use super::finetune_init::Init;
use super::run_spec::RunSpec;
use super::seg_validation::SegValidationState;
use crate::data::btcv::organ_names;
use crate::report::FinetuneReport;
use crate::report::records::SegValRecord;

/// The report of a run that started as `init`, ended in `state` with `validation`'s best, and
/// logged `vals`.
pub(super) fn finetune_report<S>(
    (cfg, spec, init): (&FinetuneConfig, &RunSpec, &Init),
    state: &LoopState<S>,
    validation: &SegValidationState,
    vals: &[&SegValRecord],
    train_volumes: usize,
) -> FinetuneReport {
    if vals.is_empty() {
        let (first, max) = (cfg.eval_num, cfg.max_iterations);
        eprintln!(
            "note: no validation ran (the first is after iteration {first}; max_iterations is {max})"
        );
    }
    FinetuneReport {
        network: cfg.network.name().into(),
        init: init.name().into(),
        seed: Some(cfg.seed),
        pretrained: init.source(),
        transferred_tensors: init.transferred(),
        datalist: spec.datalist.display().to_string(),
        train_volumes,
        validation_volumes: spec.validation.len(),
        steps: state.step,
        best_metric: cfg.best_metric,
        best_iteration: validation.best_iteration,
        best: vals
            .iter()
            .rev()
            .find(|v| v.new_best)
            .map(|v| v.result.clone()),
        last: vals.last().map(|v| v.result.clone()),
        organs: organ_names(cfg.transforms.num_classes),
        wall_s: state.wall_s,
        data_wait_share: state.data_wait_share(),
        validation_s: validation.validation_s,
        device: spec.device_name.clone(),
    }
}
