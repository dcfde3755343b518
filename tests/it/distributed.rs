//! Data-parallel runs with real processes on localhost (a build with `--features distributed`;
//! without it each test prints a skip notice): two processes with batch B train like one process
//! with batch 2B, step for step; a lost or failing rank stops the others with its name; settings
//! that cannot work are refused before the first step.

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn::backend::Flex;
use burn::config::Config;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use ssl3d::networks::native::{load_config, load_native};
use ssl3d::networks::{DynUnetConfig, UnetrConfig, VitAutoEncConfig};
use ssl3d::train::read_records;

use super::finetune_run;
use super::pretrain_run::{run_cmd, synth};

fn built() -> bool {
    if !cfg!(feature = "distributed") {
        eprintln!(
            "skip: built without the `distributed` feature (cargo test --features distributed)"
        );
    }
    cfg!(feature = "distributed")
}

/// A port `p` with `p..p + 2 + ranks` free (rank 0's control port, the engine's orchestrator and
/// one tensor service per rank), below Linux's ephemeral range (32768 and up): there, the
/// outgoing connections of runs beside this one could take a port between this check and its use.
fn free_ports(ranks: usize) -> u16 {
    // Tests running side by side start from different places.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let seed = (call * 1009 + nanos) ^ ((std::process::id() as usize) << 7);
    for i in 0..200 {
        let p = (20_000 + (seed + i * 7919) % 12_000) as u16;
        if (p..=p + 2 + ranks as u16).all(|q| TcpListener::bind(("0.0.0.0", q)).is_ok()) {
            return p;
        }
    }
    panic!("no free run of ports");
}

fn run(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        c,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The step records' (step, total, recon, contrastive).
fn steps(logdir: &Path) -> Vec<[f64; 4]> {
    read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "step")
        .map(|r| ["step", "total", "recon", "contrastive"].map(|k| r[k].as_f64().unwrap()))
        .collect()
}

/// The newest checkpoint of the run in `logdir`: its folder.
fn latest_checkpoint(logdir: &Path) -> std::path::PathBuf {
    let dir = logdir.join("checkpoints");
    let latest = std::fs::read_to_string(dir.join("latest")).unwrap();
    dir.join(latest.trim())
}

/// Every parameter's values, in the module's order.
struct Values(Vec<f32>);

impl ModuleVisitor<Flex> for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Flex, D>>) {
        self.0
            .extend(param.val().into_data().to_vec::<f32>().unwrap());
    }
}

/// The newest checkpoint's weights of a run, for the network `init` builds from the checkpoint's
/// saved config.
fn final_weights<C: Config, M: Module<Flex>>(logdir: &Path, init: impl Fn(&C) -> M) -> Vec<f32> {
    let ckpt = latest_checkpoint(logdir);
    let (config, weights) = (ckpt.join("model.config.json"), ckpt.join("model.mpk"));
    let device = Default::default();
    let mut v = Values(Vec::new());
    load_native(init(&load_config(&config).unwrap()), &weights, &device)
        .unwrap()
        .visit(&mut v);
    v.0
}

/// A pretraining's final ViTAutoEnc weights.
fn pretrained_weights(logdir: &Path) -> Vec<f32> {
    final_weights(logdir, |c: &VitAutoEncConfig| {
        c.init::<Flex>(&Default::default())
    })
}

/// The relative (L2) difference of two pretrainings' final weights, after printing it.
fn weights_differ(a: &Path, b: &Path) -> f64 {
    let (wa, wb) = (pretrained_weights(a), pretrained_weights(b));
    assert_eq!(wa.len(), wb.len());
    let diff: f64 = (wa.iter().zip(&wb))
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>();
    let norm: f64 = wa.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
    let largest = (wa.iter().zip(&wb))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    let rel = (diff / norm).sqrt();
    eprintln!("final weights: relative difference {rel:.2e}, largest {largest:.2e}");
    rel
}

