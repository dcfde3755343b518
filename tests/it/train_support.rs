//! The training runs' support pieces: layered configs with the tutorial's defaults, the metrics
//! log's crash tolerance, the loss-plot figure, and the fused optimisers.

use crate::common;

use burn::backend::{Autodiff, Flex};
use burn::nn::LinearConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, Optimizer, SimpleOptimizer};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Tensor};
use serde_json::json;
use ssl3d::kernels::fused_adam::{FusedAdam, FusedAdamW};
use ssl3d::report::loss_plots::{Panel, write_panels};
use ssl3d::train::{
    FinetuneConfig, MetricsLog, PretrainConfig, ValidationMode, layered_config, read_records,
    truncate_records,
};

#[test]
fn defaults_are_the_tutorials_code() {
    let p: PretrainConfig = layered_config(None, &[]).unwrap();
    assert_eq!(
        (p.max_epochs, p.val_interval, p.volumes_per_batch),
        (500, 2, 4)
    );
    assert_eq!((p.lr, p.temperature), (1e-4, 0.05));
    assert_eq!(p.validation, ValidationMode::Tutorial);
    assert_eq!(p.transforms.num_samples, 2);
    assert_eq!(
        (
            p.model.vit.hidden_size,
            p.model.vit.num_layers,
            p.model.deconv_chns
        ),
        (768, 12, 16)
    );
    let f: FinetuneConfig = layered_config(None, &[]).unwrap();
    assert_eq!(
        (f.max_iterations, f.eval_num, f.lr, f.weight_decay),
        (30_000, 100, 1e-4, 1e-5)
    );
    assert_eq!((f.model.out_channels, f.model.feature_size), (14, 16));
    assert_eq!(f.transforms.num_samples, 4);
    assert_eq!((f.volumes_per_batch, f.micro_batches), (1, 1));
}

fn owned(sets: &[&str]) -> Vec<String> {
    sets.iter().map(|s| s.to_string()).collect()
}

#[test]
fn micro_batches_that_do_not_divide_the_batch_are_refused() {
    let with = |sets: &[&str]| {
        layered_config::<FinetuneConfig>(None, &owned(sets))
            .unwrap()
            .check()
    };
    with(&["volumes_per_batch=4", "micro_batches=2"]).unwrap();
    for bad in ["3", "0"] {
        let err = with(&["volumes_per_batch=4", &format!("micro_batches={bad}")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "micro_batches {bad} must divide volumes_per_batch 4"
            )),
            "{err}"
        );
    }
    // Pretraining: the CNNs' restoration accumulates; the contrastive losses take the whole batch.
    let pretrain = |sets: &[&str]| {
        layered_config::<PretrainConfig>(None, &owned(sets))
            .unwrap()
            .check()
    };
    pretrain(&["micro_batches=2", "network=segresnet"]).unwrap();
    let err = pretrain(&["micro_batches=2"]).unwrap_err().to_string();
    assert!(err.contains("across the whole batch"), "{err}");
    let err = pretrain(&["micro_batches=3", "network=segresnet"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("must divide volumes_per_batch 4"), "{err}");
}

