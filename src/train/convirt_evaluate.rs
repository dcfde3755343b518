//! ConVIRT's evaluation as the paper's (docs/CONVIRT.md, "Evaluation"), on the config's held-out
//! pairs: zero-shot classification of each finding from prompt sentences (the image's cosine
//! similarity to the positive prompts minus that to the negative ones, as ROC AUC), a linear
//! probe on the image encoder's frozen features trained with a share of the training pairs'
//! labels (1 %, 10 %, 100 % by default, several seeds choosing which pairs are labelled), and
//! retrieval. The encoder is a ConVIRT run's model, or the model the config's training would
//! start from: random, ImageNet (`res_weights`) or an image-only pretraining (`ct.vit_weights`)
//! — the baselines the paper compares with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use super::convirt::{ConvirtSetup, Start, fine_tune_file};
use super::convirt_config::ConvirtConfig;
use super::convirt_eval::{RECALL_AT, embed_images_of, embed_reports_of, to_array};
use super::convirt_step::embed_texts;
use super::linear_probe::{ProbeSettings, linear_probe};
use crate::data::report_labels::{binary_columns, read_finding_labels};
use crate::error::{Error, Result};
use crate::metrics::retrieval::{cosine_similarity, retrieval_recall};
use crate::metrics::roc_auc::roc_auc;
use crate::report::convirt_records::{ConvirtEvaluation, LabelAuc, ProbeOutcome};
use crate::report::study_stats::Summary;
use crate::transforms::rng::RandomState;

/// Which image encoder to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Encoder {
    /// The model the config's training starts from (seeded heads, BERT from its folder, the
    /// image encoder per `res_weights` or `ct.vit_weights`).
    Start,
    /// A ConVIRT run (its best model) or model file, as `fine_tune_from` takes it.
    Run(PathBuf),
}

impl Encoder {
    /// `start`, or a run folder / model file.
    pub fn parse(text: &str) -> Encoder {
        match text {
            "start" => Encoder::Start,
            path => Encoder::Run(PathBuf::from(path)),
        }
    }
}

/// A finding's prompts: the image scores `cos(positive) − cos(negative)`, each the mean of its
/// sentences' text embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompts {
    pub positive: Vec<String>,
    pub negative: Vec<String>,
}

/// Prompts for the labels `ssl-data synth --reports` writes, in its reports' words.
pub fn corpus_prompts() -> BTreeMap<String, Prompts> {
    let p = |pos: &[&str], neg: &[&str]| Prompts {
        positive: pos.iter().map(|s| s.to_string()).collect(),
        negative: neg.iter().map(|s| s.to_string()).collect(),
    };
    BTreeMap::from([
        (
            "normal".to_string(),
            p(
                &[
                    "No acute cardiopulmonary abnormality.",
                    "The lungs are clear.",
                ],
                &["Ground-glass opacity.", "Consolidation."],
            ),
        ),
        (
            "ground_glass".to_string(),
            p(
                &["Ground-glass opacity.", "Bilateral ground-glass opacity."],
                &["The lungs are clear.", "Consolidation."],
            ),
        ),
        (
            "consolidation".to_string(),
            p(
                &["Consolidation.", "Bilateral consolidation."],
                &["The lungs are clear.", "Ground-glass opacity."],
            ),
        ),
    ])
}

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvaluationSpec {
    pub encoder: Encoder,
    /// Label columns of the pairs CSV; `None`: every 0/1 column.
    pub labels: Option<Vec<String>>,
    /// Shares of the training pairs whose labels the probe sees.
    pub fractions: Vec<f64>,
    /// Seeds 0 … `seeds − 1` choose the labelled pairs.
    pub seeds: u64,
    /// Zero-shot prompts by label; `None`: [`corpus_prompts`] (labels without prompts are
    /// skipped).
    pub prompts: Option<BTreeMap<String, Prompts>>,
    pub probe: ProbeSettings,
}

/// The mean of the AUCs that exist.
fn mean_auc(aucs: &[Option<f64>]) -> Option<f64> {
    let known: Vec<f64> = aucs.iter().flatten().copied().collect();
    Summary::of(&known).map(|s| s.mean)
}

fn rows(a: &Array2<f32>, idx: &[usize]) -> Array2<f32> {
    a.select(Axis(0), idx)
}

