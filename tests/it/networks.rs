//! Networks against `$SSL3D_REFERENCE_DIR/monai/model_vectors.json` and `state_dict_keys.json`
//! (MONAI 1.5): tiny ViTAutoEnc and UNETR with gen_vectors.py's formula weights must reproduce
//! MONAI's full outputs, hidden-state summaries and losses; the full-size tutorial models must have
//! MONAI's keys, shapes and parameter counts. Configs and values are read from the files.

use crate::common;

use std::collections::BTreeMap;

use burn::backend::Flex;
use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use serde_json::Value;
use ssl3d::kernels::with_generic_ops;
use ssl3d::losses::{DiceCeLossConfig, contrastive_loss, l1_loss};
use ssl3d::networks::state_dict::{Arch, export_state_dict, is_unused_monai_key, load_state_dict};
use ssl3d::networks::{UnetrConfig, VitAutoEncConfig, VitConfig};

pub(crate) type B = Flex;

fn json(rel: &str) -> Option<Value> {
    let dir = common::reference_dir()?;
    Some(serde_json::from_str(&std::fs::read_to_string(dir.join(rel)).unwrap()).unwrap())
}

/// gen_vectors.py: `f32(1 + 0.1·sin(0.1(j+1) + h))` for LayerNorm weights, else `f32(0.05·sin(...))`,
/// `h = (Σ utf8 bytes of key mod 1000) / 100`, j the C-order index in MONAI's layout.
pub(crate) fn formula_weight(key: &str, shape: &[usize]) -> TensorData {
    let h = (key.bytes().map(|b| b as u64).sum::<u64>() % 1000) as f64 / 100.0;
    let parts: Vec<&str> = key.split('.').collect();
    let is_norm_w = key.ends_with(".weight")
        && ["norm", "norm1", "norm2", "norm_cross_attn"].contains(&parts[parts.len() - 2]);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|j| {
            let s = (0.1 * (j as f64 + 1.0) + h).sin();
            (if is_norm_w { 1.0 + 0.1 * s } else { 0.05 * s }) as f32
        })
        .collect();
    TensorData::new(v, shape.to_vec())
}

fn formula_state_dict(keys: &Value) -> BTreeMap<String, TensorData> {
    keys.as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (k.clone(), formula_weight(k, &common::usizes(s))))
        .collect()
}

/// `f32(sin(freq·j + phase))` over the C-order index of `shape`.
pub(crate) fn formula_input(shape: [usize; 5], phase: f64, freq: f64) -> Tensor<B, 5> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|j| (freq * j as f64 + phase).sin() as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), &Default::default())
}

pub(crate) fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

fn vit_config(c: &Value) -> VitConfig {
    let arr = |k: &str| -> [usize; 3] {
        let v = common::usizes(&c[k]);
        [v[0], v[1], v[2]]
    };
    let get = |k: &str, default: usize| {
        c.get(k)
            .and_then(|v| v.as_u64())
            .map_or(default, |v| v as usize)
    };
    VitConfig::new()
        .with_in_channels(get("in_channels", 1))
        .with_img_size(arr("img_size"))
        .with_patch_size(c.get("patch_size").map_or([16; 3], |_| arr("patch_size")))
        .with_hidden_size(get("hidden_size", 768))
        .with_mlp_dim(get("mlp_dim", 3072))
        .with_num_layers(get("num_layers", 12))
        .with_num_heads(get("num_heads", 12))
}

/// The tiny ViTAutoEnc's config from its fixture entry.
fn autoenc_config(c: &Value) -> VitAutoEncConfig {
    VitAutoEncConfig::new(vit_config(c))
        .with_deconv_chns(c["deconv_chns"].as_u64().unwrap() as usize)
}

/// The tiny UNETR's config from its fixture entry.
fn unetr_config(c: &Value) -> UnetrConfig {
    UnetrConfig::new(vit_config(c))
        .with_out_channels(c["out_channels"].as_u64().unwrap() as usize)
        .with_feature_size(c["feature_size"].as_u64().unwrap() as usize)
}

/// max |a − b| ≤ tol · max |b|.
fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    let err = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= tol * scale,
        "{what}: max abs diff {err} vs scale {scale}"
    );
}

