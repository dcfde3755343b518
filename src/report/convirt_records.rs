//! ConVIRT's log lines beside the step records: the end of an epoch (mean losses, the rate,
//! where the time went) and a validation (the reference's validation loss, retrieval on the
//! held-out pairs), and the finished run's summary.

use serde::{Deserialize, Serialize};

use super::records::{Scalars, share};
use crate::metrics::retrieval::RetrievalScores;

/// The end of a ConVIRT epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvirtEpochRecord {
    pub epoch: usize,
    pub step: u64,
    /// Steps in this epoch.
    pub steps: usize,
    pub total: f64,
    pub image_to_text: f64,
    pub text_to_image: f64,
    /// The rate the epoch trained at (the reference logs it as `cosine_lr_decay`).
    pub lr: f64,
    pub data_wait_s: f64,
    pub compute_s: f64,
}

/// A validation: the reference's mean loss over augmented validation batches, and Recall@K on
/// every held-out pair's fixed view and whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvirtValRecord {
    pub epoch: usize,
    pub step: u64,
    pub val_loss: f64,
    pub batches: usize,
    pub best_val_loss: f64,
    pub new_best: bool,
    pub retrieval: RetrievalScores,
}

/// What a finished ConVIRT run reports (`summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvirtSummary {
    pub epochs: usize,
    pub steps: u64,
    pub train_pairs: usize,
    pub validation_pairs: usize,
    /// The best validation loss and its 1-based epoch; `null` when no validation ran.
    pub best_val_loss: Option<f64>,
    pub best_epoch: Option<usize>,
    /// The last validation's retrieval.
    pub retrieval: Option<RetrievalScores>,
    /// The last epoch's mean training loss.
    pub final_train_loss: Option<f64>,
    pub wall_s: f64,
    pub data_wait_share: f64,
    pub device: String,
}

impl Scalars for ConvirtEpochRecord {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        [
            ("epoch/total", self.total),
            ("epoch/image_to_text", self.image_to_text),
            ("epoch/text_to_image", self.text_to_image),
            ("cosine_lr_decay", self.lr),
            (
                "epoch/data_wait_share",
                share(self.data_wait_s, self.compute_s),
            ),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Scalars for ConvirtValRecord {
    fn step(&self) -> u64 {
        self.step
    }

    fn scalars(&self) -> Vec<(String, f64)> {
        let r = &self.retrieval;
        let recall = |dir: &str, v: &[f64]| {
            (r.ks.iter().zip(v.to_vec()))
                .map(|(k, x)| (format!("val/{dir}_R@{k}"), x))
                .collect::<Vec<_>>()
        };
        let mut out = vec![("validation_loss".to_string(), self.val_loss)];
        out.extend(recall("image_to_text", &r.image_to_text));
        out.extend(recall("text_to_image", &r.text_to_image));
        out.retain(|(_, v)| v.is_finite());
        out
    }
}

/// One label's AUC (`None` where the test pairs hold one class only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelAuc {
    pub label: String,
    pub auc: Option<f64>,
}

/// The probe with one share of the labels, over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    pub fraction: f64,
    /// Training pairs whose labels the probe saw.
    pub labelled: usize,
    /// Per seed, the mean AUC over the labels that have one.
    pub mean_auc_per_seed: Vec<Option<f64>>,
    /// Per label, the mean AUC over the seeds.
    pub per_label: Vec<LabelAuc>,
    /// Mean and standard deviation (over the seeds) of the mean AUC.
    pub mean_auc: Option<f64>,
    pub sd_auc: Option<f64>,
}

/// `ssl-convirt --evaluate`'s result (`evaluation.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvirtEvaluation {
    /// `start (…)` or the model file evaluated.
    pub encoder: String,
    /// `radiograph` or `ct`.
    pub variant: String,
    pub labels: Vec<String>,
    pub train_pairs: usize,
    pub test_pairs: usize,
    /// Positive test pairs per label.
    pub test_positives: Vec<usize>,
    /// Zero-shot AUC per label that has prompts.
    pub zero_shot: Vec<LabelAuc>,
    pub linear_probe: Vec<ProbeOutcome>,
    pub retrieval: RetrievalScores,
}
