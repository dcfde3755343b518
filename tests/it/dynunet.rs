//! MONAI's DynUNet against tests/fixtures/monai_dynunet.json (MONAI 1.5, made by
//! scripts/reference/gen_monai_dynunet.py): for each network there (tiny basic-block, tiny residual
//! with deep supervision, and nnU-Net's full-size plan at 96³) ssl3d builds the same keys and
//! shapes, MONAI's skip-layer second names included; loads the formula weights with nothing
//! missing or unexpected; and gives MONAI's outputs (eval mode; training mode with the
//! deep-supervision heads) to 1e-4 of their scale. Settings MONAI refuses are refused before
//! building anything.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use serde_json::Value;
use ssl3d::losses::{DeepSupervisionWeights, DiceCeLossConfig, deep_supervision_loss};
use ssl3d::networks::DynUnetConfig;
use ssl3d::networks::state_dict::{Arch, load_state_dict};

use crate::common;
use crate::networks::{
    B, assert_monai_keys, check_full_summary, formula_input, formula_weight, values,
};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/monai_dynunet.json")).unwrap()
}

fn triples(v: &Value) -> Vec<[usize; 3]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let t = common::usizes(t);
            [t[0], t[1], t[2]]
        })
        .collect()
}

/// DynUNet's MONAI arguments as ssl3d's config.
pub(crate) fn config(args: &Value) -> DynUnetConfig {
    let flag = |k: &str| args.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut c = DynUnetConfig::new(
        triples(&args["kernel_size"]),
        triples(&args["strides"]),
        triples(&args["upsample_kernel_size"]),
    )
    .with_in_channels(args["in_channels"].as_u64().unwrap() as usize)
    .with_out_channels(args["out_channels"].as_u64().unwrap() as usize)
    .with_res_block(flag("res_block"))
    .with_deep_supervision(flag("deep_supervision"))
    .with_trans_bias(flag("trans_bias"));
    if let Some(f) = args.get("filters") {
        c = c.with_filters(common::usizes(f));
    }
    if let Some(n) = args.get("deep_supr_num") {
        c = c.with_deep_supr_num(n.as_u64().unwrap() as usize);
    }
    c
}

fn against_monai(name: &str) {
    let fixture = fixture();
    let e = &fixture["networks"][name];
    let cfg = config(&e["args"]);
    cfg.check(None).unwrap();
    let mut net = cfg.init::<B>(&Default::default());
    // MONAI's keys, shapes and skip-layer second names.
    let want = assert_monai_keys(e, &net.monai_state_dict().unwrap(), net.num_params(), name);
    // Formula weights under MONAI's own names (the second names are ignored on import).
    let tensors: BTreeMap<_, _> = want
        .iter()
        .filter(|(k, _)| !k.starts_with("skip_layers."))
        .map(|(k, s)| (k.clone(), formula_weight(k, s)))
        .collect();
    let mut all = tensors.clone();
    for (alias, own) in e["aliases"].as_object().unwrap() {
        all.insert(alias.clone(), tensors[own.as_str().unwrap()].clone());
    }
    let report = load_state_dict(&mut net, Arch::DynUnet, &all).unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{name}: {report:?}"
    );
    assert_eq!(report.loaded.len(), tensors.len());
    assert_eq!(
        report.ignored.len(),
        e["aliases"].as_object().unwrap().len()
    );

    let input = &e["input"];
    let shape = common::usizes(&input["shape"]);
    let x = formula_input(
        [shape[0], shape[1], shape[2], shape[3], shape[4]],
        input["phase"].as_f64().unwrap(),
        input["freq"].as_f64().unwrap(),
    );
    let out = net.forward(x.clone());
    assert_eq!(out.dims().to_vec(), common::usizes(&e["eval_out"]["shape"]));
    check_full_summary(&values(out), &e["eval_out"], &format!("{name} eval"));
    if let Some(train) = e.get("train_out") {
        let out = net.forward_supervised(x);
        assert_eq!(out.dims().to_vec(), common::usizes(&train["shape"]));
        check_full_summary(&values(out.clone()), train, &format!("{name} training"));
        deep_supervision_loss_as_monai(out, &e["deep_supervision_loss"], &shape, name);
    }
}

#[test]
fn tiny_dynunets_reproduce_monai() {
    against_monai("tiny_basic");
    against_monai("tiny_res_deep_supervision");
}

#[test]
fn nnunets_full_size_plan_reproduces_monai_at_96_cubed() {
    let fixture = fixture();
    let e = &fixture["networks"]["full_96"];
    let shape = common::usizes(&e["input"]["shape"]);
    // The fixture's network is nnU-Net's plan for its crop (with residual blocks).
    let plan = DynUnetConfig::nnunet_plan(
        [shape[2], shape[3], shape[4]],
        e["args"]["out_channels"].as_u64().unwrap() as usize,
    )
    .with_res_block(true);
    assert_eq!(plan, config(&e["args"]));
    against_monai("full_96");
}