fn check_summary(got: &[f64], s: &Value, tol: f64, what: &str) {
    let sum: f64 = got.iter().sum();
    let abs: f64 = got.iter().map(|v| v.abs()).sum();
    let sq: f64 = got.iter().map(|v| v * v).sum();
    for (name, g) in [("sum", sum), ("abs_sum", abs), ("sq_sum", sq)] {
        let w = s[name].as_f64().unwrap();
        assert!(
            (g - w).abs() <= tol * w.abs().max(abs / got.len() as f64),
            "{what} {name}: {g} vs {w}"
        );
    }
    let scale = got.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, w) in s["samples"].as_object().unwrap() {
        let (g, w) = (got[i.parse::<usize>().unwrap()], w.as_f64().unwrap());
        assert!(
            (g - w).abs() <= tol * scale,
            "{what} sample {i}: {g} vs {w}"
        );
    }
}

#[test]
fn tiny_vitautoenc_reproduces_monai() {
    tiny_vitautoenc_against_monai();
}

/// The code path CUDA runs (Burn's generic ops, no CPU kernel), against the same MONAI values.
#[test]
fn tiny_vitautoenc_reproduces_monai_through_burns_generic_ops() {
    with_generic_ops(tiny_vitautoenc_against_monai);
}

#[test]
fn tiny_unetr_reproduces_monai() {
    tiny_unetr_against_monai();
}

/// As [`tiny_vitautoenc_reproduces_monai_through_burns_generic_ops`], UNETR and DiceCE.
#[test]
fn tiny_unetr_reproduces_monai_through_burns_generic_ops() {
    with_generic_ops(tiny_unetr_against_monai);
}

fn tiny_vitautoenc_against_monai() {
    let Some(v) = json("monai/model_vectors.json") else {
        return;
    };
    let e = &v["vitautoenc_tiny"];
    let c = &e["config"];
    let cfg = autoenc_config(c);
    let mut model = cfg.init::<B>(&Default::default());
    let report = load_state_dict(
        &mut model,
        Arch::VitAutoEnc,
        &formula_state_dict(&e["state_dict_keys"]),
    )
    .unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{report:?}"
    );
    assert!(report.ignored.iter().all(|k| is_unused_monai_key(k)));
    let img = common::usizes(&c["img_size"]);
    let b = e["batch"].as_u64().unwrap() as usize;
    let shape = [
        b,
        c["in_channels"].as_u64().unwrap() as usize,
        img[0],
        img[1],
        img[2],
    ];
    let input = |name: &str| {
        let pf = &e["input_phase_freq"][name];
        formula_input(shape, pf[0].as_f64().unwrap(), pf[1].as_f64().unwrap())
    };
    let (y1, hidden) = model.forward(input("x1"));
    let (y2, _) = model.forward(input("x2"));
    let out: Vec<f64> = e["out_x1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_close(&values(y1.clone()), &out, 1e-5, "out_x1");
    check_summary(
        &values(hidden[0].clone()),
        &e["hidden0_x1_summary"],
        1e-4,
        "hidden0",
    );
    check_summary(
        &values(hidden.last().unwrap().clone()),
        &e["hidden_last_x1_summary"],
        1e-4,
        "hidden_last",
    );
    check_summary(&values(y2.clone()), &e["out_x2_summary"], 1e-4, "out_x2");
    let r = l1_loss(y1.clone(), input("gt"));
    let cl = contrastive_loss(y1.flatten::<2>(1, 4), y2.flatten::<2>(1, 4), 0.05);
    let total = ssl3d::losses::ssl_total_loss(r.clone(), cl.clone());
    for (name, t) in [
        ("l1_recon", r),
        ("contrastive_t0.05", cl),
        ("total_loss", total),
    ] {
        let (g, w) = (values(t)[0], e[name].as_f64().unwrap());
        assert!((g - w).abs() <= 1e-5 * w.abs(), "{name}: {g} vs {w}");
    }
    // Export gives MONAI's keys back (cross-attention left out) with identical values.
    let exported = export_state_dict(&model, Arch::VitAutoEnc).unwrap();
    let original = formula_state_dict(&e["state_dict_keys"]);
    for (k, d) in &exported {
        assert_eq!(d, &original[k], "{k}");
    }
    assert_eq!(
        exported.len(),
        original.keys().filter(|k| !is_unused_monai_key(k)).count()
    );
}

