//! MONAI's SwinUNETR against tests/fixtures/monai_swin_unetr.json (MONAI 1.5, made by
//! scripts/reference/gen_monai_swin_unetr.py): for each tiny network there (v1, and v2 with its
//! residual conv stages and `mergingv2`), ssl3d builds MONAI's keys and shapes (the
//! `relative_position_index` buffers aside), loads the formula weights with nothing missing or
//! unexpected, and gives MONAI's five normalised hidden states and its logits to 1e-4 of their
//! scale, deep stages with windows shrunk to the volume included.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use serde_json::Value;
use ssl3d::networks::state_dict::{Arch, export_state_dict, load_state_dict};
use ssl3d::networks::{SegmentationModel, SwinUnetr, SwinUnetrConfig};

use crate::common;
use crate::networks::{B, check_full_summary, fixture_keys, formula_input, formula_weight, values};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/monai_swin_unetr.json")).unwrap()
}

/// SwinUNETR's MONAI arguments as ssl3d's config (MONAI's defaults where the fixture gives none;
/// they are ssl3d's too, feature_size aside, which every fixture network gives).
pub(crate) fn config(args: &Value) -> SwinUnetrConfig {
    let n = |k: &str| args[k].as_u64().unwrap() as usize;
    let mut cfg = SwinUnetrConfig::new()
        .with_in_channels(n("in_channels"))
        .with_out_channels(n("out_channels"))
        .with_feature_size(n("feature_size"))
        .with_use_v2(args.get("use_v2").and_then(Value::as_bool).unwrap_or(false))
        .with_merging_v2(args.get("downsample").and_then(Value::as_str) == Some("mergingv2"));
    if let Some(d) = args.get("depths") {
        cfg = cfg.with_depths(common::usizes(d));
    }
    if let Some(h) = args.get("num_heads") {
        cfg = cfg.with_num_heads(common::usizes(h));
    }
    if let Some(w) = args.get("window_size") {
        let w = common::usizes(w);
        cfg = cfg.with_window_size([w[0], w[1], w[2]]);
    }
    cfg
}

/// The fixture's MONAI state dict with formula weights (index buffers as MONAI computes them are
/// not needed: ssl3d ignores them on import).
fn formula_state_dict(e: &Value) -> BTreeMap<String, TensorData> {
    fixture_keys(e)
        .iter()
        .map(|(k, s)| (k.clone(), formula_weight(k, s)))
        .collect()
}

fn input(e: &Value) -> Tensor<B, 5> {
    let shape = common::usizes(&e["input"]["shape"]);
    formula_input(
        [shape[0], shape[1], shape[2], shape[3], shape[4]],
        e["input"]["phase"].as_f64().unwrap(),
        e["input"]["freq"].as_f64().unwrap(),
    )
}

/// `net`'s five hidden states against MONAI's.
fn check_hidden_states(net: &SwinUnetr<B>, e: &Value, what: &str) {
    let hidden = net.swin_vit.forward(input(e), true);
    for (i, (h, s)) in hidden
        .into_iter()
        .zip(e["hidden_states"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(
            h.dims().to_vec(),
            common::usizes(&s["shape"]),
            "{what} hidden {i}"
        );
        check_full_summary(&values(h), s, &format!("{what} hidden state {i}"));
    }
}

fn against_monai(name: &str) {
    let fixture = fixture();
    let e = &fixture["networks"][name];
    let cfg = config(&e["args"]);
    let shape = common::usizes(&e["input"]["shape"]);
    cfg.check(Some([shape[2], shape[3], shape[4]])).unwrap();
    let mut net = cfg.init::<B>(&Default::default());
    assert_eq!(
        net.num_params() as u64,
        e["parameters"].as_u64().unwrap(),
        "{name}: parameters"
    );
    let want = fixture_keys(e);
    let ours: BTreeMap<String, Vec<usize>> = export_state_dict(&net, Arch::SwinUnetr)
        .unwrap()
        .into_iter()
        .map(|(k, d)| (k, d.shape.to_vec()))
        .collect();
    let weights: BTreeMap<String, Vec<usize>> = want
        .iter()
        .filter(|(k, _)| !k.ends_with("relative_position_index"))
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect();
    assert_eq!(ours, weights, "{name}: state-dict keys and shapes");
    // Formula weights, with MONAI's index buffers beside them (read and ignored).
    let tensors = formula_state_dict(e);
    let report = load_state_dict(&mut net, Arch::SwinUnetr, &tensors).unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{name}: {report:?}"
    );
    assert_eq!(report.ignored.len(), want.len() - weights.len());
    // The export for MONAI: every key of MONAI's state dict, index buffers included (int64,
    // MONAI's values), so MONAI's strict load_state_dict takes it.
    let exported = net.monai_tensors().unwrap();
    let exported_keys: BTreeMap<String, Vec<usize>> = (exported.iter())
        .map(|(k, d)| (k.clone(), d.shape.to_vec()))
        .collect();
    assert_eq!(exported_keys, want, "{name}: exported keys and shapes");
    let index = (exported.iter())
        .find(|(k, _)| k.ends_with("relative_position_index"))
        .unwrap()
        .1;
    assert_eq!(index.dtype, burn::tensor::DType::I64);
    let index: Vec<i64> = index.to_vec().unwrap();
    let n = (index.len() as f64).sqrt() as usize;
    // MONAI's index: the bias table's last row at (last voxel, first voxel), its first at
    // (first, last).
    let rows: usize = cfg.window_size.iter().map(|w| 2 * w - 1).product();
    assert_eq!(index[(n - 1) * n], rows as i64 - 1, "{name}: index corner");
    assert_eq!(index[n - 1], 0, "{name}: index corner");

    check_hidden_states(&net, e, name);
    let x = input(e);
    let out = net.forward(x);
    assert_eq!(out.dims().to_vec(), common::usizes(&e["eval_out"]["shape"]));
    check_full_summary(&values(out), &e["eval_out"], &format!("{name} logits"));
}

#[test]
fn tiny_swin_unetr_v1_reproduces_monai() {
    against_monai("tiny_v1");
}

#[test]
fn tiny_swin_unetr_v2_reproduces_monai() {
    against_monai("tiny_v2");
}

/// The BTCV tutorial's SwinUNETR (feature_size 48, 14 classes) at 96³, as MONAI computes it.
#[test]
fn full_size_swin_unetr_v1_reproduces_monai_at_96_cubed() {
    against_monai("full_v1");
}

#[test]
fn full_size_swin_unetr_v2_reproduces_monai_at_96_cubed() {
    against_monai("full_v2");
}

#[test]
fn settings_monai_refuses_are_refused_with_their_reason() {
    let refused = |cfg: SwinUnetrConfig, roi: Option<[usize; 3]>, says: &str| {
        let err = cfg.check(roi).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    };
    refused(
        SwinUnetrConfig::new().with_feature_size(40),
        None,
        "multiple of 12",
    );
    refused(
        SwinUnetrConfig::new(),
        Some([96, 96, 80 + 8]),
        "divisible by 32",
    );
    refused(
        SwinUnetrConfig::new().with_num_heads(vec![5, 6, 12, 24]),
        None,
        "do not split",
    );
    SwinUnetrConfig::new().check(Some([96; 3])).unwrap();
}
