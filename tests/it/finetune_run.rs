//! `ssl-finetune` end to end on tiny synthetic abdominal CT: it learns the liver, writes reports,
//! plots, the best model and predictions in the original grids, resumes bit-exactly after SIGKILL,
//! and starts from every pretrained source (or fails clearly on a mismatched one).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use ssl3d::io::read_header;
use ssl3d::report::FinetuneReport;
use ssl3d::train::read_records;

fn finetune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssl-finetune"))
}

/// Tiny synthetic abdomen: 6 training and 2 validation volumes (and 2 chest volumes).
pub(crate) fn synth(dir: &Path) -> (PathBuf, PathBuf) {
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), dir, 2, 6, 2, 8);
    (
        dir.join("json/btcv/dataset_0_init_6.json"),
        dir.join("data/btcv"),
    )
}

/// The demo's model and crops, validating every 20 steps, a checkpoint every 10.
pub(crate) fn run_cmd(
    data: &(PathBuf, PathBuf),
    logdir: &Path,
    steps: usize,
    init: &[&str],
) -> Command {
    let mut c = finetune();
    c.arg("--config")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/finetune_demo.json"
        ))
        .arg("--json")
        .arg(&data.0)
        .arg("--data-dir")
        .arg(&data.1)
        .arg("--logdir")
        .arg(logdir)
        .args(["--set", &format!("max_iterations={steps}")])
        .args(["--set", "eval_num=20", "--set", "checkpoint_every=10"])
        .args(init);
    c
}

/// The logged numbers (not timings, which differ between runs).
pub(crate) fn numbers(logdir: &Path) -> Vec<Vec<Option<String>>> {
    common::log_fields(
        logdir,
        &[
            "kind",
            "step",
            "loss",
            "train_loss",
            "dice_tutorial",
            "dice_foreground",
        ],
    )
}

