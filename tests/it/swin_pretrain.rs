//! Swin UNETR's self-supervised pretraining (`ssl-pretrain --network swin_unetr`) against the
//! research code of Tang et al. (tests/fixtures/swin_ssl_head.json, made by
//! scripts/reference/gen_swin_ssl_head.py with MONAI 1.5): the SSL head has the research code's
//! keys and gives its rotation logits, projections and reconstructions; the quarter turns are
//! torch's `rot90(k, (2, 3))`; the loss terms agree to 1e-5. Then on tiny synthetic CT the loss
//! falls, a run resumes bit-exactly, and a SwinUNETR fine-tunes from it, the heads dropped.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use ndarray::{Array5, Axis};
use serde_json::Value;
use ssl3d::losses::{class_cross_entropy, contrastive_loss};
use ssl3d::networks::SwinSslHeadConfig;
use ssl3d::networks::state_dict::{Arch, export_state_dict, load_state_dict};
use ssl3d::train::read_records;
use ssl3d::train::swin_ssl_step::swin_ssl_step_loss;
use ssl3d::transforms::swin_ssl_views::{SwinSslViews, turn};

use crate::common;
use crate::networks::{B, check_full_summary, formula_input, formula_weight, values};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/swin_ssl_head.json")).unwrap()
}

fn array(t: Tensor<B, 5>) -> Array5<f32> {
    let d = t.dims();
    let v: Vec<f32> = t.into_data().to_vec().unwrap();
    Array5::from_shape_vec((d[0], d[1], d[2], d[3], d[4]), v).unwrap()
}

fn input(shape: &[usize], e: &Value) -> Tensor<B, 5> {
    formula_input(
        [shape[0], shape[1], shape[2], shape[3], shape[4]],
        e["phase"].as_f64().unwrap(),
        e["freq"].as_f64().unwrap(),
    )
}

fn close(ours: f64, theirs: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= 1e-5 * theirs.abs().max(1.0),
        "{what}: {ours} vs the research code's {theirs}"
    );
}