fn tiny_unetr_against_monai() {
    let Some(v) = json("monai/model_vectors.json") else {
        return;
    };
    let e = &v["unetr_tiny"];
    let c = &e["config"];
    let cfg = unetr_config(c);
    let mut model = cfg.init::<B>(&Default::default());
    let report = load_state_dict(
        &mut model,
        Arch::Unetr,
        &formula_state_dict(&e["state_dict_keys"]),
    )
    .unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{report:?}"
    );
    let img = common::usizes(&c["img_size"]);
    let pf = &e["input_phase_freq"];
    let x = formula_input(
        [1, 1, img[0], img[1], img[2]],
        pf[0].as_f64().unwrap(),
        pf[1].as_f64().unwrap(),
    );
    let y = model.forward(x);
    let out: Vec<f64> = e["out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_close(&values(y.clone()), &out, 1e-5, "unetr out");
    // DiceCE against the recorded label formula.
    let ls = &e["label_spec"];
    let shape = common::usizes(&ls["shape"]);
    let n: usize = shape.iter().product();
    let (scale, phase, freq) = (
        ls["scale"].as_f64().unwrap(),
        ls["phase"].as_f64().unwrap(),
        ls["freq"].as_f64().unwrap(),
    );
    let clip = [
        ls["clip"][0].as_f64().unwrap(),
        ls["clip"][1].as_f64().unwrap(),
    ];
    let labels: Vec<f32> = (0..n)
        .map(|j| {
            (((freq * j as f64 + phase).sin() + 1.0) * scale)
                .floor()
                .clamp(clip[0], clip[1]) as f32
        })
        .collect();
    let labels = Tensor::<B, 5>::from_data(
        TensorData::new(labels, [shape[0], shape[1], shape[2], shape[3], shape[4]]),
        &Default::default(),
    );
    let (total, dice, ce) = DiceCeLossConfig::tutorial().forward_parts(y, labels);
    for (name, t) in [("dicece", total), ("dice_part", dice), ("ce_part", ce)] {
        let (g, w) = (values(t)[0], e[name].as_f64().unwrap());
        assert!((g - w).abs() <= 1e-5 * w.abs(), "{name}: {g} vs {w}");
    }
}

#[test]
fn full_size_models_have_monais_keys_shapes_and_counts() {
    let Some(v) = json("monai/state_dict_keys.json") else {
        return;
    };
    let counts = &v["param_counts"];
    for (name, arch, used) in [
        (
            "ViTAutoEnc_ssl",
            Arch::VitAutoEnc,
            "ViTAutoEnc_used_in_forward",
        ),
        ("UNETR_btcv", Arch::Unetr, "UNETR_used_in_forward"),
    ] {
        let want: BTreeMap<String, Vec<usize>> = v[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_str().unwrap().to_string(), common::usizes(&e[1])))
            .filter(|(k, _)| !is_unused_monai_key(k))
            .collect();
        let dev = Default::default();
        let (got, n_params): (BTreeMap<String, Vec<usize>>, usize) = match arch {
            Arch::VitAutoEnc => {
                let m = VitAutoEncConfig::tutorial().init::<B>(&dev);
                let sd = export_state_dict(&m, arch).unwrap();
                (
                    sd.iter()
                        .map(|(k, d)| (k.clone(), d.shape.to_vec()))
                        .collect(),
                    m.num_params(),
                )
            }
            Arch::Unetr => {
                let m = UnetrConfig::tutorial().init::<B>(&dev);
                let sd = export_state_dict(&m, arch).unwrap();
                (
                    sd.iter()
                        .map(|(k, d)| (k.clone(), d.shape.to_vec()))
                        .collect(),
                    m.num_params(),
                )
            }
            _ => {
                unreachable!("the shared reference set lists ViT networks only")
            }
        };
        assert_eq!(got, want, "{name}: keys and shapes");
        assert_eq!(
            n_params as u64,
            counts[used].as_u64().unwrap(),
            "{name}: parameters used in forward"
        );
    }
}

fn tiny_autoenc(e: &Value) -> ssl3d::networks::VitAutoEnc<B> {
    autoenc_config(&e["config"]).init::<B>(&Default::default())
}

