//! ConVIRT learns on the synthetic CT pairs: after training, held-out reports find their own
//! chests well above chance, and a linear probe on the frozen ViT reads the findings far better
//! than on the ViT it started from (docs/CONVIRT.md, "Learning on the extensive corpus").
//!
//! 900 steps: about 3 minutes in a release build on 2 cores and about 5 in the test build, whose
//! kernels are optimised (`crates/kernels`).

use std::path::Path;

use serde_json::Value;

use crate::common;
use crate::convirt_eval::evaluation;
use crate::convirt_run::{convirt, edited_config, ok, synth_pairs_with_bert};

/// The corpus's `config-ct.yaml` (its ViT: 32³ views, 16³ patches) with the recipe that learns
/// (docs/CONVIRT.md): the whole report as the text view, batch 32, rate 1e-4, 100 epochs;
/// validated every 5 epochs instead of every one, to save the test's time.
fn learning_config(dir: &Path) -> std::path::PathBuf {
    edited_config(
        dir,
        "config-ct.yaml",
        "learning.yaml",
        &[
            ("batch_size: 8", "batch_size: 32"),
            ("learning_rate: 0.001", "learning_rate: 0.0001"),
            ("text_view: sentence", "text_view: report"),
            ("eval_every_n_epochs: 1", "eval_every_n_epochs: 5"),
        ],
    )
}

/// The linear probe's mean AUC with all of the training labels.
fn probe_with_all_labels(e: &Value) -> f64 {
    let probes = e["linear_probe"].as_array().unwrap();
    let all = probes
        .iter()
        .find(|p| p["fraction"] == 1.0)
        .expect("a 100 % probe");
    all["mean_auc"].as_f64().unwrap()
}

#[test]
fn convirt_learns_the_findings_of_held_out_ct_pairs() {
    let root = common::scratch("convirt_learning");
    let data = root.join("pairs");
    // The corpus's BERT pretrained by its default 300 masked-LM steps.
    synth_pairs_with_bert(&data, 384, 0, 300, &["--involvement", "extensive"]);
    let cfg = learning_config(&data);
    let run = root.join("run");
    ok(&convirt(&cfg, &run, 100, &[]));
    let unused = root.join("unused");
    ok(&convirt(
        &cfg,
        &unused,
        1,
        &["--evaluate", &run.display().to_string()],
    ));
    let start_out = root.join("start.json");
    ok(&convirt(
        &cfg,
        &unused,
        1,
        &[
            "--evaluate",
            "start",
            "--out",
            &start_out.display().to_string(),
        ],
    ));
    let (trained, start) = (
        evaluation(&run.join("evaluation.json")),
        evaluation(&start_out),
    );

    // Retrieval among the 96 held-out pairs: chance is 10/96 for Recall@10.
    let pairs = trained["retrieval"]["pairs"].as_f64().unwrap();
    assert_eq!(pairs, 96.0);
    let chance = 10.0 / pairs;
    let recall_at_10 = |direction: &str| trained["retrieval"][direction][2].as_f64().unwrap();
    let (i2t, t2i) = (recall_at_10("image_to_text"), recall_at_10("text_to_image"));
    assert!(
        (i2t + t2i) / 2.0 >= 2.0 * chance && i2t > 1.5 * chance && t2i > 1.5 * chance,
        "held-out Recall@10 image→text {i2t:.3}, text→image {t2i:.3}; chance {chance:.3}"
    );
    // The image features now hold the findings: a probe on them beats one on the start.
    let (learned, random) = (
        probe_with_all_labels(&trained),
        probe_with_all_labels(&start),
    );
    assert!(
        learned >= 0.75 && learned >= random + 0.1,
        "probe AUC with all labels: trained {learned:.3}, start {random:.3}"
    );
}