/// Evaluates `spec.encoder` on `cfg`'s pairs: trained on the training split, tested on the
/// validation split (which must not be empty).
pub fn evaluate_convirt<B: AutodiffBackend>(
    cfg: &ConvirtConfig,
    spec: &EvaluationSpec,
    device: &B::Device,
) -> Result<ConvirtEvaluation> {
    if let Some(f) = (spec.fractions.iter()).find(|&&f| !(f > 0.0 && f <= 1.0)) {
        return Err(Error::InvalidArgument(format!(
            "label share {f} must lie in (0, 1]"
        )));
    }
    let setup = ConvirtSetup::of(cfg)?;
    if setup.valid_idx.is_empty() {
        return Err(Error::InvalidArgument(
            "the evaluation tests on the validation split: set dataset.valid_size above 0".into(),
        ));
    }
    let csv = &cfg.dataset.csv_file;
    let names = match &spec.labels {
        Some(n) => n.clone(),
        None => binary_columns(csv)?,
    };
    if names.is_empty() {
        return Err(Error::bad_file(
            csv,
            "no label columns (0/1 in every row) to evaluate with; name them with --labels",
        ));
    }
    let labels = read_finding_labels(csv, &names)?;
    let (start, described) = match &spec.encoder {
        Encoder::Start => (Start::of(cfg, &setup.bert_dir)?, "start".to_string()),
        Encoder::Run(p) => {
            let file = fine_tune_file(p)?;
            let name = file.display().to_string();
            (Start::FineTune(file), name)
        }
    };
    let model = start
        .model::<B>(&setup.model_config, cfg.seed, device)?
        .valid();
    let all: Vec<usize> = (0..setup.pairs.len()).collect();
    let data = setup.dataset(cfg, setup.pick(&all));
    // Every image (the probe trains on the training split's); only the test pairs' reports.
    let (train, test) = (&setup.train_idx, &setup.valid_idx);
    let e = embed_images_of(&model, &data, &all, cfg.batch_size, device)?;
    let test_text = embed_reports_of(&model, &data, test, cfg.batch_size, device)?;

    // Zero-shot: each test image against each label's prompts.
    let prompts = spec.prompts.clone().unwrap_or_else(corpus_prompts);
    let test_image = rows(&e.projected, test);
    let mut zero_shot = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let Some(p) = prompts.get(name) else {
            continue;
        };
        let side = |sentences: &[String]| -> Result<Array2<f32>> {
            let tokens = data.tokenizer().encode_batch(sentences)?;
            let z = to_array(embed_texts(&model, &tokens, device));
            Ok(z.mean_axis(Axis(0)).expect("a prompt").insert_axis(Axis(0)))
        };
        let (pos, neg) = (side(&p.positive)?, side(&p.negative)?);
        let (sp, sn) = (
            cosine_similarity(&test_image, &pos),
            cosine_similarity(&test_image, &neg),
        );
        let scores: Vec<f64> = (0..test.len())
            .map(|i| (sp[[i, 0]] - sn[[i, 0]]) as f64)
            .collect();
        zero_shot.push(LabelAuc {
            label: name.clone(),
            auc: roc_auc(&scores, &labels.column(k, test)),
        });
    }

    // Linear probes on the frozen features.
    let test_x = rows(&e.features, test);
    let mut linear = Vec::new();
    for &fraction in &spec.fractions {
        let labelled = ((fraction * train.len() as f64).ceil() as usize).clamp(2, train.len());
        let mut per_seed = Vec::new();
        let mut per_label: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for seed in 0..spec.seeds.max(1) {
            let mut chosen = train.clone();
            RandomState::new(seed as u32).shuffle(&mut chosen);
            chosen.truncate(labelled);
            let y: Vec<Vec<bool>> = chosen.iter().map(|&r| labels.values[r].clone()).collect();
            let scores =
                linear_probe::<B>(&rows(&e.features, &chosen), &y, &test_x, spec.probe, device)?;
            let aucs: Vec<Option<f64>> = (0..names.len())
                .map(|k| {
                    let s: Vec<f64> = scores.column(k).iter().map(|&v| v as f64).collect();
                    roc_auc(&s, &labels.column(k, test))
                })
                .collect();
            for (k, a) in aucs.iter().enumerate() {
                per_label[k].extend(a);
            }
            per_seed.push(mean_auc(&aucs));
        }
        let means: Vec<f64> = per_seed.iter().flatten().copied().collect();
        // Over seeds: the sample standard deviation (none for one seed), as the study reports.
        let summary = Summary::of(&means);
        linear.push(ProbeOutcome {
            fraction,
            labelled,
            mean_auc_per_seed: per_seed,
            per_label: (names.iter().zip(&per_label))
                .map(|(n, a)| LabelAuc {
                    label: n.clone(),
                    auc: Summary::of(a).map(|s| s.mean),
                })
                .collect(),
            mean_auc: summary.as_ref().map(|s| s.mean),
            sd_auc: summary.and_then(|s| s.sd),
        });
    }

    Ok(ConvirtEvaluation {
        encoder: described,
        variant: if cfg.ct.is_some() { "ct" } else { "radiograph" }.into(),
        test_positives: (0..names.len())
            .map(|k| labels.column(k, test).iter().filter(|&&b| b).count())
            .collect(),
        labels: names,
        train_pairs: train.len(),
        test_pairs: test.len(),
        zero_shot,
        linear_probe: linear,
        retrieval: retrieval_recall(&cosine_similarity(&test_image, &test_text), &RECALL_AT),
    })
}

/// Reads zero-shot prompts: JSON `{"label": {"positive": [...], "negative": [...]}}`.
pub fn read_prompts(path: &Path) -> Result<BTreeMap<String, Prompts>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::bad_file(path, format!("cannot read the prompts: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::bad_file(
            path,
            format!(
                "not prompts ({{\"label\": {{\"positive\": [...], \"negative\": [...]}}}}): {e}"
            ),
        )
    })
}