#[test]
fn monai_checkpoints_import_and_reproduce_outputs() {
    use ssl3d::networks::checkpoint::load_torch_checkpoint;
    let (Some(v), Some(dir)) = (json("monai/model_vectors.json"), common::reference_dir()) else {
        return;
    };
    let e = &v["vitautoenc_tiny"];
    let img = common::usizes(&e["config"]["img_size"]);
    let b = e["batch"].as_u64().unwrap() as usize;
    let pf = &e["input_phase_freq"]["x1"];
    let x = formula_input(
        [b, 1, img[0], img[1], img[2]],
        pf[0].as_f64().unwrap(),
        pf[1].as_f64().unwrap(),
    );
    let want: Vec<f64> = e["out_x1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for file in [
        "vitautoenc_tiny_best_model.pt",
        "vitautoenc_tiny_ddp_state_dict.pt",
    ] {
        let mut m = tiny_autoenc(e);
        let report = load_torch_checkpoint(
            &mut m,
            Arch::VitAutoEnc,
            &dir.join("monai/checkpoints").join(file),
        )
        .unwrap();
        assert!(
            report.missing.is_empty() && report.unexpected.is_empty(),
            "{file}: {report:?}"
        );
        assert!(
            !report.ignored.is_empty(),
            "{file}: cross-attention keys are reported as ignored"
        );
        assert_close(&values(m.forward(x.clone()).0), &want, 1e-5, file);
    }
    let u = &v["unetr_tiny"];
    let c = &u["config"];
    let mut m = unetr_config(c).init::<B>(&Default::default());
    load_torch_checkpoint(
        &mut m,
        Arch::Unetr,
        &dir.join("monai/checkpoints/unetr_tiny_best_metric_model.pth"),
    )
    .unwrap();
    let img = common::usizes(&c["img_size"]);
    let pf = &u["input_phase_freq"];
    let y = m.forward(formula_input(
        [1, 1, img[0], img[1], img[2]],
        pf[0].as_f64().unwrap(),
        pf[1].as_f64().unwrap(),
    ));
    let want: Vec<f64> = u["out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_close(&values(y), &want, 1e-5, "unetr checkpoint");
}

#[test]
fn safetensors_export_round_trips_bit_exactly() {
    use ssl3d::networks::checkpoint::{read_safetensors, read_torch_state_dict, write_safetensors};
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let Some(v) = json("monai/model_vectors.json") else {
        return;
    };
    let imported =
        read_torch_state_dict(&dir.join("monai/checkpoints/vitautoenc_tiny_best_model.pt"))
            .unwrap();
    let mut m = tiny_autoenc(&v["vitautoenc_tiny"]);
    load_state_dict(&mut m, Arch::VitAutoEnc, &imported).unwrap();
    let exported = export_state_dict(&m, Arch::VitAutoEnc).unwrap();
    let path = common::scratch("safetensors_roundtrip").join("best_model.safetensors");
    write_safetensors(&path, &exported).unwrap();
    let back = read_safetensors(&path).unwrap();
    assert_eq!(back, exported);
    // import → export → import: every exported tensor equals the original checkpoint's.
    for (k, d) in &back {
        assert_eq!(d, &imported[k], "{k}");
    }
    let mut again = tiny_autoenc(&v["vitautoenc_tiny"]);
    load_state_dict(&mut again, Arch::VitAutoEnc, &back).unwrap();
    assert_eq!(
        export_state_dict(&again, Arch::VitAutoEnc).unwrap(),
        exported
    );
}

#[test]
fn backbone_transfer_reports_what_moved_and_fails_loudly_on_mismatch() {
    use ssl3d::networks::checkpoint::{read_torch_state_dict, transfer_backbone};
    let Some(v) = json("monai/model_vectors.json") else {
        return;
    };
    let u = &v["unetr_tiny"];
    let c = &u["config"];
    let unetr_cfg = unetr_config(c);
    // A ViTAutoEnc with the UNETR's backbone shape: its weights move, its decoder is dropped.
    let ae = VitAutoEncConfig::new(unetr_cfg.vit.clone())
        .with_deconv_chns(4)
        .init::<B>(&Default::default());
    let source = export_state_dict(&ae, Arch::VitAutoEnc).unwrap();
    let mut unetr = unetr_cfg.init::<B>(&Default::default());
    let report = transfer_backbone(&mut unetr, &source).unwrap();
    let vit_keys = source
        .keys()
        .filter(|k| !k.starts_with("conv3d_transpose"))
        .count();
    assert_eq!(report.loaded.len(), vit_keys);
    assert_eq!(report.dropped.len(), 4, "{report:?}");
    assert!(
        report.left_at_init.iter().all(|k| !k.starts_with("vit."))
            && !report.left_at_init.is_empty()
    );
    let moved = export_state_dict(&unetr, Arch::Unetr).unwrap();
    for (k, d) in &source {
        if !k.starts_with("conv3d_transpose") {
            assert_eq!(&moved[&format!("vit.{k}")], d, "{k}");
        }
    }
    // MONAI's tiny ViTAutoEnc has 4³ patches and 2 layers: the shapes do not fit, and the error
    // names the key and both shapes.
    if let Some(dir) = common::reference_dir() {
        let wrong =
            read_torch_state_dict(&dir.join("monai/checkpoints/vitautoenc_tiny_best_model.pt"))
                .unwrap();
        let err = transfer_backbone(&mut unetr, &wrong)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("vit.patch_embedding") && err.contains("does not fit"),
            "{err}"
        );
    }
    // A backbone trained with qkv biases, or with one more block, given to a model without them:
    // an error naming the tensors and the setting, never a silent drop.
    let plain = unetr_cfg.clone();
    let plain = UnetrConfig {
        vit: plain.vit.with_qkv_bias(false),
        ..plain
    };
    let mut unetr = plain.init::<B>(&Default::default());
    let mut biased = plain.vit.clone().with_qkv_bias(true);
    let source = export_state_dict(
        &VitAutoEncConfig::new(biased.clone()).init::<B>(&Default::default()),
        Arch::VitAutoEnc,
    )
    .unwrap();
    let err = transfer_backbone(&mut unetr, &source)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("attn.qkv.bias") && err.contains("\"qkv_bias\": true"),
        "{err}"
    );
    biased.qkv_bias = false;
    biased.num_layers += 1;
    let deeper = export_state_dict(
        &VitAutoEncConfig::new(biased).init::<B>(&Default::default()),
        Arch::VitAutoEnc,
    )
    .unwrap();
    let err = transfer_backbone(&mut unetr, &deeper)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("vit.blocks.{}.", plain.vit.num_layers))
            && err.contains("num_layers"),
        "{err}"
    );
    // A checkpoint with no backbone at all.
    let mut decoder_only = BTreeMap::new();
    decoder_only.insert(
        "conv3d_transpose.bias".to_string(),
        TensorData::new(vec![0f32; 4], [4]),
    );
    let err = transfer_backbone(&mut unetr, &decoder_only)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no ViT backbone weights"), "{err}");
}

