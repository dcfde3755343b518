//! `ssl-finetune --network dynunet|segresnet` on the run driver, on tiny synthetic abdominal CT:
//! each CNN baseline learns (the loss falls, the liver is found above chance) and keeps its best
//! model with MONAI's keys (DynUNet's with MONAI's second names and deep-supervision heads), which
//! `ssl-segment` applies as the run's validation did; pretrained weights and settings a network
//! cannot take are refused before training.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use ssl3d::networks::checkpoint::read_safetensors;
use ssl3d::report::FinetuneReport;
use ssl3d::train::read_records;

use crate::common;

/// Small versions of both networks for 32³ crops (the demo's).
pub(crate) const DYNUNET: &str = r#"dynunet={"kernel_size": [[3,3,3],[3,3,3],[3,3,3],[3,3,3]],
    "strides": [[1,1,1],[2,2,2],[2,2,2],[2,2,2]], "upsample_kernel_size": [[2,2,2],[2,2,2],[2,2,2]],
    "filters": [8,16,32,64], "deep_supervision": true, "deep_supr_num": 2}"#;
pub(crate) const SEGRESNET: &str = r#"segresnet={"init_filters": 8, "norm_groups": 4, "blocks_down": [1,2,2], "blocks_up": [1,1]}"#;

fn data(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = common::scratch(name);
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), &dir, 2, 6, 2, 8);
    (
        dir.join("json/btcv/dataset_0_init_6.json"),
        dir.join("data/btcv"),
        dir,
    )
}

/// The demo's crops for 40 steps (validations at 20 and 40) with `network`.
fn finetune(data: &(PathBuf, PathBuf, PathBuf), logdir: &Path, network: &str) -> Command {
    let data = (data.0.clone(), data.1.clone());
    crate::finetune_run::run_cmd(&data, logdir, 40, &["--network", network])
}

/// Runs 40 steps of `network` (its small `setting`) from random weights and checks that it
/// learned and names itself in its report and config; returns the run.
pub(crate) fn learns(name: &str, network: &str, setting: &str, liver_above: f64) -> PathBuf {
    let data = data(name);
    let logdir = data.2.join("run");
    common::ok(
        finetune(&data, &logdir, network)
            .args(["--set", setting, "--random-init", "--save-predictions"])
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
    assert!(last < 0.8 * first, "{network}: loss {first:.3} → {last:.3}");
    let report = FinetuneReport::read(&logdir.join("report.json")).unwrap();
    assert_eq!(report.network, network);
    let liver = report.best.as_ref().unwrap().per_organ_dice[5];
    // A random labelling of the liver's ~10 % share scores below 0.1.
    assert!(liver > liver_above, "{network}: liver Dice {liver}");
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(logdir.join("best_metric_model.config.json")).unwrap(),
    )
    .unwrap();
    let run_config: Value =
        serde_json::from_str(&std::fs::read_to_string(logdir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(run_config["network"], network);
    assert_eq!(
        config, run_config[network],
        "the network's config beside its model"
    );
    logdir
}

#[test]
fn dynunet_with_deep_supervision_learns_and_exports_monais_keys() {
    let logdir = learns("cnn_dynunet", "dynunet", DYNUNET, 0.15);
    let tensors = read_safetensors(&logdir.join("best_metric_model.safetensors")).unwrap();
    for key in [
        "input_block.conv1.conv.weight",
        "skip_layers.downsample.conv1.conv.weight",
        "deep_supervision_heads.1.conv.conv.weight",
        "skip_layers.next_layer.next_layer.super_head.conv.conv.bias",
    ] {
        assert!(tensors.contains_key(key), "{key} missing");
    }
    // Reports and the table name the network; the tutorial's published numbers stay on UNETR's
    // rows.
    let md = std::fs::read_to_string(logdir.join("report.md")).unwrap();
    assert!(md.contains("network: **dynunet**"), "{md}");
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-report"))
        .arg("table")
        .arg(&logdir)
        .arg("--out")
        .arg(logdir.join("table"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let row = table
        .lines()
        .find(|l| l.starts_with("| dynunet, 6 |"))
        .unwrap_or_else(|| panic!("no DynUNet row: {table}"));
    assert!(row.ends_with("| – | – | – |"), "{row}");

    // ssl-segment applies the run's DynUNet to a scan like the run's own validation did.
    let ours = segments_like_its_validation(&logdir);
    assert!(ours.data.iter().any(|&l| l == 6), "the liver is found");
}

/// `ssl-segment` applied to the validation scans of run `logdir` (made in `data()`'s layout, with
/// `--save-predictions`): the first scan's labels, checked equal to the run's own prediction.
pub(crate) fn segments_like_its_validation(logdir: &Path) -> ssl3d::io::LabelVolume {
    let root = logdir.parent().unwrap();
    let out = root.join("segmented");
    let seg = Command::new(env!("CARGO_BIN_EXE_ssl-segment"))
        .arg("--model")
        .arg(logdir)
        .arg("--input")
        .arg(root.join("json/btcv/dataset_0_init_6.json"))
        .args(["--split", "validation", "--json"])
        .arg("--data-dir")
        .arg(root.join("data/btcv"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        seg.status.success(),
        "{}",
        String::from_utf8_lossy(&seg.stderr)
    );
    let scan = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_seg.nii.gz"))
        .expect("a label map");
    let stem = (scan.file_name().unwrap().to_string_lossy()).replace("_seg.nii.gz", "");
    let ours = ssl3d::io::load_labels(&scan).unwrap();
    let runs =
        ssl3d::io::load_labels(&logdir.join(format!("predictions/{stem}_pred.nii.gz"))).unwrap();
    assert!(
        ours.data == runs.data,
        "{stem}: labels differ from the run's"
    );
    ours
}

#[test]
fn segresnet_learns_and_exports_monais_keys() {
    let logdir = learns("cnn_segresnet", "segresnet", SEGRESNET, 0.3);
    let tensors = read_safetensors(&logdir.join("best_metric_model.safetensors")).unwrap();
    for key in [
        "convInit.conv.weight",
        "down_layers.1.0.conv.weight",
        "down_layers.2.2.norm1.weight",
        "conv_final.2.conv.bias",
    ] {
        assert!(tensors.contains_key(key), "{key} missing");
    }
}

#[test]
fn what_a_cnn_cannot_take_is_refused_before_training() {
    let data = data("cnn_refused");
    let refused = |mut c: Command, says: &str| {
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(says), "{err}");
    };
    let mut c = finetune(&data, &data.2.join("pretrained"), "dynunet");
    c.arg("--pretrained").arg(&data.0);
    refused(c, "unknown checkpoint type");
    let mut c = finetune(&data, &data.2.join("odd_crop"), "segresnet");
    c.args([
        "--set",
        SEGRESNET,
        "--set",
        "roi_size=[34,34,34]",
        "--random-init",
    ]);
    refused(c, "not divisible by 4");
    let mut c = finetune(&data, &data.2.join("deep"), "dynunet");
    c.args([
        "--set",
        DYNUNET,
        "--set",
        "dynunet.deep_supr_num=3",
        "--random-init",
    ]);
    refused(c, "deep_supr_num 3");
    assert!(!data.2.join("odd_crop/metrics.jsonl").exists());
}
