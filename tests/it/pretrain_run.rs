//! `ssl-pretrain` end to end on tiny synthetic CT with the demo config: it learns, writes every
//! output, resumes bit-exactly after SIGKILL and after Ctrl-C, stops cleanly on SIGTERM, and
//! refuses what it must refuse.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use burn::backend::Flex;
use serde_json::Value;
use ssl3d::networks::VitAutoEncConfig;
use ssl3d::networks::checkpoint::read_safetensors;
use ssl3d::networks::native::load_config;
use ssl3d::networks::state_dict::{Arch, load_state_dict};
use ssl3d::train::read_records;

fn pretrain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssl-pretrain"))
}

/// Tiny synthetic chest CT: 12 training and 4 validation volumes.
pub(crate) fn synth(dir: &Path) -> (PathBuf, PathBuf) {
    common::synth_tiny(env!("CARGO_BIN_EXE_ssl-data"), dir, 16, 1, 1, 3);
    (
        dir.join("json/tcia/dataset_split.json"),
        dir.join("data/tcia"),
    )
}

/// A small config that learns fast on tiny volumes (32×32×16 crops, 4³ patches, 2 layers).
const SMALL_CONFIG: &str = r#"{
  "val_interval": 2, "volumes_per_batch": 2, "lr": 0.001, "checkpoint_every": 4,
  "transforms": {"pixdim": [6.0, 6.0, 8.0], "patch_size": [32, 32, 16]},
  "model": {"vit": {"img_size": [32, 32, 16], "patch_size": [4, 4, 4], "hidden_size": 48,
                    "mlp_dim": 96, "num_layers": 2, "num_heads": 4}, "deconv_chns": 8}
}"#;

/// The small config for `epochs` epochs (a checkpoint every 4 steps), logging to `logdir`.
pub(crate) fn run_cmd(data: &(PathBuf, PathBuf), logdir: &Path, epochs: usize) -> Command {
    let config = logdir.with_extension("config.json");
    std::fs::write(&config, SMALL_CONFIG).unwrap();
    let mut c = pretrain();
    c.arg("--config")
        .arg(config)
        .arg("--json")
        .arg(&data.0)
        .arg("--data-dir")
        .arg(&data.1)
        .arg("--logdir")
        .arg(logdir)
        .args(["--set", &format!("max_epochs={epochs}")]);
    c
}

/// The logged numbers (not timings, which differ between runs).
fn losses(logdir: &Path) -> Vec<Vec<Option<String>>> {
    common::log_fields(
        logdir,
        &[
            "kind",
            "step",
            "epoch",
            "total",
            "recon",
            "contrastive",
            "val_l1",
        ],
    )
}