#[test]
fn settings_monai_refuses_are_refused_with_their_reason() {
    let ok = DynUnetConfig::nnunet_plan([96, 96, 96], 14);
    assert_eq!(ok.strides.len(), 5);
    assert_eq!(ok.level_filters(), vec![32, 64, 128, 256, 320]);
    ok.check(Some([96, 96, 96])).unwrap();
    // Anisotropic crops: each axis halves while it stays at least 4 voxels (160 → 5, 32 → 4).
    let thin = DynUnetConfig::nnunet_plan([160, 160, 32], 14);
    assert_eq!(
        thin.strides,
        vec![
            [1, 1, 1],
            [2, 2, 2],
            [2, 2, 2],
            [2, 2, 2],
            [2, 2, 1],
            [2, 2, 1]
        ]
    );
    assert_eq!(thin.upsample_kernel_size, thin.strides[1..].to_vec());
    thin.check(Some([160, 160, 32])).unwrap();
    let refused = |c: &DynUnetConfig, roi: Option<[usize; 3]>, says: &str| {
        let err = c.check(roi).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    };
    refused(&ok, Some([96, 96, 40]), "not divisible");
    let mut c = ok.clone();
    c.kernel_size.pop();
    refused(&c, None, "same length");
    let mut c = ok.clone().with_deep_supervision(true);
    c.deep_supr_num = 4;
    refused(&c, None, "deep_supr_num 4");
    c.deep_supr_num = 0;
    refused(&c, None, "deep_supr_num 0");
    let mut c = ok.clone();
    c.upsample_kernel_size[0] = [2, 2, 1];
    refused(&c, None, "to undo it");
    let mut c = ok.clone();
    c.kernel_size[1] = [1, 1, 1];
    c.strides[1] = [3, 3, 3];
    c.upsample_kernel_size[0] = [3, 3, 3];
    refused(&c, None, "negative");
    let c = ok.with_filters(vec![8, 16]);
    refused(&c, None, "filters (2)");
}

/// MONAI's `DeepSupervisionLoss(DiceCELoss)` on the stacked levels, in each weight mode.
fn deep_supervision_loss_as_monai(stacked: Tensor<B, 6>, ds: &Value, shape: &[usize], name: &str) {
    let spec = &ds["label"];
    let f = |k: &str| spec[k].as_f64().unwrap();
    let clip = common::usizes(&spec["clip"]);
    let dims = [shape[0], 1, shape[2], shape[3], shape[4]];
    let n: usize = dims.iter().product();
    let labels: Vec<f32> = (0..n)
        .map(|j| {
            (((f("freq") * j as f64 + f("phase")).sin() + 1.0) * f("scale"))
                .floor()
                .clamp(clip[0] as f64, clip[1] as f64) as f32
        })
        .collect();
    let labels = Tensor::<B, 5>::from_data(TensorData::new(labels, dims), &Default::default());
    for (mode, key) in [
        (DeepSupervisionWeights::Exp, "exp"),
        (DeepSupervisionWeights::Same, "same"),
        (DeepSupervisionWeights::Two, "two"),
    ] {
        let got = deep_supervision_loss(
            &DiceCeLossConfig::tutorial(),
            mode,
            stacked.clone(),
            labels.clone(),
        )
        .into_scalar() as f64;
        let want = ds[key].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-5 * want.abs(),
            "{name}: deep supervision ({key}) {got} vs MONAI {want}"
        );
    }
}

#[test]
fn the_cnn_config_files_write_out_the_plans_they_name() {
    use ssl3d::networks::{NetworkKind, SegResNetConfig, SwinUnetrConfig};
    use ssl3d::train::{FinetuneConfig, layered_config};
    let read = |name: &str| -> FinetuneConfig {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(name);
        layered_config(Some(&path), &[]).unwrap()
    };
    let dynunet = read("finetune_btcv_dynunet.json");
    dynunet.check().unwrap();
    assert_eq!(dynunet.network, NetworkKind::Dynunet);
    let plan = DynUnetConfig::nnunet_plan(dynunet.roi_size, 14)
        .with_filters(vec![32, 64, 128, 256, 320])
        .with_deep_supervision(true)
        .with_deep_supr_num(2);
    assert_eq!(dynunet.dynunet_config(), plan);
    let segresnet = read("finetune_btcv_segresnet.json");
    segresnet.check().unwrap();
    assert_eq!(segresnet.segresnet_config(), SegResNetConfig::new());
    let swin = read("finetune_btcv_swin_unetr.json");
    swin.check().unwrap();
    assert_eq!(swin.network, NetworkKind::SwinUnetr);
    assert_eq!(swin.eval_num, 500);
    assert_eq!(swin.swin_unetr_config(), SwinUnetrConfig::new());
    // Left out, each network is its default for the crop and the classes.
    let bare = FinetuneConfig {
        network: NetworkKind::Dynunet,
        ..Default::default()
    };
    assert_eq!(
        bare.dynunet_config(),
        DynUnetConfig::nnunet_plan([96; 3], 14)
    );
}