#[test]
fn the_ssl_head_and_its_loss_reproduce_the_research_code() {
    let f = fixture();
    let args = &f["args"];
    let w = common::usizes(&args["window_size"]);
    let cfg = SwinSslHeadConfig::new()
        .with_in_channels(args["in_channels"].as_u64().unwrap() as usize)
        .with_feature_size(args["feature_size"].as_u64().unwrap() as usize)
        .with_depths(common::usizes(&args["depths"]))
        .with_num_heads(common::usizes(&args["num_heads"]))
        .with_window_size([w[0], w[1], w[2]]);
    let shape = common::usizes(&f["input"]["shape"]);
    cfg.check([shape[2], shape[3], shape[4]]).unwrap();
    let mut model = cfg.init::<B>(&Default::default());

    // The research code's keys and shapes, index buffers included in the export.
    let want: BTreeMap<String, Vec<usize>> =
        serde_json::from_value(f["state_dict_keys"].clone()).unwrap();
    let mut ours: BTreeMap<String, Vec<usize>> = export_state_dict(&model, Arch::SwinSslHead)
        .unwrap()
        .into_iter()
        .map(|(k, d)| (k, d.shape.to_vec()))
        .collect();
    ours.extend(
        (model.relative_position_indices().into_iter()).map(|(k, d)| (k, d.shape.to_vec())),
    );
    assert_eq!(ours, want);
    let weights: BTreeMap<String, TensorData> = (want.iter())
        .filter(|(k, _)| !k.ends_with("relative_position_index"))
        .map(|(k, s)| (k.clone(), formula_weight(k, s)))
        .collect();
    let report = load_state_dict(&mut model, Arch::SwinSslHead, &weights).unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{report:?}"
    );
    assert!(model.num_params() > 0);

    // The quarter turns, on the first crop.
    let x = array(input(&shape, &f["input"]));
    let crop0 = x.index_axis(Axis(0), 0).to_owned();
    for k in 0..4 {
        let turned: Vec<f64> = turn(&crop0, k).iter().map(|&v| v as f64).collect();
        check_full_summary(
            &turned,
            &f["rot90_of_crop0"][k.to_string()],
            &format!("rot90 k={k}"),
        );
    }

    // The views the research code made: the crops turned by the fixture's labels, and two
    // "augmented" inputs.
    let rotations: Vec<Vec<usize>> = (f["rotations"].as_array().unwrap().iter())
        .map(common::usizes)
        .collect();
    let turned = |labels: &[usize]| {
        let mut out = x.clone();
        for (i, &k) in labels.iter().enumerate() {
            let crop = x.index_axis(Axis(0), i).to_owned();
            out.index_axis_mut(Axis(0), i).assign(&turn(&crop, k));
        }
        out
    };
    let augmented = f["augmented"].as_array().unwrap();
    let views = SwinSslViews {
        x1: turned(&rotations[0]),
        x2: turned(&rotations[1]),
        x1_augment: array(input(&shape, &augmented[0])),
        x2_augment: array(input(&shape, &augmented[1])),
        rot1: rotations[0].clone(),
        rot2: rotations[1].clone(),
    };
    // Each view's head outputs.
    for (i, aug) in augmented.iter().enumerate() {
        let out = model.forward(input(&shape, aug));
        let logits = values(out.rotation);
        let want: Vec<f64> = (f["rotation_logits"][i].as_array().unwrap().iter())
            .map(|v| v.as_f64().unwrap())
            .collect();
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (j, (a, b)) in logits.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "view {i} rotation logit {j}: {a} vs {b}"
            );
        }
        check_full_summary(
            &values(out.contrastive),
            &f["contrastive"][i],
            "contrastive",
        );
        check_full_summary(
            &values(out.reconstruction),
            &f["reconstruction"][i],
            "reconstruction",
        );
    }
    let temperature = f["temperature"].as_f64().unwrap();
    let loss = swin_ssl_step_loss(&model, &views, temperature, &Default::default());
    let l = &f["losses"];
    let v = |t: Tensor<B, 1>| t.into_scalar() as f64;
    close(
        v(loss.rotation),
        l["rotation"].as_f64().unwrap(),
        "rotation",
    );
    close(
        v(loss.contrastive),
        l["contrastive"].as_f64().unwrap(),
        "contrastive",
    );
    close(v(loss.recon), l["recon"].as_f64().unwrap(), "recon");
    close(v(loss.total), l["total"].as_f64().unwrap(), "total");

    // The two terms on outputs far from uniform.
    let lo = &f["loss_only"];
    let device = Default::default();
    let scaled = |key: &str, shape: [usize; 2], s: f64| {
        Tensor::<B, 2>::from_data(formula_weight(key, &shape), &device) * s
    };
    let labels: Vec<i64> = (rotations.concat().iter()).map(|&k| k as i64).collect();
    let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [4]), &device);
    let rot = scaled(
        "loss_only.rotation",
        [4, 4],
        lo["rotation_scale"].as_f64().unwrap(),
    );
    close(
        v(class_cross_entropy(rot, labels)),
        lo["rotation"].as_f64().unwrap(),
        "CE",
    );
    let cs = lo["contrastive_scale"].as_f64().unwrap();
    let c1 = scaled("loss_only.contrastive1", [2, 512], cs);
    let c2 = scaled("loss_only.contrastive2", [2, 512], cs) + c1.clone();
    close(
        v(contrastive_loss(c1, c2, temperature)),
        lo["contrastive"].as_f64().unwrap(),
        "contrastive (loss only)",
    );
}

/// A small SSL head for 64×32×32 crops (two tokens at the deepest stage).
const SWIN_SSL: &str = r#"swin_ssl={"model": {"feature_size": 12, "depths": [1,1,1,1], "num_heads": [1,2,2,4], "window_size": [4,4,4]}, "lr_schedule": {"kind": "warmup_cosine", "warmup_steps": 2}}"#;
/// The SwinUNETR that fine-tunes from it.
const SWIN_UNETR: &str = r#"swin_unetr={"feature_size": 12, "depths": [1,1,1,1], "num_heads": [1,2,2,4], "window_size": [4,4,4]}"#;

fn pretrain(
    chest: &(std::path::PathBuf, std::path::PathBuf),
    logdir: &Path,
    epochs: usize,
) -> std::process::Command {
    let mut c = crate::pretrain_run::run_cmd(chest, logdir, epochs);
    c.args(["--network", "swin_unetr", "--set", SWIN_SSL]);
    c.args(["--set", "roi_size=[64,32,32]", "--set", "lr=0.002"]);
    c
}