/// Starts a run and waits until its log holds a step record `step`; returns the child.
fn start_until_step(mut cmd: Command, logdir: &Path, step: u64) -> Child {
    let mut child = cmd.stderr(std::process::Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    loop {
        let seen = read_records(&logdir.join("metrics.jsonl"))
            .unwrap_or_default()
            .iter()
            .any(|r| r["kind"] == "step" && r["step"].as_u64() >= Some(step));
        if seen {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before step {step}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no step {step} after 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a 6-epoch run, sends it `signal` (a `kill` option) once step 3 is logged, and returns
/// its exit code.
fn signal_at_step_3(data: &(PathBuf, PathBuf), logdir: &Path, signal: &str) -> Option<i32> {
    let child = start_until_step(run_cmd(data, logdir, 6), logdir, 3);
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap().status.code()
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(walk(&path));
        }
        all.push(path);
    }
    all
}

#[test]
fn pretraining_learns_writes_its_outputs_and_resumes_exactly() {
    let dir = common::scratch("pretrain_run");
    let data = synth(&dir);

    // The reference: an uninterrupted run.
    let full = dir.join("full");
    common::ok(run_cmd(&data, &full, 6).output().unwrap());
    let records = read_records(&full.join("metrics.jsonl")).unwrap();
    let steps: Vec<&Value> = records.iter().filter(|r| r["kind"] == "step").collect();
    let epochs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "epoch").collect();
    let vals: Vec<&Value> = records.iter().filter(|r| r["kind"] == "val").collect();
    assert_eq!(steps.len(), 36, "12 volumes, 2 per batch, 6 epochs");
    assert_eq!(epochs.len(), 6);
    assert_eq!(
        vals.len(),
        3,
        "validation after epochs 1, 3, 5 (epoch % 2 == 0, 0-based)"
    );
    for r in &steps {
        for k in [
            "total",
            "recon",
            "contrastive",
            "lr",
            "data_wait_ms",
            "compute_ms",
        ] {
            assert!(r[k].as_f64().is_some_and(f64::is_finite), "{k} in {r}");
        }
    }
    // It learns: the epoch-mean reconstruction L1 falls clearly.
    let first = epochs[0]["recon"].as_f64().unwrap();
    let last = epochs[5]["recon"].as_f64().unwrap();
    eprintln!("epoch-mean reconstruction L1: {first:.4} -> {last:.4}");
    assert!(last < 0.8 * first, "{first} -> {last}");

    for f in [
        "config.json",
        "loss_plots.png",
        "best_model.mpk",
        "best_model.config.json",
        "best_model.safetensors",
        "summary.json",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let png = std::fs::read(full.join("loss_plots.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // The MONAI-keyed export loads every parameter of a ViTAutoEnc built from the saved config.
    let cfg: VitAutoEncConfig = load_config(&full.join("best_model.config.json")).unwrap();
    let mut model = cfg.init::<Flex>(&Default::default());
    let tensors = read_safetensors(&full.join("best_model.safetensors")).unwrap();
    let report = load_state_dict(&mut model, Arch::VitAutoEnc, &tensors).unwrap();
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{report:?}"
    );
    assert!(tensors.contains_key("patch_embedding.position_embeddings"));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"], 36);
    let best = vals
        .iter()
        .map(|r| r["val_l1"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(summary["best_val_l1"].as_f64().unwrap(), best);
    // TensorBoard shows the same numbers as the log.
    let checked = common::tensorboard_matches_log(
        &full,
        &[
            ("step", "/total", "train/total"),
            ("step", "/recon", "train/recon"),
            ("step", "/contrastive", "train/contrastive"),
            ("step", "/lr", "train/lr"),
            ("epoch", "/recon", "epoch/recon"),
            ("val", "/val_l1", "val/l1"),
        ],
    );
    assert_eq!(checked, 4 * 36 + 6 + 3);

    // SIGKILL mid-epoch: step 10 is logged after the step-8 checkpoint (epoch 2, batch 3 of 6).
    let killed = dir.join("killed");
    let mut child = start_until_step(run_cmd(&data, &killed, 6), &killed, 10);
    child.kill().unwrap();
    child.wait().unwrap();
    // The latest checkpoint is damaged afterwards (one byte of its weights changed): resume
    // names the file and takes the older of the two kept checkpoints, and still ends exactly.
    let ckpts = killed.join("checkpoints");
    let latest = std::fs::read_to_string(ckpts.join("latest")).unwrap();
    let weights = ckpts.join(latest.trim()).join("model.mpk");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&weights, &bytes).unwrap();
    let err = common::ok(run_cmd(&data, &killed, 6).arg("--resume").output().unwrap());
    assert!(
        err.contains(&format!("{}", weights.display()))
            && err.contains("checksum")
            && err.contains("older checkpoint"),
        "{err}"
    );
    assert!(err.contains("resuming from"), "{err}");
    assert_eq!(
        losses(&killed),
        losses(&full),
        "resumed log differs from the uninterrupted one"
    );
    // Resume rewrites the event file from the kept log: no step appears twice.
    common::tensorboard_matches_log(&killed, &[("step", "/total", "train/total")]);
    assert_eq!(
        std::fs::read(killed.join("best_model.safetensors")).unwrap(),
        std::fs::read(full.join("best_model.safetensors")).unwrap(),
        "resumed best model differs"
    );

    // Ctrl-C: a checkpoint, exit code 130, and again an exact resume.
    let stopped = dir.join("ctrl_c");
    assert_eq!(signal_at_step_3(&data, &stopped, "-INT"), Some(130));
    common::ok(
        run_cmd(&data, &stopped, 6)
            .arg("--resume")
            .output()
            .unwrap(),
    );
    assert_eq!(losses(&stopped), losses(&full));

    // SIGTERM (what a job scheduler sends) behaves like Ctrl-C: a checkpoint and exit code 130.
    let terminated = dir.join("sigterm");
    assert_eq!(signal_at_step_3(&data, &terminated, "-TERM"), Some(130));
    assert!(terminated.join("checkpoints/latest").is_file());
    // A log shortened behind the checkpoint's back is refused on resume (a gap in the history),
    // naming the file; the log is left as it was.
    let log = terminated.join("metrics.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let first_line = format!("{}\n", text.lines().next().unwrap());
    std::fs::write(&log, &first_line).unwrap();
    // Resumes the stopped run, which must be refused (exit code 2); its message.
    let refused_resume = || {
        let out = run_cmd(&data, &terminated, 6)
            .arg("--resume")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        err
    };
    let err = refused_resume();
    assert!(
        err.contains("metrics.jsonl") && err.contains("shortened or deleted"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), first_line);
    std::fs::remove_file(&log).unwrap();
    let err = refused_resume();
    assert!(err.contains("holds 0 records"), "{err}");
    assert!(!log.exists(), "a refused resume creates no log");

    // A finished run can be extended by raising max_epochs, and the history continues: a
    // `resume` record saying so, then the new epoch's records.
    common::ok(run_cmd(&data, &full, 7).arg("--resume").output().unwrap());
    let extended = read_records(&full.join("metrics.jsonl")).unwrap();
    assert_eq!(extended.len(), records.len() + 9);
    assert_eq!(extended[records.len()]["kind"], "resume");
    assert_eq!(
        extended[records.len()]["changed"]["max_epochs"],
        serde_json::json!([6, 7])
    );
}

#[test]
fn pretraining_refuses_what_it_must() {
    let dir = common::scratch("pretrain_refusals");
    let data = synth(&dir);
    let run = dir.join("run");
    let code_and_err = |out: Output| {
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    // --resume with nothing to resume.
    let (code, err) = code_and_err(run_cmd(&data, &run, 1).arg("--resume").output().unwrap());
    assert_eq!(code, Some(2));
    assert!(err.contains("no complete checkpoint"), "{err}");

    // A run whose validations never beat the tutorial's starting value (1000; here the intensities
    // are windowed to [0, 100 000]) has no best model, and says so instead of reporting 1000.
    let never = dir.join("never_better");
    let out = run_cmd(&data, &never, 1)
        .args(["--set", "transforms.window.b_max=100000"])
        .output()
        .unwrap();
    let (code, err) = code_and_err(out);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("no best model") && !err.contains("1000.0000"),
        "{err}"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(never.join("summary.json")).unwrap())
            .unwrap();
    assert!(
        summary["best_val_l1"].is_null() && summary["best_epoch"].is_null(),
        "{summary}"
    );
    let vals: Vec<Value> = read_records(&never.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|r| r["kind"] == "val")
        .collect();
    assert!(!vals.is_empty() && vals.iter().all(|v| v["best_val_l1"].is_null()));
    assert!(vals.iter().all(|v| v["val_l1"].as_f64().unwrap() > 1000.0));
    assert!(!never.join("best_model.safetensors").exists());

    // An unknown config key.
    let (code, err) = code_and_err(
        run_cmd(&data, &run, 1)
            .args(["--set", "learning_rate=1"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("learning_rate"), "{err}");

    // A finished run is not overwritten, and a resume must keep the run's settings.
    common::ok(run_cmd(&data, &run, 1).output().unwrap());
    let (code, err) = code_and_err(run_cmd(&data, &run, 1).output().unwrap());
    assert_eq!(code, Some(2));
    assert!(err.contains("--resume"), "{err}");
    let (code, err) = code_and_err(
        run_cmd(&data, &run, 2)
            .args(["--resume", "--set", "temperature=0.5"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("temperature") && err.contains("lr, val_interval"),
        "{err}"
    );
    // The learning rate and the validation interval may change on resume, and the log says so.
    let steps_before = read_records(&run.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "step")
        .count();
    let err = common::ok(
        run_cmd(&data, &run, 2)
            .args(["--resume", "--set", "lr=0.0005", "--set", "val_interval=1"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("lr 0.001 -> 0.0005"), "{err}");
    let records = read_records(&run.join("metrics.jsonl")).unwrap();
    let resumes: Vec<&Value> = records.iter().filter(|r| r["kind"] == "resume").collect();
    assert_eq!(resumes.len(), 1, "{records:?}");
    assert_eq!(
        resumes[0]["changed"]["lr"],
        serde_json::json!([0.001, 0.0005])
    );
    assert_eq!(
        resumes[0]["changed"]["max_epochs"],
        serde_json::json!([1, 2])
    );
    assert_eq!(
        resumes[0]["changed"]["val_interval"],
        serde_json::json!([2, 1])
    );
    let after: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "step")
        .skip(steps_before)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|r| r["lr"] == 0.0005),
        "{after:?}"
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["lr"], 0.0005);

    // A finished run whose checkpoints were deleted (to save disk) is not overwritten either.
    std::fs::remove_dir_all(run.join("checkpoints")).unwrap();
    let (code, err) = code_and_err(run_cmd(&data, &run, 1).output().unwrap());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("another run's outputs") && err.contains("metrics.jsonl"),
        "{err}"
    );

    // A --logdir that is a file says so.
    let file = dir.join("a_file");
    std::fs::write(&file, "not a folder").unwrap();
    let (code, err) = code_and_err(run_cmd(&data, &file, 1).output().unwrap());
    assert_eq!(code, Some(2));
    assert!(err.contains("is a file"), "{err}");

    // Two runs never share a folder: the second is refused while the first holds it.
    let busy = dir.join("busy");
    let mut first = start_until_step(run_cmd(&data, &busy, 2), &busy, 1);
    let (code, err) = code_and_err(run_cmd(&data, &busy, 2).output().unwrap());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("in use by another run") && err.contains("pid"),
        "{err}"
    );
    assert!(
        first.wait().unwrap().success(),
        "the first run is undisturbed"
    );

    // A diverging run stops with a clear message and keeps its last good checkpoint.
    let nan = dir.join("nan");
    let (code, err) = code_and_err(
        run_cmd(&data, &nan, 2)
            .args(["--set", "lr=1e6", "--set", "checkpoint_every=1"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not finite") && err.contains("step-"), "{err}");
    assert!(nan.join("checkpoints/latest").is_file());

    // A full disk (here a file-size limit) is reported as the OS says it, naming the file, and
    // leaves no temporary file or half-written checkpoint behind.
    let full_disk = dir.join("full_disk");
    let cmd = run_cmd(&data, &full_disk, 1);
    let out = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .output()
        .unwrap();
    let (code, err) = code_and_err(out);
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("File too large") && err.contains("model.mpk"),
        "{err}"
    );
    let leftovers: Vec<String> = walk(&full_disk)
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.starts_with("step-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Missing files: every one named, before any work.
    let (code, err) = code_and_err(
        run_cmd(
            &(data.0.clone(), dir.join("nowhere")),
            &dir.join("missing"),
            1,
        )
        .output()
        .unwrap(),
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("16 file(s) cannot be used"), "{err}");
    assert!(!dir.join("missing/checkpoints").exists());
}

#[test]
fn the_tutorial_config_file_is_the_default() {
    let out = pretrain().arg("--print-config").output().unwrap();
    let defaults: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/pretrain_tcia.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        defaults, file,
        "configs/pretrain_tcia.json drifted from the tutorial defaults"
    );
    assert_eq!(defaults["max_epochs"], 500);
    assert_eq!(defaults["temperature"], 0.05);
    assert_eq!(defaults["model"]["vit"]["hidden_size"], 768);
}
