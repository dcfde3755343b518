//! The typed lines of a run's `metrics.jsonl`: what a training step, an epoch and a validation
//! log. Both jobs write them through one log, and the plots, reports and TensorBoard events are
//! drawn from them, so a renamed field is a compile error instead of a silently empty curve. On
//! disk every line is one JSON object whose `kind` is `step`, `epoch`, `val` or `resume`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config_diff::ConfigChanges;
use super::validation::{ValidationResult, nan_as_null};
use crate::data::btcv::organ_names;
use crate::error::{Error, Result};

/// One line of a run's log, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record<L, E, V> {
    Step(StepRecord<L>),
    Epoch(E),
    Val(V),
    Resume(ResumeRecord),
}

/// A resume that changed settings a run may change (the learning rate, the validation interval,
/// how long to run, ...): the step it resumed at and, per key, the saved value and the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeRecord {
    pub step: u64,
    pub changed: ConfigChanges,
}

impl Scalars for ResumeRecord {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
}

/// `ssl-pretrain`'s log lines.
pub(crate) type PretrainRecord = Record<SslLosses, SslEpochRecord, SslValRecord>;
/// `ssl-finetune`'s log lines (the tutorial's loop logs no epoch summaries).
pub(crate) type FinetuneRecord = Record<SegLoss, NoRecord, SegValRecord>;

/// The validation records of a log, in order.
pub fn validations<L, E, V>(records: &[Record<L, E, V>]) -> Vec<&V> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Val(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// Every complete line of a run's log as `R` (a torn last line from a crash ends the list).
pub(crate) fn read_log<R: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<R>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
        match serde_json::from_str(&line) {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// One optimisation step: where it was, the job's losses, the learning rate and its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord<L> {
    /// Optimisation steps done, this one included.
    pub step: u64,
    /// 1-based epoch and batch within it.
    pub epoch: usize,
    pub batch: usize,
    #[serde(flatten)]
    pub losses: L,
    pub lr: f64,
    /// How long the step waited for its batch, and how long it computed.
    pub data_wait_ms: f64,
    pub compute_ms: f64,
}

/// The three numbers the SSL tutorial logs per step, and Swin pretraining's rotation term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SslLosses {
    pub total: f64,
    pub recon: f64,
    pub contrastive: f64,
    /// Rotation cross-entropy (Swin UNETR's pretraining only; absent from other runs' logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<f64>,
}

impl SslLosses {
    /// The sum of two records (an epoch's running sums).
    pub(crate) fn plus(self, o: SslLosses) -> SslLosses {
        SslLosses {
            total: self.total + o.total,
            recon: self.recon + o.recon,
            contrastive: self.contrastive + o.contrastive,
            rotation: match (self.rotation, o.rotation) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            },
        }
    }
}

/// ConVIRT's loss of one step and its two directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ConvirtLosses {
    pub total: f64,
    pub image_to_text: f64,
    pub text_to_image: f64,
}

impl NamedLosses for ConvirtLosses {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("total", self.total),
            ("image_to_text", self.image_to_text),
            ("text_to_image", self.text_to_image),
        ]
    }
}

/// The fine-tuning tutorial's DiceCE loss of one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegLoss {
    pub loss: f64,
}

/// A kind of line a job never writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum NoRecord {}

/// The end of a pretraining epoch: the means the tutorial prints, and where its time went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SslEpochRecord {
    pub epoch: usize,
    pub step: u64,
    /// Steps in this epoch.
    pub steps: usize,
    pub total: f64,
    pub recon: f64,
    pub contrastive: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<f64>,
    pub data_wait_s: f64,
    pub compute_s: f64,
}

/// A pretraining validation: the mean L1 of view 1 over the validation batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SslValRecord {
    pub epoch: usize,
    pub step: u64,
    pub val_l1: f64,
    pub batches: usize,
    /// The best so far; `null` while no validation has beaten the tutorial's starting value
    /// (1000), i.e. while there is no best model.
    pub best_val_l1: Option<f64>,
    pub new_best: bool,
}

/// A fine-tuning validation at the tutorial's `iteration` (the step count before the update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegValRecord {
    pub iteration: u64,
    pub step: u64,
    /// The tutorial's "Iteration Average Loss" (its running `epoch_loss` divided in place).
    pub train_loss: f64,
    #[serde(with = "nan_as_null::scalar")]
    pub dice_tutorial: f64,
    #[serde(with = "nan_as_null::scalar")]
    pub dice_foreground: f64,
    pub new_best: bool,
    #[serde(with = "nan_as_null::scalar")]
    pub best_metric: f64,
    pub result: ValidationResult,
}

