//! `ssl-pretrain --network dynunet|segresnet`: a CNN restores the clean crop from the tutorial's
//! in-/out-painted, locally shuffled views (L1). On tiny synthetic CT the restoration loss falls,
//! the best model is saved with MONAI's keys, a run resumes bit-exactly, and `ssl-finetune` of the
//! same network loads everything but the output layer, with a transfer report; what cannot
//! transfer, or cannot be pretrained, is refused before training.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::backend::Flex;
use burn::tensor::TensorData;
use serde_json::Value;
use ssl3d::networks::checkpoint::read_safetensors;
use ssl3d::networks::restoration_transfer::{is_output_layer, transfer_restoration};
use ssl3d::networks::seeded_init::init_seeded;
use ssl3d::networks::state_dict::{Arch, export_state_dict};
use ssl3d::networks::{DynUnetConfig, SegResNetConfig};
use ssl3d::report::FinetuneReport;
use ssl3d::train::read_records;

use crate::cnn_finetune::{DYNUNET, SEGRESNET};
use crate::common;

/// `cnn_finetune`'s small DynUNet without its deep-supervision heads (restoration trains the
/// full-size output only).
fn dynunet_for_pretraining() -> String {
    DYNUNET.replace(
        r#""deep_supervision": true"#,
        r#""deep_supervision": false"#,
    )
}

/// Tiny synthetic CT: chest volumes to pretrain on, abdominal ones to fine-tune on.
struct Data {
    dir: PathBuf,
    chest: (PathBuf, PathBuf),
    abdomen: (PathBuf, PathBuf),
}

fn data(name: &str) -> Data {
    let dir = common::scratch(name);
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), &dir, 8, 2, 1, 5);
    Data {
        chest: (
            dir.join("json/tcia/dataset_split.json"),
            dir.join("data/tcia"),
        ),
        abdomen: (
            dir.join("json/btcv/dataset_0_init_2.json"),
            dir.join("data/btcv"),
        ),
        dir,
    }
}

/// `network`'s restoration pretraining with its small `setting` for `epochs` epochs.
fn pretrain(data: &Data, logdir: &Path, network: &str, setting: &str, epochs: usize) -> Command {
    let mut c = crate::pretrain_run::run_cmd(&data.chest, logdir, epochs);
    c.args(["--network", network, "--set", setting]);
    c
}

