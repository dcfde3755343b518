//! MONAI's SegResNet against tests/fixtures/monai_segresnet.json (MONAI 1.5, made by
//! scripts/reference/gen_monai_segresnet.py): a tiny network and MONAI's default blocks at 16
//! filters and 96³ have MONAI's keys, shapes and parameter count, load the formula weights with
//! nothing missing or unexpected, and give MONAI's outputs to 1e-4 of their scale. Settings that
//! cannot work are refused with their reason.

use std::collections::BTreeMap;

use burn::module::Module;
use serde_json::Value;
use ssl3d::networks::SegResNetConfig;
use ssl3d::networks::state_dict::{Arch, export_state_dict, load_state_dict};

use crate::common;
use crate::networks::{
    B, assert_monai_keys, check_full_summary, formula_input, formula_weight, values,
};

pub(crate) fn config(args: &Value) -> SegResNetConfig {
    let n = |k: &str| args[k].as_u64().unwrap() as usize;
    SegResNetConfig::new()
        .with_in_channels(n("in_channels"))
        .with_out_channels(n("out_channels"))
        .with_init_filters(n("init_filters"))
        .with_norm_groups(n("norm_groups"))
        .with_blocks_down(common::usizes(&args["blocks_down"]))
        .with_blocks_up(common::usizes(&args["blocks_up"]))
}

fn against_monai(name: &str) {
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/monai_segresnet.json")).unwrap();
    let e = &fixture["networks"][name];
    let cfg = config(&e["args"]);
    let shape = common::usizes(&e["input"]["shape"]);
    cfg.check(Some([shape[2], shape[3], shape[4]])).unwrap();
    let mut net = cfg.init::<B>(&Default::default());
    let exported = export_state_dict(&net, Arch::SegResNet).unwrap();
    let want = assert_monai_keys(e, &exported, net.num_params(), name);
    let tensors: BTreeMap<_, _> = want
        .iter()
        .map(|(k, s)| (k.clone(), formula_weight(k, s)))
        .collect();
    let report = load_state_dict(&mut net, Arch::SegResNet, &tensors).unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty() && report.ignored.is_empty(),
        "{name}: {report:?}"
    );
    let x = formula_input(
        [shape[0], shape[1], shape[2], shape[3], shape[4]],
        e["input"]["phase"].as_f64().unwrap(),
        e["input"]["freq"].as_f64().unwrap(),
    );
    let out = net.forward(x);
    assert_eq!(out.dims().to_vec(), common::usizes(&e["out"]["shape"]));
    check_full_summary(&values(out), &e["out"], name);
}

#[test]
fn a_tiny_segresnet_reproduces_monai() {
    against_monai("tiny");
}

#[test]
fn a_full_size_segresnet_reproduces_monai_at_96_cubed() {
    against_monai("full_96");
}

#[test]
fn settings_that_cannot_work_are_refused_with_their_reason() {
    let ok = SegResNetConfig::new();
    ok.check(Some([96, 96, 96])).unwrap();
    let refused = |c: &SegResNetConfig, roi: Option<[usize; 3]>, says: &str| {
        let err = c.check(roi).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    };
    refused(&ok, Some([96, 96, 20]), "not divisible by 8");
    refused(
        &ok.clone().with_blocks_up(vec![1, 1]),
        None,
        "one entry fewer",
    );
    refused(
        &ok.clone().with_init_filters(12),
        None,
        "multiple of norm_groups",
    );
    refused(
        &ok.clone().with_dropout_prob(Some(1.0)),
        None,
        "dropout_prob",
    );
}