#[test]
fn files_and_overrides_layer_over_defaults_and_typos_are_errors() {
    let dir = common::scratch("train_config");
    let file = dir.join("small.json");
    std::fs::write(&file, r#"{"max_epochs": 3, "transforms": {"patch_size": [32, 32, 16]}, "model": {"vit": {"hidden_size": 48}}}"#).unwrap();
    let sets = vec![
        "lr=2e-4".to_string(),
        "model.vit.num_layers=2".into(),
        "validation=deterministic".into(),
    ];
    let p: PretrainConfig = layered_config(Some(&file), &sets).unwrap();
    assert_eq!((p.max_epochs, p.lr), (3, 2e-4));
    assert_eq!(p.transforms.patch_size, [32, 32, 16]);
    assert_eq!(
        p.transforms.num_samples, 2,
        "untouched fields keep the defaults"
    );
    assert_eq!(
        (
            p.model.vit.hidden_size,
            p.model.vit.num_layers,
            p.model.vit.mlp_dim
        ),
        (48, 2, 3072)
    );
    assert_eq!(p.validation, ValidationMode::Deterministic);
    // Unknown keys, in the file or on the command line, at any depth.
    std::fs::write(&file, r#"{"transforms": {"patchsize": [32, 32, 16]}}"#).unwrap();
    let err = layered_config::<PretrainConfig>(Some(&file), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("small.json") && err.contains("transforms.patchsize"),
        "{err}"
    );
    let err = layered_config::<PretrainConfig>(None, &["model.vit.heads=4".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.vit.heads"), "{err}");
    let err = layered_config::<PretrainConfig>(None, &["lr".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("key=value"), "{err}");
    let err = layered_config::<PretrainConfig>(None, &["max_epochs=many".into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--set max_epochs=many") && err.contains("\"max_epochs\""),
        "{err}"
    );
    // The effective config round-trips.
    let eff = dir.join("config.json");
    ssl3d::io::write_json_atomic(&p, &eff).unwrap();
    let back: PretrainConfig = layered_config(Some(&eff), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&p).unwrap()
    );
}

#[test]
fn the_crop_size_is_declared_once() {
    // roi_size sets the model's input, the crops and the sliding window.
    let sets = ["roi_size=[32,32,16]".to_string()];
    let p: PretrainConfig = layered_config(None, &sets).unwrap();
    assert_eq!(
        (p.model.vit.img_size, p.transforms.patch_size),
        ([32, 32, 16], [32, 32, 16])
    );
    p.check().unwrap();
    let f: FinetuneConfig = layered_config(None, &["roi_size=[64,64,64]".into()]).unwrap();
    assert_eq!(
        (
            f.model.vit.img_size,
            f.transforms.spatial_size,
            f.sliding_window.roi_size
        ),
        ([64; 3], [64; 3], [64; 3])
    );
    f.check().unwrap();
    // An older config that sets one of the derived fields sets roi_size with it.
    let f: FinetuneConfig =
        layered_config(None, &["sliding_window.roi_size=[48,48,48]".into()]).unwrap();
    assert_eq!(
        (f.roi_size, f.model.vit.img_size, f.transforms.spatial_size),
        ([48; 3], [48; 3], [48; 3])
    );
    // Two different sizes are refused, naming both.
    let sets = [
        "roi_size=[32,32,32]".to_string(),
        "model.vit.img_size=[64,64,64]".into(),
    ];
    let err = layered_config::<PretrainConfig>(None, &sets)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("roi_size") && err.contains("model.vit.img_size"),
        "{err}"
    );
    // A config built in code that breaks the rule is refused before training.
    let mut p = PretrainConfig::default();
    p.model.vit.img_size = [64; 3];
    let err = p.check().unwrap_err().to_string();
    assert!(err.contains("set roi_size"), "{err}");
}

#[test]
fn settings_that_cannot_be_right_are_refused_before_training() {
    let pretrain_err = |set: &str| {
        let p: PretrainConfig = layered_config(None, &[set.to_string()]).unwrap();
        p.check().unwrap_err().to_string()
    };
    for (set, key) in [
        ("lr=-1", "lr"),
        ("lr=0", "lr"),
        ("temperature=-0.05", "temperature"),
        ("temperature=0", "temperature"),
        ("transforms.pixdim=[0.0, 2.0, 2.0]", "pixdim"),
    ] {
        let err = pretrain_err(set);
        assert!(err.contains(key), "{set}: {err}");
    }
    let finetune_err = |set: &str| {
        let f: FinetuneConfig = layered_config(None, &[set.to_string()]).unwrap();
        f.check().unwrap_err().to_string()
    };
    for (set, key) in [
        ("lr=0", "lr"),
        ("weight_decay=-1e-5", "weight_decay"),
        ("sliding_window.overlap=1.0", "overlap"),
        ("sliding_window.overlap=1.5", "overlap"),
        ("sliding_window.overlap=-0.5", "overlap"),
        ("sliding_window.sw_batch_size=0", "sw_batch_size"),
        ("transforms.pixdim=[1.5, -1.5, 2.0]", "pixdim"),
    ] {
        let err = finetune_err(set);
        assert!(err.contains(key), "{set}: {err}");
    }
    // A RAM budget of 0 (or below) is refused as the config is read, naming the key.
    for budget in ["0", "-2"] {
        let set = format!("cache.ram_budget_gib={budget}");
        let err = layered_config::<PretrainConfig>(None, std::slice::from_ref(&set))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cache.ram_budget_gib"), "{set}: {err}");
    }
    // The tutorial's own settings pass.
    layered_config::<PretrainConfig>(None, &[])
        .unwrap()
        .check()
        .unwrap();
    layered_config::<FinetuneConfig>(None, &[])
        .unwrap()
        .check()
        .unwrap();
}

#[test]
fn metrics_log_survives_a_torn_line_and_truncates_for_resume() {
    let dir = common::scratch("train_metrics");
    let path = dir.join("metrics.jsonl");
    let mut log = MetricsLog::open(&path).unwrap();
    for step in 0..5 {
        log.write(&json!({"step": step, "total": 1.0 / (step as f64 + 1.0)}))
            .unwrap();
    }
    drop(log);
    // A crash mid-write leaves half a line.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"step\": 5, \"tot");
    std::fs::write(&path, text).unwrap();
    assert_eq!(read_records(&path).unwrap().len(), 5);
    truncate_records(&path, |r| r["step"].as_u64().unwrap() < 3).unwrap();
    let mut log = MetricsLog::open(&path).unwrap();
    log.write(&json!({"step": 3, "total": 0.2})).unwrap();
    let steps: Vec<u64> = read_records(&path)
        .unwrap()
        .iter()
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [0, 1, 2, 3]);
}

#[test]
fn loss_plot_panels_are_drawn() {
    let dir = common::scratch("train_plots");
    let out = dir.join("loss_plots.png");
    let curve = |f: fn(f64) -> f64| (0..20).map(|i| (i as f64, f(i as f64))).collect::<Vec<_>>();
    let panels = [
        Panel {
            title: "Training Loss",
            x_label: "epoch",
            points: curve(|x| 1.0 / (x + 1.0)),
        },
        Panel {
            title: "Validation Loss",
            x_label: "epoch",
            points: curve(|x| 0.8 / (x + 1.0)),
        },
        Panel {
            title: "Training Contrastive Loss",
            x_label: "epoch",
            points: curve(|x| 2.0 - x * 0.01),
        },
        Panel {
            title: "Training Recon Loss",
            x_label: "epoch",
            points: vec![(0.0, 0.5)],
        },
    ];
    write_panels(&out, &panels, 2).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 840);
}

fn bits<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<u64> {
    let data = t.to_data().convert::<f64>();
    data.to_vec::<f64>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Runs `steps` optimiser steps on one tensor with `optim`, returning every step's parameter
/// and moments (bit patterns).
fn trajectory<O: SimpleOptimizer<Flex>>(
    optim: &O,
    state_moments: impl Fn(&O::State<2>) -> [Tensor<Flex, 2>; 2],
    param: &Tensor<Flex, 2>,
    grads: &[Tensor<Flex, 2>],
) -> Vec<Vec<u64>> {
    let (mut p, mut state) = (param.clone(), None);
    let mut out = Vec::new();
    for (i, g) in grads.iter().enumerate() {
        // Unique buffers on some steps (updated in place), shared ones on others (copied).
        let g = if i % 2 == 0 {
            g.clone()
        } else {
            g.clone() * 1.0
        };
        (p, state) = optim.step(1e-2, p, g, state);
        let [m, v] = state_moments(state.as_ref().unwrap());
        out.extend([bits(&p), bits(&m), bits(&v)]);
    }
    out
}

#[test]
fn fused_adam_and_adamw_are_bit_identical_to_burns() {
    let dev = Default::default();
    for dtype in [DType::F32, DType::F64] {
        let random =
            |s| Tensor::<Flex, 2>::random([37, 53], Distribution::Normal(0.0, s), &dev).cast(dtype);
        let param = random(1.0);
        let grads: Vec<_> = (0..4).map(|_| random(0.3)).collect();
        let adam = trajectory(
            &AdamConfig::new().with_epsilon(1e-8).build(),
            |s| [s.momentum.moment_1.clone(), s.momentum.moment_2.clone()],
            &param,
            &grads,
        );
        let fused = trajectory(
            &FusedAdam::new(1e-8),
            |s| [s.momentum.moment_1.clone(), s.momentum.moment_2.clone()],
            &param,
            &grads,
        );
        assert!(adam == fused, "{dtype:?}: fused Adam differs from Burn's");
        for weight_decay in [0.0, 0.05] {
            let adamw = trajectory(
                &AdamWConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(weight_decay)
                    .build(),
                |s| [s.momentum.moment_1.clone(), s.momentum.moment_2.clone()],
                &param,
                &grads,
            );
            let fused = trajectory(
                &FusedAdamW::new(1e-8, weight_decay),
                |s| [s.momentum.moment_1.clone(), s.momentum.moment_2.clone()],
                &param,
                &grads,
            );
            assert!(
                adamw == fused,
                "{dtype:?} decay {weight_decay}: fused AdamW differs"
            );
        }
    }
}

/// Through the module adaptor the trainers use: same weights after three steps, and Burn's
/// Adam takes over the fused one's saved state (checkpoints resume across the two).
#[test]
fn fused_adam_state_is_burns_adam_record() {
    type A = Autodiff<Flex>;
    let dev = Default::default();
    let model = LinearConfig::new(11, 7).init::<A>(&dev);
    let x = Tensor::<A, 2>::random([5, 11], Distribution::Normal(0.0, 1.0), &dev);
    let mut ours = FusedAdam::new(1e-8).init::<A, burn::nn::Linear<A>>();
    let mut burns = AdamConfig::new()
        .with_epsilon(1e-8)
        .init::<A, burn::nn::Linear<A>>();
    let (mut a, mut b) = (model.clone(), model);
    for step in 0..3 {
        let grads_a =
            GradientsParams::from_grads(a.forward(x.clone()).powi_scalar(2).sum().backward(), &a);
        a = ours.step(1e-2, a, grads_a);
        if step == 1 {
            // Burn's optimiser continues from the fused one's state.
            let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::new();
            let bytes = Recorder::<A>::record(&recorder, ours.to_record(), ()).unwrap();
            burns = burns.load_record(recorder.load(bytes, &dev).unwrap());
            b = a.clone();
            continue;
        }
        let grads_b =
            GradientsParams::from_grads(b.forward(x.clone()).powi_scalar(2).sum().backward(), &b);
        b = burns.step(1e-2, b, grads_b);
    }
    assert_eq!(bits(&a.weight.val()), bits(&b.weight.val()));
    assert_eq!(
        bits(&a.bias.as_ref().unwrap().val()),
        bits(&b.bias.as_ref().unwrap().val())
    );
}
