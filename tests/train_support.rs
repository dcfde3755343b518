//! The training runs' support pieces: layered configs with the tutorial's defaults, the metrics
//! log's crash tolerance, and the loss-plot figure.

mod common;

use serde_json::json;
use ssl3d::report::loss_plots::{Panel, write_panels};
use ssl3d::train::{
    FinetuneConfig, MetricsLog, PretrainConfig, ValidationMode, layered_config, read_records,
    truncate_records, write_effective,
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
    assert!(err.contains("invalid configuration"), "{err}");
    // The effective config round-trips.
    let eff = dir.join("config.json");
    write_effective(&p, &eff).unwrap();
    let back: PretrainConfig = layered_config(Some(&eff), &[]).unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&p).unwrap()
    );
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
