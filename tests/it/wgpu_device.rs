//! The GPU code path (Burn's CubeCL kernels, here compiled for Vulkan through wgpu) against the
//! CPU, on whatever wgpu adapter the machine has: in CI a software Vulkan device (Mesa's
//! lavapipe), so every run checks the kernels a GPU runs. Skipped with a notice when the build
//! lacks the `wgpu` feature or no adapter exists, unless `SSL3D_REQUIRE_WGPU` is set (CI sets it,
//! so a missing device fails instead of passing unseen).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use ssl3d::device::DeviceSpec;
use ssl3d::train::read_records;

fn bin(name: &str) -> Command {
    Command::new(match name {
        "ssl-bench" => env!("CARGO_BIN_EXE_ssl-bench"),
        "ssl-pretrain" => env!("CARGO_BIN_EXE_ssl-pretrain"),
        "ssl-finetune" => env!("CARGO_BIN_EXE_ssl-finetune"),
        _ => unreachable!(),
    })
}

/// Whether a wgpu adapter is usable here; prints the skip notice when not (and fails when
/// `SSL3D_REQUIRE_WGPU` is set).
fn wgpu_here(test: &str) -> bool {
    match DeviceSpec::Wgpu(None).check_available() {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var_os("SSL3D_REQUIRE_WGPU").is_none(),
                "SSL3D_REQUIRE_WGPU is set, but: {e}"
            );
            eprintln!("skipping {test}: {e}");
            false
        }
    }
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    common::ok(out.clone());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn wgpu_computes_what_the_cpu_computes_on_both_tiny_models() {
    if !wgpu_here("wgpu parity") {
        return;
    }
    let report = json_of(bin("ssl-bench").args(["--model", "parity", "--device", "wgpu"]));
    eprintln!("{report}");
    for model in report["models"].as_array().unwrap() {
        let f = |k: &str| model[k].as_f64().unwrap();
        assert!(
            f("output_max_abs_diff") <= 1e-4 * f("output_scale"),
            "{model}"
        );
        assert!(f("loss_rel_diff") < 1e-4, "{model}");
        let total = (f("grad_norm_total_cpu") - f("grad_norm_total_device")).abs();
        assert!(total < 1e-4 * f("grad_norm_total_cpu"), "{model}");
        // One parameter's gradient norm at a time: f32 sums in another order move a small
        // norm by up to a few 1e-4 (2.7e-4 seen on an MLP bias); the wrong convolution weight
        // gradient this test found was off by a factor of 23.
        assert!(f("grad_norm_max_rel_diff") < 1e-3, "{model}");
        assert!(model["parameters"].as_u64().unwrap() > 10, "{model}");
    }
    // bf16 is CUDA's: wgpu refuses it before any work, saying why.
    let out = bin("ssl-bench")
        .args([
            "--model",
            "parity",
            "--device",
            "wgpu",
            "--precision",
            "bf16",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bf16") && err.contains("wgpu"), "{err}");
}

#[test]
fn sliding_window_on_wgpu_labels_voxels_as_the_cpu_does() {
    if !wgpu_here("wgpu sliding window") {
        return;
    }
    // The tutorial's UNETR with 16³ windows over a volume that takes 4 of them (each window one
    // patch), then with 32³ windows: in one batch of 4, a stride-1 convolution's im2col buffer is
    // 216 MiB in one piece, more than lavapipe accepts (docs/GPU.md), so it must come in chunks.
    for (window, volume) in [("16", "24,20,16"), ("32", "48,40,32")] {
        let r = json_of(bin("ssl-bench").args([
            "--model",
            "sliding-window",
            "--size",
            window,
            "--volume",
            volume,
            "--repeat",
            "1",
            "--compare-cpu",
            "--json",
            "--device",
            "wgpu",
        ]));
        eprintln!("{r}");
        assert_eq!(r["windows"], 4, "{r}");
        assert!(r["cpu_label_agreement"].as_f64().unwrap() >= 0.999, "{r}");
        let scores = &r["cpu_scores"];
        assert!(
            scores["max_abs_diff"].as_f64().unwrap() <= 1e-4 * scores["scale"].as_f64().unwrap(),
            "{r}"
        );
    }
}

/// The loss fields of every step record.
fn step_losses(logdir: &Path, fields: &[&str]) -> Vec<f64> {
    read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "step")
        .flat_map(|r| {
            fields
                .iter()
                .map(|k| r[*k].as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The run's latest checkpoint loaded on the CPU and on wgpu: the same outputs.
fn checkpoint_loads_on_the_cpu(logdir: &Path, model: &str) {
    let latest = std::fs::read_to_string(logdir.join("checkpoints/latest")).unwrap();
    let weights: PathBuf = logdir
        .join("checkpoints")
        .join(latest.trim())
        .join("model.mpk");
    let r = json_of(
        bin("ssl-bench")
            .args(["--model", "checkpoint-parity", "--device", "wgpu"])
            .arg("--checkpoint")
            .arg(&weights),
    );
    assert_eq!(r["model"], model, "{r}");
    assert!(r["output_rel_l2"].as_f64().unwrap() < 1e-4, "{r}");
}

#[test]
fn training_on_wgpu_follows_the_cpu_run_and_its_checkpoints_load_on_the_cpu() {
    if !wgpu_here("wgpu training") {
        return;
    }
    let dir = common::scratch("wgpu_training");
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), &dir, 4, 2, 1, 1);
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut steps = Vec::new();
    for device in ["cpu", "wgpu"] {
        // The demo configs, one epoch (2 steps) and 2 iterations, no validation.
        let pretrain = dir.join(format!("pretrain_{device}"));
        common::ok(
            bin("ssl-pretrain")
                .arg("--config")
                .arg(configs.join("pretrain_demo.json"))
                .args(["--set", "max_epochs=1", "--set", "val_interval=100"])
                .arg("--json")
                .arg(dir.join("json/tcia/dataset_split.json"))
                .arg("--data-dir")
                .arg(dir.join("data/tcia"))
                .arg("--logdir")
                .arg(&pretrain)
                .args(["--device", device])
                .output()
                .unwrap(),
        );
        let finetune = dir.join(format!("finetune_{device}"));
        finetune_two_steps(&dir, &finetune, device, &[]);
        steps.push((
            step_losses(&pretrain, &["total", "recon", "contrastive"]),
            step_losses(&finetune, &["loss"]),
        ));
        if device == "wgpu" {
            checkpoint_loads_on_the_cpu(&pretrain, "vitautoenc");
            checkpoint_loads_on_the_cpu(&finetune, "unetr");
        }
    }
    // The same seed draws the same weights on both devices and the data are the CPU's, so the
    // runs differ only by f32 rounding (seen: 5e-5 relative after three steps).
    let (cpu, gpu) = (&steps[0], &steps[1]);
    for (what, cpu, gpu) in [
        ("pretraining", &cpu.0, &gpu.0),
        ("fine-tuning", &cpu.1, &gpu.1),
    ] {
        assert_eq!(cpu.len(), gpu.len(), "{what}");
        assert!(cpu.len() >= 2, "{what}: {cpu:?}");
        let worst = common::max_rel_diff(gpu, cpu);
        eprintln!("{what}: step losses on wgpu vs CPU, largest relative difference {worst:.2e}");
        assert!(worst < 1e-3, "{what}: cpu {cpu:?}, wgpu {gpu:?}");
    }
}

/// The CNN baselines on the GPU code path: a small DynUNet with deep supervision (strided and
/// transposed convolutions, affine instance norm, the heads' nearest resizing) and a small
/// SegResNet (group norm, trilinear up-sampling) train two steps on wgpu as on the CPU.
#[test]
fn cnn_baselines_train_on_wgpu_as_on_the_cpu() {
    if !wgpu_here("wgpu CNN training") {
        return;
    }
    let dir = common::scratch("wgpu_cnn_training");
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), &dir, 2, 2, 1, 1);
    for (network, setting) in [
        ("dynunet", crate::cnn_finetune::DYNUNET),
        ("segresnet", crate::cnn_finetune::SEGRESNET),
    ] {
        let mut losses = Vec::new();
        for device in ["cpu", "wgpu"] {
            let logdir = dir.join(format!("{network}_{device}"));
            finetune_two_steps(
                &dir,
                &logdir,
                device,
                &["--network", network, "--set", setting],
            );
            losses.push(step_losses(&logdir, &["loss"]));
        }
        let (cpu, gpu) = (&losses[0], &losses[1]);
        assert!(
            cpu.len() >= 2 && cpu.len() == gpu.len(),
            "{network}: {cpu:?} {gpu:?}"
        );
        let worst = common::max_rel_diff(gpu, cpu);
        eprintln!("{network}: step losses on wgpu vs CPU, largest relative difference {worst:.2e}");
        assert!(worst < 1e-3, "{network}: cpu {cpu:?}, wgpu {gpu:?}");
    }
}

/// Two fine-tuning steps of the demo's config (plus `extra`) on `device` into `logdir`, with
/// `dir`'s synthetic data and no validation.
fn finetune_two_steps(dir: &Path, logdir: &Path, device: &str, extra: &[&str]) {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/finetune_demo.json");
    common::ok(
        bin("ssl-finetune")
            .arg("--random-init")
            .arg("--config")
            .arg(config)
            .args(extra)
            .args(["--set", "max_iterations=2", "--set", "eval_num=1000"])
            .arg("--json")
            .arg(dir.join("json/btcv/dataset_0.json"))
            .arg("--data-dir")
            .arg(dir.join("data/btcv"))
            .arg("--logdir")
            .arg(logdir)
            .args(["--device", device])
            .output()
            .unwrap(),
    );
}
