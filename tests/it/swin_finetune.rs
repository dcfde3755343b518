//! `ssl-finetune --network swin_unetr` on tiny synthetic abdominal CT: a small SwinUNETR learns
//! (the loss falls, the liver is found above chance), keeps its best model with every key of
//! MONAI's state dict (index buffers included), which `ssl-segment` applies as the run's
//! validation did; a second run starts from that model's backbone saved in the published
//! self-supervised layout and says in `transfer_report.json` what it loaded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use ssl3d::networks::checkpoint::{read_safetensors, write_safetensors};
use ssl3d::report::FinetuneReport;
use ssl3d::train::read_records;

use crate::common;

/// A small SwinUNETR for the demo's 32³ crops.
const SWIN: &str = r#"swin_unetr={"feature_size": 12, "depths": [1,1,1,1], "num_heads": [1,2,2,4], "window_size": [4,4,4]}"#;

fn data(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = common::scratch(name);
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), &dir, 2, 6, 2, 8);
    (
        dir.join("json/btcv/dataset_0_init_6.json"),
        dir.join("data/btcv"),
        dir,
    )
}

fn finetune(data: &(PathBuf, PathBuf, PathBuf), logdir: &std::path::Path, steps: usize) -> Command {
    let pair = (data.0.clone(), data.1.clone());
    let mut c = crate::finetune_run::run_cmd(&pair, logdir, steps, &["--network", "swin_unetr"]);
    c.args(["--set", SWIN]);
    c
}

#[test]
fn swin_unetr_learns_exports_monais_keys_and_takes_a_published_backbone() {
    let data = data("swin_finetune");
    let logdir = data.2.join("run");
    common::ok(
        finetune(&data, &logdir, 40)
            .args(["--random-init", "--save-predictions"])
            .output()
            .unwrap(),
    );
    let losses: Vec<f64> = read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|r| r["kind"] == "step")
        .map(|r| r["loss"].as_f64().unwrap())
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (first, last) = (mean(&losses[..5]), mean(&losses[losses.len() - 5..]));
    assert!(last < 0.8 * first, "loss {first:.3} → {last:.3}");
    let report = FinetuneReport::read(&logdir.join("report.json")).unwrap();
    assert_eq!(report.network, "swin_unetr");
    let liver = report.best.as_ref().unwrap().per_organ_dice[5];
    // A random labelling of the liver's ~10 % share scores below 0.1.
    assert!(liver > 0.15, "liver Dice {liver}");
    let run_config: Value =
        serde_json::from_str(&std::fs::read_to_string(logdir.join("config.json")).unwrap())
            .unwrap();
    let model_config: Value = serde_json::from_str(
        &std::fs::read_to_string(logdir.join("best_metric_model.config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(model_config, run_config["swin_unetr"]);

    // MONAI's keys, the index buffers as int64 beside the weights.
    let tensors = read_safetensors(&logdir.join("best_metric_model.safetensors")).unwrap();
    for key in [
        "swinViT.patch_embed.proj.weight",
        "swinViT.layers1.0.blocks.0.attn.relative_position_index",
        "swinViT.layers4.0.downsample.reduction.weight",
        "encoder10.layer.conv1.conv.weight",
        "out.conv.conv.bias",
    ] {
        assert!(tensors.contains_key(key), "{key} missing");
    }

    // ssl-segment applies the run's SwinUNETR as its validation did.
    crate::cnn_finetune::segments_like_its_validation(&logdir);

    // The backbone in the published layout (`module.`, no `swinViT.`, `mlp.fc1`): a new run
    // loads all of it and starts its decoder at init.
    let published: BTreeMap<_, _> = (tensors.iter())
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("swinViT.")?;
            let rest = rest
                .replace(".mlp.linear1.", ".mlp.fc1.")
                .replace(".mlp.linear2.", ".mlp.fc2.");
            Some((format!("module.{rest}"), v.clone()))
        })
        .collect();
    let backbone_file = data.2.join("model_swinvit.safetensors");
    write_safetensors(&backbone_file, &published).unwrap();
    let from_backbone = data.2.join("from_backbone");
    common::ok(
        finetune(&data, &from_backbone, 2)
            .arg("--pretrained")
            .arg(&backbone_file)
            .output()
            .unwrap(),
    );
    let transfer: Value = serde_json::from_str(
        &std::fs::read_to_string(from_backbone.join("transfer_report.json")).unwrap(),
    )
    .unwrap();
    let count = |k: &str| transfer[k].as_array().unwrap().len();
    let indices = published
        .keys()
        .filter(|k| k.ends_with("relative_position_index"))
        .count();
    assert_eq!(count("loaded"), published.len() - indices, "{transfer}");
    assert_eq!(count("ignored"), indices);
    assert_eq!(count("dropped"), 0);
    let left = transfer["left_at_init"].as_array().unwrap();
    assert!(
        left.iter().any(|k| k == "decoder1.transp_conv.conv.weight"),
        "{transfer}"
    );
    assert!(
        left.iter()
            .all(|k| !k.as_str().unwrap().starts_with("swinViT."))
    );
}