#[test]
fn native_checkpoints_round_trip_bit_exactly_with_their_config() {
    use ssl3d::networks::native::{load_config, load_native, native_paths, save_native};
    let Some(v) = json("monai/model_vectors.json") else {
        return;
    };
    let e = &v["vitautoenc_tiny"];
    let c = &e["config"];
    let cfg = autoenc_config(c);
    let mut model = cfg.init::<B>(&Default::default());
    load_state_dict(
        &mut model,
        Arch::VitAutoEnc,
        &formula_state_dict(&e["state_dict_keys"]),
    )
    .unwrap();
    let before = export_state_dict(&model, Arch::VitAutoEnc).unwrap();
    let dir = common::scratch("native_checkpoint");
    save_native(model, &cfg, &dir, "best_model").unwrap();
    let (weights, config) = native_paths(&dir, "best_model");
    let cfg2: VitAutoEncConfig = load_config(&config).unwrap();
    assert_eq!(cfg2.vit.hidden_size, cfg.vit.hidden_size);
    let fresh = cfg2.init::<B>(&Default::default());
    let loaded = load_native(fresh, &weights, &Default::default()).unwrap();
    assert_eq!(
        export_state_dict(&loaded, Arch::VitAutoEnc).unwrap(),
        before
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");
}

/// Formula weights for every key of a full-size model's MONAI state dict (from state_dict_keys.json).
fn full_formula(v: &Value, name: &str) -> BTreeMap<String, TensorData> {
    v[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().to_string(), common::usizes(&e[1])))
        .filter(|(k, _)| !is_unused_monai_key(k))
        .map(|(k, s)| {
            let d = formula_weight(&k, &s);
            (k, d)
        })
        .collect()
}