/// Both pretrainings validated twice, with validation L1s within `tolerance` (relative).
fn validations_agree(a: &Path, b: &Path, tolerance: f64) {
    let val_l1 = |d: &Path| -> Vec<f64> {
        (read_records(&d.join("metrics.jsonl")).unwrap().iter())
            .filter(|r| r["kind"] == "val")
            .map(|r| r["val_l1"].as_f64().unwrap())
            .collect()
    };
    let (va, vb) = (val_l1(a), val_l1(b));
    assert_eq!((va.len(), vb.len()), (2, 2));
    for (x, y) in va.iter().zip(&vb) {
        assert!(rel(*x, *y) <= tolerance, "validation L1 {x} vs {y}");
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn two_pretraining_processes_take_the_steps_of_one_with_twice_the_batch() {
    if !built() {
        return;
    }
    let dir = common::scratch("dp_pretrain");
    let data = synth(&dir);
    // 12 training volumes: 3 steps an epoch either way, 4 epochs.
    let one = dir.join("one");
    let mut c = run_cmd(&data, &one, 4);
    c.args(["--set", "volumes_per_batch=4"]);
    run(c);
    let two = dir.join("two");
    let mut c = run_cmd(&data, &two, 4);
    two_processes(&mut c);
    run(c);
    let (a, b) = (steps(&one), steps(&two));
    assert!(a.len() >= 10, "{} steps", a.len());
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f64;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x[0], y[0]);
        for k in 1..4 {
            worst = worst.max(rel(x[k], y[k]));
        }
    }
    eprintln!("largest relative step-loss difference, 2 processes vs 1: {worst:.2e}");
    assert!(worst <= 1e-5, "step losses differ by {worst:e} (relative)");
    let moved = weights_differ(&one, &two);
    assert!(
        moved <= 1e-5,
        "final weights differ by {moved:e} (relative)"
    );
    // Validation, shared out by batch: the same mean L1 (4 volumes: one batch of 4, or two of 2).
    validations_agree(&one, &two, 1e-5);
    // The same run as two one-process "machines" (--nnodes 2) on this one: the multi-machine
    // path (each launcher its own node rank) logs exactly what --nproc 2 logged.
    let nodes = dir.join("nodes");
    let addr = format!("127.0.0.1:{}", free_ports(2));
    let launchers: Vec<Child> = (0..2)
        .map(|node| {
            let mut c = run_cmd(&data, &nodes, 4);
            // One thread each, as --nproc 2 gives each process on these 2 cores.
            c.args([
                "--nnodes",
                "2",
                "--node-rank",
                &node.to_string(),
                "--master-addr",
                &addr,
            ])
            .env("RAYON_NUM_THREADS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for launcher in launchers {
        let (code, err) = ends_within(launcher, Duration::from_secs(300));
        assert_eq!(code, Some(0), "{err}");
    }
    assert_eq!(steps(&nodes), b, "--nnodes 2 differs from --nproc 2");
}

/// `cmd` as rank `rank` of `size` with rank 0 at `port`, as the launcher starts it.
fn as_rank(mut cmd: Command, rank: usize, size: usize, port: u16) -> Command {
    cmd.env("SSL3D_RANK", rank.to_string())
        .env("SSL3D_LOCAL_RANK", rank.to_string())
        .env("SSL3D_WORLD_SIZE", size.to_string())
        .env("SSL3D_MASTER_ADDR", format!("127.0.0.1:{port}"))
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The last step a run's log holds.
fn last_step(logdir: &Path) -> u64 {
    read_records(&logdir.join("metrics.jsonl"))
        .unwrap_or_default()
        .iter()
        .filter(|r| r["kind"] == "step")
        .filter_map(|r| r["step"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Waits until the run in `logdir` has logged step `step`.
fn wait_for_step(logdir: &Path, step: u64, ranks: &mut [Child]) {
    let start = Instant::now();
    while last_step(logdir) < step {
        for r in ranks.iter_mut() {
            if let Some(status) = r.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(r.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("a rank ended ({status}) before step {step}: {err}");
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no step {step} in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits at most `limit` for `child` to end; its exit code and stderr.
fn ends_within(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_rank_stops_the_others_naming_it_and_the_run_resumes_exactly() {
    if !built() {
        return;
    }
    let dir = common::scratch("dp_faults");
    let data = synth(&dir);
    // The uninterrupted two-process run, and one whose rank 1 is SIGKILLed after step 6 (a
    // checkpoint every 4 steps), then resumed.
    let whole = dir.join("whole");
    let mut c = run_cmd(&data, &whole, 4);
    two_processes(&mut c);
    run(c);
    let cut = dir.join("cut");
    let (code, err) = kill_rank_at(&data, &cut, (4, 6), 1);
    assert_eq!(code, Some(ssl3d::distributed::EXIT_PEER_LOST), "{err}");
    assert!(err.contains("rank 1 was lost"), "{err}");
    let mut c = run_cmd(&data, &cut, 4);
    c.arg("--resume");
    two_processes(&mut c);
    run(c);
    let (a, b) = (steps(&whole), steps(&cut));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x, y,
            "the resumed run differs from the whole one at step {}",
            x[0]
        );
    }
    // Rank 0 lost: rank 1 stops naming it.
    let (code, err) = kill_rank_at(&data, &dir.join("lost0"), (20, 2), 0);
    assert_eq!(code, Some(ssl3d::distributed::EXIT_PEER_LOST), "{err}");
    assert!(err.contains("rank 0 was lost"), "{err}");
}

/// Makes `c` a two-process run on free ports.
fn two_processes(c: &mut Command) {
    let addr = format!("127.0.0.1:{}", free_ports(2));
    c.args(["--nproc", "2", "--master-addr", &addr]);
}

/// Starts the two ranks of an `epochs`-epoch pretraining in `logdir`, SIGKILLs rank `victim` once
/// step `step` is logged, and returns how the other rank ended (exit code, stderr).
fn kill_rank_at(
    data: &(std::path::PathBuf, std::path::PathBuf),
    logdir: &Path,
    (epochs, step): (usize, u64),
    victim: usize,
) -> (Option<i32>, String) {
    let port = free_ports(2);
    let mut ranks: Vec<Child> = (0..2)
        .map(|r| {
            as_rank(run_cmd(data, logdir, epochs), r, 2, port)
                .spawn()
                .unwrap()
        })
        .collect();
    wait_for_step(logdir, step, &mut ranks);
    let mut killed = ranks.remove(victim);
    killed.kill().unwrap();
    killed.wait().unwrap();
    ends_within(ranks.remove(0), Duration::from_secs(30))
}

#[test]
fn settings_that_cannot_work_together_are_refused_before_the_first_step() {
    if !built() {
        return;
    }
    let dir = common::scratch("dp_refusals");
    let data = synth(&dir);
    let fails = |mut c: Command, wanted: &str| {
        let start = Instant::now();
        let out = c.env("SSL3D_JOIN_TIMEOUT_S", "3").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{c:?} succeeded");
        assert!(err.contains(wanted), "{c:?}: wanted {wanted:?} in: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{c:?} took {:?}",
            start.elapsed()
        );
        assert!(!err.contains("panicked"), "{err}");
    };
    // Ranks started with other settings.
    let port = free_ports(2);
    let logdir = dir.join("mismatch");
    let ranks: Vec<Child> = (0..2)
        .map(|r| {
            let mut c = as_rank(run_cmd(&data, &logdir, 2), r, 2, port);
            c.args(["--set", &format!("lr={}", 1e-3 * (r + 1) as f64)]);
            c.spawn().unwrap()
        })
        .collect();
    for rank in ranks {
        let (code, err) = ends_within(rank, Duration::from_secs(60));
        assert_ne!(code, Some(0));
        assert!(err.contains("fingerprints differ"), "{err}");
    }
    // Rank 0's port taken.
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut c = run_cmd(&data, &dir.join("taken"), 2);
    c.args([
        "--nproc",
        "2",
        "--master-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    fails(c, &format!("cannot listen on port {port}"));
    // No rank 0 at the address.
    let port = free_ports(2);
    let mut c = run_cmd(&data, &dir.join("alone"), 2);
    c.args([
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--master-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    fails(c, "cannot reach rank 0");
    // Options that make no sense.
    let mut c = run_cmd(&data, &dir.join("no_master"), 2);
    c.args(["--nnodes", "2"]);
    fails(c, "needs --master-addr");
    let mut c = run_cmd(&data, &dir.join("bad_rank"), 2);
    c.args([
        "--nnodes",
        "2",
        "--node-rank",
        "2",
        "--master-addr",
        "127.0.0.1:29500",
    ]);
    fails(c, "--node-rank 2");
    let mut c = run_cmd(&data, &dir.join("swin"), 2);
    c.args([
        "--nproc",
        "2",
        "--network",
        "swin_unetr",
        "--master-addr",
        &format!("127.0.0.1:{}", free_ports(2)),
    ]);
    fails(c, "swin_unetr's is pretrained by one process");
}

/// A CNN's restoration pretraining (DynUNet), 2 processes with 2 volumes each against 1 process
/// with 4 volumes in 2 micro-batches: every training loss and the final weights bit-identical;
/// the validation L1 to f32 rounding (its batches are one of 4 volumes, or two of 2).
#[test]
fn two_cnn_pretraining_processes_take_the_steps_of_one_with_micro_batches() {
    if !built() {
        return;
    }
    let dir = common::scratch("dp_cnn_pretrain");
    let data = synth(&dir);
    let dynunet = crate::cnn_finetune::DYNUNET.replace(
        r#""deep_supervision": true"#,
        r#""deep_supervision": false"#,
    );
    let cnn = |logdir: &Path| {
        let mut c = run_cmd(&data, logdir, 4);
        c.args(["--network", "dynunet", "--set", &dynunet]);
        c
    };
    let one = dir.join("one");
    let mut c = cnn(&one);
    c.args(["--set", "volumes_per_batch=4", "--set", "micro_batches=2"]);
    run(c);
    let two = dir.join("two");
    let mut c = cnn(&two);
    two_processes(&mut c);
    run(c);
    let fields = ["kind", "step", "epoch", "total", "recon"];
    let (a, b) = (
        common::log_fields(&one, &fields),
        common::log_fields(&two, &fields),
    );
    assert!(steps(&one).len() >= 10, "{a:?}");
    assert_eq!(
        a, b,
        "2 processes differ from 1 process with 2 micro-batches"
    );
    validations_agree(&one, &two, 1e-6);
    let net = |c: &DynUnetConfig| c.init::<Flex>(&Default::default());
    let (wa, wb) = (final_weights(&one, net), final_weights(&two, net));
    assert!(!wa.is_empty());
    assert!(wa == wb, "final weights differ");
}

/// Fine-tuning's per-step losses, validation Dice and final weights are bit-identical between
/// 2 processes with 1 volume each and 1 process with 2 volumes in 2 micro-batches: the processes
/// add the same gradients in the same order as the accumulation does. (Against 1 process taking
/// both volumes in one pass they differ by the convolutions' order of summation, which AdamW
/// amplifies in this tiny model past 1e-5 within 10 steps on one process too: docs/DISTRIBUTED.md.)
#[test]
fn two_finetuning_processes_take_the_steps_of_one_with_twice_the_batch() {
    if !built() {
        return;
    }
    let dir = common::scratch("dp_finetune");
    let data = finetune_run::synth(&dir);
    // 6 training volumes: 3 steps an epoch either way, 12 steps; validation after step 7.
    let args = ["--random-init", "--set", "eval_num=6"];
    let one = dir.join("one");
    let mut c = finetune_run::run_cmd(&data, &one, 12, &args);
    c.args(["--set", "volumes_per_batch=2", "--set", "micro_batches=2"]);
    run(c);
    let two = dir.join("two");
    let mut c = finetune_run::run_cmd(&data, &two, 12, &args);
    two_processes(&mut c);
    run(c);
    let (a, b) = (finetune_run::numbers(&one), finetune_run::numbers(&two));
    let steps = a
        .iter()
        .filter(|r| r[0].as_deref() == Some("\"step\""))
        .count();
    assert!(steps >= 10, "{steps} steps: {a:?}");
    assert!(a.iter().any(|r| r[5].is_some()), "no validation: {a:?}");
    assert_eq!(
        a, b,
        "2 processes differ from 1 process with 2 micro-batches"
    );
    let unetr = |c: &UnetrConfig| c.init::<Flex>(&Default::default());
    let (wa, wb) = (final_weights(&one, unetr), final_weights(&two, unetr));
    assert!(!wa.is_empty());
    assert!(wa == wb, "final weights differ");
    // Rank 0 alone wrote the run folder's report.
    assert!(two.join("report.json").exists());
}
