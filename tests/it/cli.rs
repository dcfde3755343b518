//! The binaries from a user's side: help texts, the device option, exit codes, the views figure.

use crate::common;

use std::process::Command;

fn bin(name: &str) -> Command {
    Command::new(match name {
        "ssl-data" => env!("CARGO_BIN_EXE_ssl-data"),
        "ssl-pretrain" => env!("CARGO_BIN_EXE_ssl-pretrain"),
        "ssl-finetune" => env!("CARGO_BIN_EXE_ssl-finetune"),
        "ssl-segment" => env!("CARGO_BIN_EXE_ssl-segment"),
        _ => unreachable!(),
    })
}

/// Tiny synthetic data (2 chest, 1 + 1 abdominal volumes) under `dir/data`, datalists in `dir/json`.
fn synth_into(dir: &std::path::Path, seed: u32) {
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), dir, 2, 1, 1, seed);
}

#[test]
fn every_binary_explains_its_options() {
    for name in ["ssl-data", "ssl-pretrain", "ssl-finetune", "ssl-segment"] {
        let out = bin(name).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage"), "{name}: {text}");
        if name != "ssl-data" {
            assert!(
                text.contains("--device") && text.contains("cuda:N"),
                "{name}: {text}"
            );
        }
    }
}

#[test]
fn unavailable_cuda_is_a_clear_error_not_a_panic() {
    for name in ["ssl-pretrain", "ssl-finetune"] {
        let out = bin(name)
            .args(
                ["--device", "cuda:0", "--random-init"]
                    .iter()
                    .take(if name == "ssl-finetune" { 3 } else { 2 }),
            )
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        if out.status.code() == Some(2) {
            // No CUDA here: built without the feature, or no driver.
            assert!(err.starts_with("error: device cuda:0:"), "{name}: {err}");
            assert!(!err.contains("panicked"), "{name}: {err}");
        } else {
            // A machine with a working GPU gets as far as the unimplemented training.
            assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        }
        let out = bin(name).args(["--device", "tpu"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("expected cpu, cuda, cuda:N, wgpu or wgpu:N"),
            "{name}: {err}"
        );
    }
}

#[test]
fn an_unknown_kernel_choice_is_refused_before_any_work() {
    use ssl3d::kernels::KernelChoice;
    for (value, choice) in [
        (None, KernelChoice::Cpu),
        (Some(""), KernelChoice::Cpu),
        (Some("cpu"), KernelChoice::Cpu),
        (Some(" generic "), KernelChoice::Generic),
    ] {
        assert_eq!(KernelChoice::parse(value), Ok(choice), "{value:?}");
    }
    for (name, args) in [
        ("ssl-pretrain", &[][..]),
        ("ssl-finetune", &["--random-init"][..]),
    ] {
        let out = bin(name)
            .args(args)
            .env(ssl3d::kernels::KERNELS_ENV, "fastest")
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("SSL3D_KERNELS=\"fastest\"") && err.contains("`generic`"),
            "{name}: {err}"
        );
    }
}

#[test]
fn training_binaries_need_a_datalist_and_a_logdir() {
    for (name, extra) in [
        ("ssl-pretrain", None),
        ("ssl-finetune", Some("--random-init")),
    ] {
        let out = bin(name).args(extra).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("--json"), "{name}: {err}");
    }
}

#[test]
fn synth_then_views_draws_a_png() {
    let dir = common::scratch("cli_views");
    synth_into(&dir, 3);
    let png = dir.join("views.png");
    let out = bin("ssl-data")
        .arg("views")
        .arg(dir.join("data/btcv/imagesTr/img0001.nii.gz"))
        .arg("--label")
        .arg(dir.join("data/btcv/labelsTr/label0001.nii.gz"))
        .arg("--out")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert!(width > 600, "three panels side by side");
    // A label on another grid is refused with the file named.
    let out = bin("ssl-data")
        .arg("views")
        .arg(dir.join("data/tcia/data/volume-covid19-synth-0001.nii.gz"))
        .arg("--label")
        .arg(dir.join("data/btcv/labelsTr/label0001.nii.gz"))
        .arg("--out")
        .arg(dir.join("bad.png"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("label0001.nii.gz"));
}

#[test]
fn check_reports_missing_files_with_exit_code_2() {
    let out = bin("ssl-data")
        .args(["check", "--json"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/json_files/btcv/dataset_0_init_6.json"
        ))
        .args(["--data-dir", "/nonexistent", "--labels"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("24 file(s) cannot be used"),
        "both splits: {err}"
    );
    assert!(
        err.contains("/nonexistent/labelsTr/label0006.nii.gz"),
        "{err}"
    );
}

#[test]
fn views_of_a_pipeline_show_every_crop_and_view() {
    let dir = common::scratch("cli_aug_views");
    synth_into(&dir, 5);
    let cfg = dir.join("small.json");
    std::fs::write(
        &cfg,
        r#"{"pixdim": [6.0, 6.0, 8.0], "patch_size": [32, 32, 16]}"#,
    )
    .unwrap();
    let png = dir.join("aug.png");
    let out = bin("ssl-data")
        .args(["views", "--pipeline", "pretrain", "--seed", "2"])
        .arg("--image")
        .arg(dir.join("data/tcia/data/volume-covid19-synth-0001.nii.gz"))
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // 2 crops × (original, view 1, view 2) rows of 32-pixel panels at 2×.
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(height >= 6 * 64, "{height}");
}

#[test]
fn training_binaries_check_config_and_data_before_anything_else() {
    let dir = common::scratch("cli_train_checks");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"max_epoch": 3}"#).unwrap();
    let out = bin("ssl-pretrain")
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.json") && err.contains("max_epoch"),
        "{err}"
    );
    let out = bin("ssl-finetune")
        .args(["--random-init", "--set", "eval_num=50", "--json"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/json_files/btcv/dataset_0_init_6.json"
        ))
        .args(["--data-dir", "/nonexistent"])
        .arg("--logdir")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("24 file(s) cannot be used")
    );
    assert!(
        !dir.join("run").exists(),
        "nothing is written before the data check"
    );
}