/// What a record shows in TensorBoard: the step it belongs to and its named values.
pub trait Scalars {
    fn step(&self) -> u64;
    /// `(tag, value)` pairs; values that are not finite are left out.
    fn scalars(&self) -> Vec<(String, f64)>;
}

/// A step's losses by name (`total`, `recon`, …).
pub trait NamedLosses {
    fn named(&self) -> Vec<(&'static str, f64)>;

    /// The progress line's text: `name value` pairs.
    fn describe(&self) -> String {
        let pairs = self.named().into_iter().map(|(n, v)| format!("{n} {v:.4}"));
        pairs.collect::<Vec<_>>().join(" ")
    }
}

impl NamedLosses for SslLosses {
    fn named(&self) -> Vec<(&'static str, f64)> {
        let mut named = vec![
            ("total", self.total),
            ("recon", self.recon),
            ("contrastive", self.contrastive),
        ];
        named.extend(self.rotation.map(|r| ("rotation", r)));
        named
    }
}

impl NamedLosses for SegLoss {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("dice_ce", self.loss)]
    }

    fn describe(&self) -> String {
        format!("DiceCE {:.4}", self.loss)
    }
}

/// `part`'s share of `part + other` (0 when both are 0).
pub(crate) fn share(part: f64, other: f64) -> f64 {
    if part + other > 0.0 {
        part / (part + other)
    } else {
        0.0
    }
}

fn finite(pairs: impl IntoIterator<Item = (String, f64)>) -> Vec<(String, f64)> {
    pairs.into_iter().filter(|(_, v)| v.is_finite()).collect()
}

impl<L: NamedLosses> Scalars for StepRecord<L> {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        let losses = self.losses.named().into_iter();
        finite(losses.map(|(name, v)| (format!("train/{name}"), v)).chain([
            ("train/lr".into(), self.lr),
            (
                "train/data_wait_share".into(),
                share(self.data_wait_ms, self.compute_ms),
            ),
        ]))
    }
}

impl Scalars for SslEpochRecord {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        let rotation = (self.rotation).map(|r| ("epoch/rotation".to_string(), r));
        finite(
            [
                ("epoch/total".into(), self.total),
                ("epoch/recon".into(), self.recon),
                ("epoch/contrastive".into(), self.contrastive),
                (
                    "epoch/data_wait_share".into(),
                    share(self.data_wait_s, self.compute_s),
                ),
            ]
            .into_iter()
            .chain(rotation),
        )
    }
}

impl Scalars for SslValRecord {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        let best = self.best_val_l1.map(|b| ("val/best_l1".to_string(), b));
        finite([("val/l1".into(), self.val_l1)].into_iter().chain(best))
    }
}

impl Scalars for SegValRecord {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        let organs = organ_names(self.result.per_organ_dice.len() + 1);
        let per_organ = |metric: &'static str, values: &[f64]| {
            organs
                .iter()
                .zip(values.to_vec())
                .map(move |(organ, v)| (format!("val/{metric}/{organ}"), v))
                .collect::<Vec<_>>()
        };
        finite(
            [
                ("val/dice_tutorial".into(), self.dice_tutorial),
                ("val/dice_foreground".into(), self.dice_foreground),
                ("val/train_loss".into(), self.train_loss),
            ]
            .into_iter()
            .chain(per_organ("dice", &self.result.per_organ_dice))
            .chain(per_organ("hd95", &self.result.per_organ_hd95)),
        )
    }
}

impl Scalars for NoRecord {
    fn step(&self) -> u64 {
        match *self {}
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        match *self {}
    }
}

impl<L: NamedLosses, E: Scalars, V: Scalars> Scalars for Record<L, E, V> {
    fn step(&self) -> u64 {
        match self {
            Record::Step(r) => r.step(),
            Record::Epoch(r) => r.step(),
            Record::Val(r) => r.step(),
            Record::Resume(r) => r.step(),
        }
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        match self {
            Record::Step(r) => r.scalars(),
            Record::Epoch(r) => r.scalars(),
            Record::Val(r) => r.scalars(),
            Record::Resume(r) => r.scalars(),
        }
    }
}