/// Per epoch: (total, rotation).
fn epochs(logdir: &Path) -> Vec<(f64, f64)> {
    (read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .into_iter())
    .filter(|r| r["kind"] == "epoch")
    .map(|r| {
        (
            r["total"].as_f64().unwrap(),
            r["rotation"].as_f64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn swin_pretraining_learns_resumes_and_hands_its_encoder_to_swin_unetr() {
    let dir = common::scratch("swin_pretrain");
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), &dir, 8, 2, 1, 5);
    let chest = (
        dir.join("json/tcia/dataset_split.json"),
        dir.join("data/tcia"),
    );
    let run = dir.join("pretrain");
    common::ok(pretrain(&chest, &run, 6).output().unwrap());
    let losses = epochs(&run);
    assert_eq!(losses.len(), 6);
    assert!(
        losses[5].0 < 0.9 * losses[0].0,
        "total loss {:.4} → {:.4}",
        losses[0].0,
        losses[5].0
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["network"], "swin_unetr");
    let tensors =
        ssl3d::networks::checkpoint::read_safetensors(&run.join("best_model.safetensors")).unwrap();
    for key in [
        "swinViT.patch_embed.proj.weight",
        "swinViT.layers1.0.blocks.0.attn.relative_position_index",
        "rotation_head.weight",
        "contrastive_head.bias",
        "conv.20.weight",
    ] {
        assert!(tensors.contains_key(key), "{key} missing");
    }

    // The schedule spans the run: a linear warm-up from 0 over 2 steps, then a cosine to ~0.
    let lrs: Vec<f64> = (read_records(&run.join("metrics.jsonl"))
        .unwrap()
        .into_iter())
    .filter(|r| r["kind"] == "step")
    .map(|r| r["lr"].as_f64().unwrap())
    .collect();
    assert_eq!(&lrs[..3], &[0.0, 0.001, 0.002], "{lrs:?}");
    assert!(*lrs.last().unwrap() < 0.1 * 0.002, "{lrs:?}");

    // At a constant rate (the schedule follows max_epochs, which a resume may change),
    // interrupted after 2 epochs and resumed to 4: the same numbers as the straight run.
    let constant = [
        "--set",
        r#"swin_ssl.lr_schedule={"kind": "constant", "warmup_steps": 0}"#,
    ];
    let straight = dir.join("straight");
    common::ok(
        pretrain(&chest, &straight, 4)
            .args(constant)
            .output()
            .unwrap(),
    );
    let resumed = dir.join("resumed");
    common::ok(
        pretrain(&chest, &resumed, 2)
            .args(constant)
            .output()
            .unwrap(),
    );
    common::ok(
        pretrain(&chest, &resumed, 4)
            .args(constant)
            .arg("--resume")
            .output()
            .unwrap(),
    );
    assert_eq!(epochs(&resumed), epochs(&straight));

    // A SwinUNETR fine-tunes from the run folder: the encoder in, the heads dropped.
    let abdomen = (
        dir.join("json/btcv/dataset_0_init_2.json"),
        dir.join("data/btcv"),
    );
    let tuned = dir.join("tuned");
    let network = ["--network", "swin_unetr", "--set", SWIN_UNETR];
    common::ok(
        crate::finetune_run::run_cmd(&abdomen, &tuned, 2, &network)
            .arg("--pretrained")
            .arg(&run)
            .output()
            .unwrap(),
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(tuned.join("transfer_report.json")).unwrap())
            .unwrap();
    let keys = |k: &str| -> Vec<String> { serde_json::from_value(report[k].clone()).unwrap() };
    let encoder = (tensors.keys())
        .filter(|k| k.starts_with("swinViT.") && !k.ends_with("relative_position_index"))
        .count();
    assert_eq!(keys("loaded").len(), encoder);
    assert!(keys("loaded").iter().all(|k| k.starts_with("swinViT.")));
    let dropped = keys("dropped");
    assert_eq!(
        dropped.len(),
        tensors.len() - encoder - keys("ignored").len()
    );
    assert!(
        dropped.iter().all(|k| !k.starts_with("swinViT.")),
        "{dropped:?}"
    );
}

#[test]
fn crops_the_swin_views_cannot_use_are_refused_before_training() {
    use ssl3d::networks::NetworkKind;
    use ssl3d::train::PretrainConfig;
    let refused = |roi: [usize; 3], says: &str| {
        let mut cfg = PretrainConfig {
            network: NetworkKind::SwinUnetr,
            roi_size: roi,
            ..Default::default()
        };
        cfg.transforms.patch_size = roi;
        let err = cfg.check().unwrap_err().to_string();
        assert!(err.contains(says), "{roi:?}: {err}");
    };
    refused([96, 96, 80], "divisible by 32");
    refused([32, 32, 32], "fewer than 2 tokens");
    refused([96, 64, 96], "must be equal");
    let fine = PretrainConfig {
        network: NetworkKind::SwinUnetr,
        ..Default::default()
    };
    fine.check().unwrap();
    // The config file writes the research code's published run out.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pretrain_tcia_swin.json");
    let published: PretrainConfig = ssl3d::train::layered_config(Some(&path), &[]).unwrap();
    published.check().unwrap();
    assert_eq!(
        published.swin_ssl_config(),
        ssl3d::train::SwinSslConfig::default()
    );
    assert_eq!(published.transforms.window.a_min, -1000.0);
    assert_eq!((published.lr, published.volumes_per_batch), (6e-6, 1));
}
