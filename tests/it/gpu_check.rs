//! `scripts/gpu_check.sh --dry-run`: the device check's whole sequence on the CPU at tiny sizes,
//! with this build's binaries, so the script a lent GPU runs is known to work before it does.

use crate::common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_device_check_runs_end_to_end_on_the_cpu() {
    let bins = Path::new(env!("CARGO_BIN_EXE_ssl-bench")).parent().unwrap();
    let out = common::scratch("gpu_check");
    let run = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gpu_check.sh"))
        .args(["--dry-run", "--bin"])
        .arg(bins)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out.join("gpu_check.txt")).unwrap_or_default();
    assert!(
        run.status.success(),
        "gpu_check.sh --dry-run failed:\n{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("gpu_check.json")).unwrap())
            .unwrap();
    assert_eq!(report["dry_run"], true);
    let steps = report["steps"].as_array().unwrap();
    let step = |name: &str| -> &Value {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name} in {report}"))
    };
    for name in [
        "parity",
        "bench_vitautoenc_b1_f32",
        "bench_unetr_b1_f32",
        "sliding_window_f32",
        "synth",
        "pretrain_run",
        "pretrain_resume",
        "pretrain_steps",
        "pretrain_checkpoint_parity",
        "finetune_run",
        "finetune_resume",
        "finetune_steps",
        "finetune_checkpoint_parity",
        "bench_vitautoenc_b1_bf16",
        "bench_unetr_b1_bf16",
        "sliding_window_bf16",
    ] {
        assert_eq!(step(name)["rc"], 0, "{name}: {}", step(name));
    }
    // The CUDA code path (generic ops) agrees with the CPU kernels on both tiny models.
    for model in step("parity")["result"]["models"].as_array().unwrap() {
        let f = |k: &str| model[k].as_f64().unwrap();
        assert!(f("loss_rel_diff") < 1e-5, "{model}");
        // f32 sums in another order: a gradient norm moves by up to a few 1e-3 (1.7e-3 seen on
        // UNETR's smallest kept norms); a wrong gradient is off by far more.
        assert!(f("grad_norm_max_rel_diff") < 1e-2, "{model}");
        assert!(
            f("output_max_abs_diff") <= 1e-5 * f("output_scale"),
            "{model}"
        );
        assert!(model["parameters"].as_u64().unwrap() > 10, "{model}");
    }
    for (name, precision) in [
        ("bench_vitautoenc_b1_f32", "f32"),
        ("bench_unetr_b1_f32", "f32"),
        ("bench_vitautoenc_b1_bf16", "bf16"),
        ("bench_unetr_b1_bf16", "bf16"),
    ] {
        let r = &step(name)["result"];
        assert_eq!(r["precision"], precision, "{r}");
        assert!(r["forward_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["step_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    for name in ["pretrain_steps", "finetune_steps"] {
        let r = &step(name)["result"];
        assert!(r["steps"].as_u64().unwrap() >= 2, "{r}");
        let share = r["data_wait_share"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share), "{r}");
    }
    // Each run was stopped half-way and resumed: its log holds both halves, each step once.
    for run in ["pretrain", "finetune"] {
        let text = std::fs::read_to_string(out.join(format!("{run}_metrics.jsonl"))).unwrap();
        let steps: Vec<u64> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["kind"] == "step")
            .map(|r| r["step"].as_u64().unwrap())
            .collect();
        assert!(steps.len() >= 4, "{run}: {steps:?}");
        assert_eq!(steps, (1..=steps.len() as u64).collect::<Vec<_>>(), "{run}");
    }
    // The checkpoints the runs wrote load on both sides and give the same outputs.
    for (name, model) in [
        ("pretrain_checkpoint_parity", "vitautoenc"),
        ("finetune_checkpoint_parity", "unetr"),
    ] {
        let r = &step(name)["result"];
        assert_eq!(r["model"], model, "{r}");
        assert!(r["output_scale"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["output_rel_l2"].as_f64().unwrap() < 1e-5, "{r}");
    }
    // Sliding-window validation tiles the dry run's volume as MONAI would.
    for (name, precision) in [
        ("sliding_window_f32", "f32"),
        ("sliding_window_bf16", "bf16"),
    ] {
        let r = &step(name)["result"];
        let volume: Vec<usize> = r["volume"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let window = r["window"].as_u64().unwrap() as usize;
        let size = [volume[0], volume[1], volume[2]];
        let roi = [window; 3];
        let starts = ssl3d::inferers::window_starts(
            size,
            roi,
            ssl3d::inferers::scan_interval(size, roi, 0.25),
        );
        assert_eq!(r["windows"].as_u64().unwrap() as usize, starts.len(), "{r}");
        assert_eq!(r["precision"], precision, "{r}");
        assert!(r["seconds"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
fn step_timing_leaves_out_the_first_step_and_a_torn_last_line() {
    use ssl3d::report::step_timing::step_timing;
    let dir = common::scratch("step_timing");
    let metrics = dir.join("metrics.jsonl");
    std::fs::write(
        &metrics,
        concat!(
            r#"{"kind":"step","step":1,"epoch":1,"batch":1,"loss":2.0,"lr":0.1,"data_wait_ms":50.0,"compute_ms":900.0}"#,
            "\n",
            r#"{"kind":"step","step":2,"epoch":1,"batch":2,"loss":1.9,"lr":0.1,"data_wait_ms":10.0,"compute_ms":100.0}"#,
            "\n",
            r#"{"kind":"val","step":2,"dice":0.5}"#,
            "\n",
            r#"{"kind":"step","step":3,"epoch":1,"batch":3,"loss":1.8,"lr":0.1,"data_wait_ms":30.0,"compute_ms":300.0}"#,
            "\n",
            r#"{"kind":"step","step":4,"epoch":1,"batch":4,"loss":1.8,"lr":0.1,"data_wait_ms":0.0,"compute_ms":200.0}"#,
            "\n",
            r#"{"kind":"step","step":5,"ep"#,
        ),
    )
    .unwrap();
    let t = step_timing(&metrics).unwrap();
    assert_eq!(t.steps, 4);
    assert_eq!((t.first_compute_ms, t.first_data_wait_ms), (900.0, 50.0));
    assert_eq!(t.compute_ms_median, Some(200.0));
    assert_eq!(t.compute_ms_mean, Some(200.0));
    assert_eq!(t.data_wait_ms_mean, Some(40.0 / 3.0));
    assert_eq!(t.data_wait_share, Some(40.0 / 640.0));
    std::fs::write(&metrics, "{\"kind\":\"val\",\"step\":1}\n").unwrap();
    let err = step_timing(&metrics).unwrap_err().to_string();
    assert!(
        err.contains("metrics.jsonl") && err.contains("no step records"),
        "{err}"
    );
}