/// A fixture entry's `state_dict_keys` (MONAI key → shape) equal `ours`, and its `parameters`
/// equal `params`; returns the keys and shapes.
/// A fixture network's MONAI state-dict keys and shapes.
pub(crate) fn fixture_keys(e: &Value) -> BTreeMap<String, Vec<usize>> {
    e["state_dict_keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (k.clone(), common::usizes(s)))
        .collect()
}

pub(crate) fn assert_monai_keys(
    e: &Value,
    ours: &BTreeMap<String, TensorData>,
    params: usize,
    name: &str,
) -> BTreeMap<String, Vec<usize>> {
    assert_eq!(
        params as u64,
        e["parameters"].as_u64().unwrap(),
        "{name}: parameters"
    );
    let want = fixture_keys(e);
    let ours: BTreeMap<String, Vec<usize>> = ours
        .iter()
        .map(|(k, d)| (k.clone(), d.shape.to_vec()))
        .collect();
    assert_eq!(ours, want, "{name}: state-dict keys and shapes");
    want
}

pub(crate) fn check_full_summary(got: &[f64], s: &Value, what: &str) {
    assert_eq!(
        got.len() as u64,
        common::usizes(&s["shape"]).iter().product::<usize>() as u64,
        "{what}: size"
    );
    let scale = got.iter().fold(0f64, |m, v| m.max(v.abs()));
    // Where the fixture measured MONAI's own float32 rounding (`f32_noise`: its largest
    // |float32 − float64|), a difference within a few times that is rounding too: per value, and
    // summed over the values for the sums.
    let noise = s.get("f32_noise").and_then(Value::as_f64).unwrap_or(0.0);
    let n = got.len() as f64;
    for (name, g, rounding) in [
        ("sum", got.iter().sum::<f64>(), 4.0 * noise * n),
        (
            "abs_sum",
            got.iter().map(|v| v.abs()).sum(),
            4.0 * noise * n,
        ),
        (
            "sq_sum",
            got.iter().map(|v| v * v).sum(),
            8.0 * noise * scale * n,
        ),
        (
            "min",
            got.iter().cloned().fold(f64::INFINITY, f64::min),
            4.0 * noise,
        ),
        (
            "max",
            got.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            4.0 * noise,
        ),
    ] {
        let w = s[name].as_f64().unwrap();
        // A sum that cancels to near 0 (a layer-normed tensor's) is compared against the
        // magnitude it cancels from, not its own.
        let cancels = if name == "sum" {
            1e-4 * s["abs_sum"].as_f64().unwrap()
        } else {
            0.0
        };
        assert!(
            (g - w).abs() <= (1e-4 * w.abs().max(1e-3).max(cancels)).max(rounding),
            "{what} {name}: {g} vs {w}"
        );
    }
    let tolerance = (1e-4 * scale).max(4.0 * noise);
    for (i, w) in s["samples"].as_object().unwrap() {
        let (g, w) = (got[i.parse::<usize>().unwrap()], w.as_f64().unwrap());
        assert!((g - w).abs() <= tolerance, "{what} sample {i}: {g} vs {w}");
    }
}

#[test]
fn full_size_tutorial_models_match_monai_at_96_cubed() {
    let (Some(keys), Some(v)) = (
        json("monai/state_dict_keys.json"),
        json("monai/model_vectors.json"),
    ) else {
        return;
    };
    let dev = Default::default();
    let x = formula_input([1, 1, 96, 96, 96], 0.3, 0.013);
    let mut ae = VitAutoEncConfig::tutorial().init::<B>(&dev);
    load_state_dict(
        &mut ae,
        Arch::VitAutoEnc,
        &full_formula(&keys, "ViTAutoEnc_ssl"),
    )
    .unwrap();
    let (y, hidden) = ae.forward(x.clone());
    let full = &v["vitautoenc_full"];
    check_full_summary(&values(y), &full["out_summary"], "ViTAutoEnc out");
    for (i, name) in [(3, "hidden3_summary"), (11, "hidden11_summary")] {
        let s = &full[name];
        let got = values(hidden[i].clone());
        let mut s2 = s.clone();
        s2["shape"] = serde_json::json!([got.len()]);
        check_full_summary(&got, &s2, name);
    }
    drop(ae);
    let mut unetr = UnetrConfig::tutorial().init::<B>(&dev);
    load_state_dict(&mut unetr, Arch::Unetr, &full_formula(&keys, "UNETR_btcv")).unwrap();
    check_full_summary(
        &values(unetr.forward(x)),
        &v["unetr_full"]["out_summary"],
        "UNETR out",
    );
}