#[test]
fn finetuning_learns_reports_and_resumes_exactly() {
    let dir = common::scratch("finetune_run");
    let data = synth(&dir);
    let full = dir.join("full");
    common::ok(
        run_cmd(&data, &full, 66, &["--random-init", "--save-predictions"])
            .output()
            .unwrap(),
    );

    let report = FinetuneReport::read(&full.join("report.json")).unwrap();
    assert_eq!(report.init, "random");
    assert_eq!(
        (
            report.train_volumes,
            report.validation_volumes,
            report.steps
        ),
        (6, 2, 66)
    );
    let best = report
        .best
        .clone()
        .expect("validations at iterations 20, 40, 60");
    let vals: Vec<Value> = read_records(&full.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|r| r["kind"] == "val")
        .collect();
    assert_eq!(
        vals.iter()
            .map(|r| r["iteration"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![20, 40, 60],
        "the tutorial validates at positive multiples of eval_num, never at max_iterations"
    );
    // Learning: the liver (class 6), the largest organ, is found well above chance (a random
    // labelling of its ~10% share of the volume scores below 0.1).
    let liver = best.per_organ_dice[5];
    eprintln!(
        "best validation: liver Dice {liver:.3}, 13-organ Dice {:.3}",
        best.foreground_dice
    );
    assert!(liver > 0.5, "liver Dice {liver}");
    assert_eq!(best.per_organ_hd95.len(), 13);
    assert_eq!(best.dice_rows.len(), 2);

    for f in [
        "config.json",
        "metrics.jsonl",
        "finetune_plots.png",
        "report.json",
        "report.md",
        "best_metric_model.mpk",
        "best_metric_model.config.json",
        "best_metric_model.safetensors",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(full.join("report.md")).unwrap();
    assert!(md.contains("liver") && md.contains("13 organs"), "{md}");
    // Predictions: one per validation volume, on the original image's grid.
    for i in 0..2 {
        let image = data.1.join(format!("imagesTr/img{:04}.nii.gz", 35 + i));
        let pred = full.join(format!("predictions/img{:04}_pred.nii.gz", 35 + i));
        let (a, b) = (read_header(&image).unwrap(), read_header(&pred).unwrap());
        assert_eq!(a.shape, b.shape, "{}", pred.display());
        for r in 0..3 {
            for c in 0..4 {
                assert!(
                    (a.affine[r][c] - b.affine[r][c]).abs() < 1e-4,
                    "{}",
                    pred.display()
                );
            }
        }
    }

    // ssl-segment with this run gives the labels its validation predicted.
    crate::segment::segments_like_the_runs_validation(&full, &data.0, &data.1, &dir);

    // SIGKILL after step 25 of a 30-step run: the step-20 checkpoint (after the first validation)
    // is the latest.
    let killed = dir.join("killed");
    let mut child = run_cmd(&data, &killed, 30, &["--random-init"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !read_records(&killed.join("metrics.jsonl"))
        .unwrap_or_default()
        .iter()
        .any(|r| r["kind"] == "step" && r["step"].as_u64() >= Some(25))
    {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(start.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let err = common::ok(
        run_cmd(&data, &killed, 30, &["--random-init", "--resume"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("resuming from"), "{err}");
    // TensorBoard holds the log's numbers, per organ too, and resume leaves no step twice.
    for run in [&full, &killed] {
        common::tensorboard_matches_log(
            run,
            &[
                ("step", "/loss", "train/dice_ce"),
                ("val", "/dice_tutorial", "val/dice_tutorial"),
                ("val", "/result/per_organ_dice/5", "val/dice/liver"),
            ],
        );
    }
    // The run length does not change the data or the model: the resumed 30-step log is the
    // first part of the uninterrupted 66-step one, bit for bit (validation at iteration 20 included).
    let (resumed, reference) = (numbers(&killed), numbers(&full));
    assert_eq!(resumed.len(), 31);
    assert_eq!(resumed, reference[..31], "the resumed log differs");

    // The table from a random and a "pretrained" run (here: started from the first run's UNETR).
    let pre = dir.join("pre");
    common::ok(
        run_cmd(&data, &pre, 21, &["--pretrained"])
            .arg(full.join("best_metric_model.safetensors"))
            .output()
            .unwrap(),
    );
    let transfer: Value =
        serde_json::from_str(&std::fs::read_to_string(pre.join("transfer_report.json")).unwrap())
            .unwrap();
    assert!(transfer["loaded"].as_array().unwrap().len() > 100);

    // A resume keeps the run's start and data: a random-init run resumed with --pretrained, or a
    // run resumed on another datalist, is refused (it would be relabelled or measured elsewhere).
    let best = full.join("best_metric_model.safetensors");
    let refused = |mut cmd: Command| {
        let out = cmd.arg(&best).arg("--resume").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        err
    };
    let err = refused(run_cmd(&data, &full, 67, &["--pretrained"]));
    assert!(
        err.contains("started from random") && err.contains("pretrained"),
        "{err}"
    );
    let mut list: Value = serde_json::from_str(&std::fs::read_to_string(&data.0).unwrap()).unwrap();
    list["training"].as_array_mut().unwrap().pop();
    let fewer = dir.join("json/btcv/fewer.json");
    std::fs::write(&fewer, list.to_string()).unwrap();
    let other_list = (fewer, data.1.clone());
    let err = refused(run_cmd(&other_list, &pre, 22, &["--pretrained"]));
    assert!(err.contains("datalist"), "{err}");
    assert!(
        FinetuneReport::read(&full.join("report.json"))
            .unwrap()
            .init
            == "random",
        "the refused resume changed nothing"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-report"))
        .arg("table")
        .arg(&full)
        .arg(&pre)
        .arg("--out")
        .arg(dir.join("table"))
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        md.contains("| 6 |") && md.contains("63.07") && md.contains("70.09"),
        "{md}"
    );
    assert!(dir.join("table/table.png").is_file());
    // The two runs trained for different numbers of steps: the table says so.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("max_iterations") && err.contains("pre"),
        "{err}"
    );
    // Two runs in one cell are refused.
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-report"))
        .args(["table"])
        .arg(&full)
        .arg(&killed)
        .arg("--out")
        .arg(dir.join("table2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The reference set's tiny UNETR (`monai/model_vectors.json`, `unetr_tiny.config`) as `--set`
/// overrides: its input size (crops and windows follow it), width, MLP, heads and feature size.
fn tiny_unetr_sets(tiny: &Value) -> Vec<String> {
    let size = tiny["img_size"].to_string().replace(' ', "");
    [
        format!("transforms.spatial_size={size}"),
        format!("sliding_window.roi_size={size}"),
        format!("model.vit.img_size={size}"),
        format!("model.vit.hidden_size={}", tiny["hidden_size"]),
        format!("model.vit.mlp_dim={}", tiny["mlp_dim"]),
        format!("model.vit.num_heads={}", tiny["num_heads"]),
        format!("model.feature_size={}", tiny["feature_size"]),
        "transforms.num_samples=1".to_string(),
    ]
    .into_iter()
    .flat_map(|v| ["--set".to_string(), v])
    .collect()
}

#[test]
fn pretrained_sources_load_or_fail_clearly() {
    let Some(reference) = common::reference_dir() else {
        return;
    };
    let ckpts = reference.join("monai/checkpoints");
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(reference.join("monai/model_vectors.json")).unwrap(),
    )
    .unwrap();
    let tiny = &vectors["unetr_tiny"]["config"];
    let dir = common::scratch("finetune_sources");
    let data = synth(&dir);

    // MONAI's fine-tuning checkpoint (a bare UNETR state dict): its backbone moves in by name.
    let from_pt = dir.join("from_pt");
    let err = common::ok(
        run_cmd(&data, &from_pt, 2, &["--pretrained"])
            .arg(ckpts.join("unetr_tiny_best_metric_model.pth"))
            .args(tiny_unetr_sets(tiny))
            .args(["--set", "eval_num=1"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("pretrained tensors loaded"), "{err}");
    let report = FinetuneReport::read(&from_pt.join("report.json")).unwrap();
    assert_eq!(report.init, "pretrained");
    assert!(report.transferred_tensors > 0);

    // An ssl-pretrain run folder with a matching backbone.
    let ssl = dir.join("ssl");
    let pre_cfg = dir.join("pre.json");
    // A ViTAutoEnc with UNETR's backbone (16³ patches, 12 layers) at the tiny model's sizes.
    let pre = serde_json::json!({
        "max_epochs": 1, "volumes_per_batch": 1,
        "transforms": {"pixdim": [6.0, 6.0, 6.0], "patch_size": tiny["img_size"], "num_samples": 1},
        "model": {"vit": {"img_size": tiny["img_size"], "patch_size": [16, 16, 16],
                          "hidden_size": tiny["hidden_size"], "mlp_dim": tiny["mlp_dim"],
                          "num_layers": 12, "num_heads": tiny["num_heads"]}, "deconv_chns": 4}
    });
    std::fs::write(&pre_cfg, pre.to_string()).unwrap();
    common::ok(
        Command::new(env!("CARGO_BIN_EXE_ssl-pretrain"))
            .arg("--config")
            .arg(&pre_cfg)
            .arg("--json")
            .arg(dir.join("json/tcia/dataset_split.json"))
            .arg("--data-dir")
            .arg(dir.join("data/tcia"))
            .arg("--logdir")
            .arg(&ssl)
            .output()
            .unwrap(),
    );
    let err = common::ok(
        run_cmd(&data, &dir.join("from_ssl"), 1, &["--pretrained"])
            .arg(&ssl)
            .args(tiny_unetr_sets(tiny))
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("best_model.safetensors") && err.contains("4 dropped"),
        "{err}"
    );
    assert!(!err.contains("not finished"), "{err}");
    // The same folder without its summary.json is a pretraining run that has not finished: it
    // still loads, with a warning.
    std::fs::rename(ssl.join("summary.json"), dir.join("summary.json")).unwrap();
    let err = common::ok(
        run_cmd(&data, &dir.join("from_unfinished"), 1, &["--pretrained"])
            .arg(ssl.join("best_model.safetensors"))
            .args(tiny_unetr_sets(tiny))
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("warning") && err.contains("has not finished"),
        "{err}"
    );
    std::fs::rename(dir.join("summary.json"), ssl.join("summary.json")).unwrap();

    // The SSL tutorial's best_model.pt of the tiny ViTAutoEnc (another patch size or width than
    // the tiny UNETR's backbone) does not fit: a clear error with the key and both shapes, before
    // any training.
    let auto = &vectors["vitautoenc_tiny"]["config"];
    if auto["patch_size"] == serde_json::json!([16, 16, 16])
        && auto["hidden_size"] == tiny["hidden_size"]
    {
        eprintln!("SKIPPED: the reference set's tiny ViTAutoEnc fits the tiny UNETR's backbone");
    } else {
        let out = run_cmd(&data, &dir.join("mismatch"), 2, &["--pretrained"])
            .arg(ckpts.join("vitautoenc_tiny_best_model.pt"))
            .args(tiny_unetr_sets(tiny))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("vitautoenc_tiny_best_model.pt") && err.contains("shape"),
            "{err}"
        );
        assert!(!dir.join("mismatch/checkpoints").exists());
    }

    // Both or neither initialisation: refused by the command line.
    let out = run_cmd(
        &data,
        &dir.join("both"),
        2,
        &["--random-init", "--pretrained", "x.pt"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_tutorial_config_file_is_the_default() {
    let out = finetune().arg("--print-config").output().unwrap();
    let defaults: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/finetune_btcv.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        defaults, file,
        "configs/finetune_btcv.json drifted from the tutorial defaults"
    );
    assert_eq!(defaults["max_iterations"], 30000);
    assert_eq!(defaults["eval_num"], 100);
    assert_eq!(defaults["weight_decay"], 1e-5);
    assert_eq!(defaults["transforms"]["num_samples"], 4);
    assert_eq!(defaults["model"]["feature_size"], 16);
}