/// Per epoch: (mean training L1, mean contrastive).
fn epoch_losses(logdir: &Path) -> Vec<(f64, f64)> {
    read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|r| r["kind"] == "epoch")
        .map(|r| {
            (
                r["total"].as_f64().unwrap(),
                r["contrastive"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Pretrains `network` and checks that it learned to restore; returns the run folder.
fn restores(data: &Data, network: &str, setting: &str) -> PathBuf {
    let logdir = data.dir.join(format!("pretrain_{network}"));
    common::ok(
        pretrain(data, &logdir, network, setting, 6)
            .output()
            .unwrap(),
    );
    let epochs = epoch_losses(&logdir);
    assert_eq!(epochs.len(), 6);
    let (first, last) = (epochs[0].0, epochs[5].0);
    assert!(
        last < 0.7 * first,
        "{network}: restoration L1 {first:.4} → {last:.4}"
    );
    assert!(epochs.iter().all(|e| e.1 == 0.0), "no contrastive term");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(logdir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["network"], network);
    assert!(summary["best_val_l1"].as_f64().unwrap() < first);
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(logdir.join("best_model.config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["out_channels"], 1, "the restored crop's one channel");
    logdir
}

/// Fine-tunes `network` for 2 steps from `pretrained`.
fn finetune_from(data: &Data, logdir: &Path, network: &str, pretrained: &Path) -> Command {
    let mut c = crate::finetune_run::run_cmd(&data.abdomen, logdir, 2, &["--network", network]);
    c.arg("--pretrained").arg(pretrained);
    c
}

#[test]
fn dynunet_restoration_learns_resumes_and_transfers_all_but_the_output_layer() {
    let data = data("cnn_pretrain_dynunet");
    let setting = dynunet_for_pretraining();
    let run = restores(&data, "dynunet", &setting);
    let tensors = read_safetensors(&run.join("best_model.safetensors")).unwrap();
    for key in [
        "input_block.conv1.conv.weight",
        "skip_layers.downsample.conv1.conv.weight",
        "output_block.conv.conv.weight",
    ] {
        assert!(tensors.contains_key(key), "{key} missing");
    }
    assert_eq!(tensors["output_block.conv.conv.weight"].shape[0], 1);

    // Interrupted after 3 epochs and resumed to 6: the same numbers as the straight run.
    let resumed = data.dir.join("resumed");
    common::ok(
        pretrain(&data, &resumed, "dynunet", &setting, 3)
            .output()
            .unwrap(),
    );
    common::ok(
        pretrain(&data, &resumed, "dynunet", &setting, 6)
            .arg("--resume")
            .output()
            .unwrap(),
    );
    assert_eq!(epoch_losses(&resumed), epoch_losses(&run));

    // Fine-tuning the same DynUNet (with its deep-supervision heads) from the run folder.
    let tuned = data.dir.join("tuned");
    let err = common::ok(
        finetune_from(&data, &tuned, "dynunet", &run)
            .args(["--set", DYNUNET])
            .output()
            .unwrap(),
    );
    assert!(err.contains("pretrained tensors loaded"), "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(tuned.join("transfer_report.json")).unwrap())
            .unwrap();
    let keys =
        |k: &str| -> Vec<String> { serde_json::from_value(report[k].clone()).unwrap_or_default() };
    assert_eq!(
        keys("dropped"),
        [
            "output_block.conv.conv.bias",
            "output_block.conv.conv.weight"
        ]
    );
    let left = keys("left_at_init");
    assert!(
        left.iter().all(|k| is_output_layer(Arch::DynUnet, k)),
        "{left:?}"
    );
    assert!(
        left.iter()
            .any(|k| k.starts_with("deep_supervision_heads."))
    );
    let body = tensors
        .keys()
        .filter(|k| !k.starts_with("skip_layers.") && !k.starts_with("output_block."))
        .count();
    assert_eq!(keys("loaded").len(), body, "every body tensor moves in");
    let finetuned = FinetuneReport::read(&tuned.join("report.json")).unwrap();
    assert_eq!(finetuned.init, "pretrained");
    assert_eq!(finetuned.transferred_tensors, body);

    // Settings that differ from the pretraining run's are refused, naming the tensor.
    let out = finetune_from(&data, &data.dir.join("wider"), "dynunet", &run)
        .args(["--set", &DYNUNET.replace("[8,16,32,64]", "[8,16,32,48]")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("does not fit") && err.contains("pretraining run's"),
        "{err}"
    );
    // A SegResNet does not take a DynUNet's weights.
    let out = finetune_from(&data, &data.dir.join("other"), "segresnet", &run)
        .args(["--set", SEGRESNET])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no SegResNet weights"),
        "{err}"
    );
}

#[test]
fn segresnet_restoration_learns_and_transfers_into_fine_tuning() {
    let data = data("cnn_pretrain_segresnet");
    let run = restores(&data, "segresnet", SEGRESNET);
    let tuned = data.dir.join("tuned");
    common::ok(
        finetune_from(&data, &tuned, "segresnet", &run.join("best_model.mpk"))
            .args(["--set", SEGRESNET])
            .output()
            .unwrap(),
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(tuned.join("transfer_report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["left_at_init"],
        serde_json::json!(["conv_final.2.conv.bias", "conv_final.2.conv.weight"])
    );
    assert_eq!(report["dropped"], report["left_at_init"]);
}

/// The library transfer on its own: every tensor but the output layer is the source's, exactly.
#[test]
fn the_transfer_copies_every_tensor_but_the_output_layer() {
    type B = burn::backend::Autodiff<Flex>;
    let device = Default::default();
    let source_cfg = SegResNetConfig::new()
        .with_init_filters(4)
        .with_norm_groups(2)
        .with_blocks_down(vec![1, 2])
        .with_blocks_up(vec![1])
        .with_out_channels(1);
    let source = init_seeded::<B, _>(&source_cfg, 1, &device).unwrap();
    let source: BTreeMap<String, TensorData> = export_state_dict(&source, Arch::SegResNet).unwrap();
    let mut target =
        init_seeded::<B, _>(&source_cfg.clone().with_out_channels(14), 2, &device).unwrap();
    let before = export_state_dict(&target, Arch::SegResNet).unwrap();
    let report = transfer_restoration(&mut target, Arch::SegResNet, &source).unwrap();
    let after = export_state_dict(&target, Arch::SegResNet).unwrap();
    assert_eq!(report.loaded.len() + report.left_at_init.len(), after.len());
    for (k, v) in &after {
        let want = if is_output_layer(Arch::SegResNet, k) {
            &before[k]
        } else {
            &source[k]
        };
        assert_eq!(v, want, "{k}");
    }
    // A DynUNet's tensors do not fit a SegResNet: refused, not a silent random start.
    let dynunet = DynUnetConfig::nnunet_plan([16; 3], 1);
    let dynunet = init_seeded::<B, _>(&dynunet, 1, &device).unwrap();
    let other = dynunet.monai_state_dict().unwrap();
    let err = transfer_restoration(&mut target, Arch::SegResNet, &other).unwrap_err();
    assert!(err.to_string().contains("no SegResNet weights"), "{err}");
}

#[test]
fn what_restoration_cannot_train_is_refused_before_it_starts() {
    let data = data("cnn_pretrain_refused");
    let refused = |mut c: Command, says: &str| {
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(says), "{err}");
    };
    let dir = &data.dir;
    refused(
        pretrain(&data, &dir.join("heads"), "dynunet", DYNUNET, 1),
        "dynunet.deep_supervision",
    );
    let classes = SEGRESNET.replace(
        r#""init_filters": 8"#,
        r#""init_filters": 8, "out_channels": 3"#,
    );
    refused(
        pretrain(&data, &dir.join("classes"), "segresnet", &classes, 1),
        "both must be 1",
    );
    // Three halvings do not divide a crop 20 voxels deep.
    let mut c = pretrain(
        &data,
        &dir.join("strides"),
        "dynunet",
        &dynunet_for_pretraining(),
        1,
    );
    c.args(["--set", "roi_size=[32,32,20]"]);
    refused(c, "dynunet:");
    assert!(!dir.join("strides/metrics.jsonl").exists());
}

/// The 96³ restoration configs are the fine-tuning configs' networks with one output channel,
/// nnU-Net's plan for DynUNet, and the effective configs a run would use.
#[test]
fn the_full_size_restoration_configs_match_the_fine_tuning_networks() {
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{configs}/{name}")).unwrap())
            .unwrap()
    };
    for network in ["dynunet", "segresnet"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ssl-pretrain"))
            .arg("--config")
            .arg(format!("{configs}/pretrain_tcia_{network}.json"))
            .arg("--print-config")
            .output()
            .unwrap();
        common::ok(out.clone());
        let effective: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(effective["network"], network);
        let mut finetuned = read(&format!("finetune_btcv_{network}.json"))[network].clone();
        finetuned["out_channels"] = 1.into();
        if network == "dynunet" {
            finetuned["deep_supervision"] = false.into();
            finetuned["deep_supr_num"] = 1.into();
            let plan = serde_json::to_value(DynUnetConfig::nnunet_plan([96; 3], 1)).unwrap();
            for key in ["kernel_size", "strides", "upsample_kernel_size"] {
                assert_eq!(effective[network][key], plan[key], "{key}");
            }
        }
        assert_eq!(effective[network], finetuned, "{network}");
    }
}
