//! MONAI-written `.pt`/`.pth` checkpoints of the CNN baselines load into ssl3d's networks by name
//! and give MONAI's outputs: a bare DynUNet state dict (its `skip_layers.` second names share
//! their tensors' storage), the pretraining tutorial's `{"epoch", "state_dict", "optimizer"}`
//! format, and a SegResNet saved from DistributedDataParallel (`module.` keys). The files are a
//! reference set's `monai/checkpoints/` (made by scripts/reference/gen_monai_cnn_checkpoints.py,
//! described by `cnn_checkpoints.json` there); a set without them skips with a notice.

use std::path::Path;

use burn::module::Module;
use serde_json::Value;
use ssl3d::networks::checkpoint::load_torch_checkpoint;
use ssl3d::networks::state_dict::{Arch, LoadReport};

use crate::common;
use crate::networks::{B, check_full_summary, formula_input, values};

/// The formula input a file's description names.
fn input(e: &Value) -> burn::tensor::Tensor<B, 5> {
    let s = common::usizes(&e["input"]["shape"]);
    formula_input(
        [s[0], s[1], s[2], s[3], s[4]],
        e["input"]["phase"].as_f64().unwrap(),
        e["input"]["freq"].as_f64().unwrap(),
    )
}

/// Nothing the network has is left out and nothing in the file is left over.
fn assert_complete(report: &LoadReport, file: &str) {
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty() && !report.loaded.is_empty(),
        "{file}: {report:?}"
    );
}

fn check(dir: &Path, file: &str, e: &Value) {
    let path = dir.join(file);
    let device = Default::default();
    let (out, params) = match e["network"].as_str().unwrap() {
        "dynunet" => {
            let mut net = crate::dynunet::config(&e["args"]).init::<B>(&device);
            let report = load_torch_checkpoint(&mut net, Arch::DynUnet, &path).unwrap();
            assert_complete(&report, file);
            // The second names are the same tensors: read, and ignored.
            assert!(
                report.ignored.iter().all(|k| k.starts_with("skip_layers.")),
                "{file}: {:?}",
                report.ignored
            );
            assert!(!report.ignored.is_empty(), "{file}: no second names");
            (net.forward(input(e)), net.num_params())
        }
        "segresnet" => {
            let mut net = crate::segresnet::config(&e["args"]).init::<B>(&device);
            let report = load_torch_checkpoint(&mut net, Arch::SegResNet, &path).unwrap();
            assert_complete(&report, file);
            (net.forward(input(e)), net.num_params())
        }
        other => panic!("{file}: unknown network {other}"),
    };
    assert!(params > 0);
    assert_eq!(out.dims().to_vec(), common::usizes(&e["eval_out"]["shape"]));
    check_full_summary(&values(out), &e["eval_out"], file);
}

#[test]
fn monai_cnn_checkpoints_load_by_name_and_give_monais_outputs() {
    let Some((dir, text)) =
        common::generated_checkpoints("cnn_checkpoints.json", "gen_monai_cnn_checkpoints.py")
    else {
        return;
    };
    let described: Value = serde_json::from_str(&text).unwrap();
    let files = described["files"].as_object().unwrap();
    assert!(!files.is_empty());
    for (file, e) in files {
        check(&dir, file, e);
    }
}