#[test]
fn finetuning_requires_an_explicit_initialisation() {
    let out = bin("ssl-finetune").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("--pretrained") && err.contains("--random-init"),
        "{err}"
    );
}

/// A datalist whose headers are all fine but whose contents are not: a truncated `.nii.gz`, a
/// NaN voxel, a label value 99, a label on another volume's affine (and one good pair for
/// validation). Returns the datalist.
fn bad_contents(dir: &std::path::Path) -> std::path::PathBuf {
    use ndarray::Array3;
    use ssl3d::io::write_volume;
    let affine = ssl3d::io::affine::identity();
    let image = Array3::from_shape_fn((8, 8, 4), |(x, y, z)| ((x * 7 + y * 3 + z) % 11) as f32);
    let label = Array3::from_shape_fn((8, 8, 4), |(x, _, _)| (x % 3) as u8);
    write_volume(&dir.join("good.nii.gz"), &image, &affine).unwrap();
    write_volume(&dir.join("good_label.nii.gz"), &label, &affine).unwrap();
    let gz = std::fs::read(dir.join("good.nii.gz")).unwrap();
    std::fs::write(dir.join("truncated.nii.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
    let mut nan = image.clone();
    nan[[2, 3, 1]] = f32::NAN;
    write_volume(&dir.join("nan.nii.gz"), &nan, &affine).unwrap();
    let mut l99 = label.clone();
    l99[[4, 4, 2]] = 99;
    write_volume(&dir.join("label_99.nii.gz"), &l99, &affine).unwrap();
    let mut shifted = affine;
    shifted[0][3] += 5.0;
    write_volume(&dir.join("shifted_label.nii.gz"), &label, &shifted).unwrap();
    let list = serde_json::json!({
        "training": [
            {"image": "good.nii.gz", "label": "good_label.nii.gz"},
            {"image": "truncated.nii.gz", "label": "good_label.nii.gz"},
            {"image": "nan.nii.gz", "label": "good_label.nii.gz"},
            {"image": "good.nii.gz", "label": "label_99.nii.gz"},
        ],
        "validation": [{"image": "good.nii.gz", "label": "shifted_label.nii.gz"}]
    });
    let path = dir.join("list.json");
    std::fs::write(&path, list.to_string()).unwrap();
    path
}

/// The problems `bad_contents` planted, each with its file.
fn assert_every_content_problem(err: &str) {
    assert!(err.contains("4 file(s) cannot be used"), "{err}");
    for want in [
        "truncated.nii.gz",
        "nan.nii.gz: 1 voxel(s) are NaN",
        "label_99.nii.gz: unknown label values [99]",
        "shifted_label.nii.gz: label affine differs",
    ] {
        assert!(err.contains(want), "{want} not in: {err}");
    }
}

#[test]
fn check_and_training_read_every_file_in_full_and_report_every_problem() {
    let dir = common::scratch("cli_check_contents");
    let list = bad_contents(&dir);
    let out = bin("ssl-data")
        .args(["check", "--labels", "--json"])
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_every_content_problem(&String::from_utf8_lossy(&out.stderr));
    // Training runs the same checks before its first step, with and without a cache.
    for cache in ["ram", "none"] {
        let out = bin("ssl-finetune")
            .args(["--random-init", "--set", &format!("cache.mode={cache}")])
            .arg("--json")
            .arg(&list)
            .arg("--logdir")
            .arg(dir.join(format!("run_{cache}")))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "cache {cache}");
        assert_every_content_problem(&String::from_utf8_lossy(&out.stderr));
    }
}
