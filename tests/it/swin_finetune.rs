//! `ssl-finetune --network swin_unetr` on tiny synthetic abdominal CT: a small SwinUNETR learns
//! (the loss falls, the liver is found above chance), keeps its best model with every key of
//! MONAI's state dict (index buffers included), which `ssl-segment` applies as the run's
//! validation did; a second run starts from that model's backbone saved in the published
//! self-supervised layout and says in `transfer_report.json` what it loaded.

use std::collections::BTreeMap;

use serde_json::Value;
use ssl3d::networks::checkpoint::{read_safetensors, write_safetensors};

use crate::common;

/// A small SwinUNETR for the demo's 32³ crops.
const SWIN: &str = r#"swin_unetr={"feature_size": 12, "depths": [1,1,1,1], "num_heads": [1,2,2,4], "window_size": [4,4,4]}"#;

#[test]
fn swin_unetr_learns_exports_monais_keys_and_takes_a_published_backbone() {
    let logdir = crate::cnn_finetune::learns("swin_finetune", "swin_unetr", SWIN, 0.15);
    let root = logdir.parent().unwrap().to_path_buf();
    let data = (
        root.join("json/btcv/dataset_0_init_6.json"),
        root.join("data/btcv"),
        root.clone(),
    );

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

    // The tutorial's table has a row for it, beside UNETR's (whose published numbers stay theirs).
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_ssl-report"))
        .arg("table")
        .arg(&logdir)
        .arg("--out")
        .arg(root.join("table"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    let row = (table.lines())
        .find(|l| l.starts_with("| swin_unetr, 6 |"))
        .unwrap_or_else(|| panic!("no Swin UNETR row: {table}"));
    assert!(row.ends_with("| – | – | – |"), "{row}");

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
    let pair = (data.0.clone(), data.1.clone());
    let network = ["--network", "swin_unetr", "--set", SWIN];
    common::ok(
        crate::finetune_run::run_cmd(&pair, &from_backbone, 2, &network)
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
