//! Shared test helpers: where the reference fixtures are, and scratch folders.
#![allow(dead_code)]

pub mod formula;

use std::path::PathBuf;

/// `$SSL3D_REFERENCE_DIR`, default `../shared/reference` next to the repository. `None` (with a
/// notice) when absent, so a user's clone without fixtures still passes `cargo test`.
pub fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SSL3D_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: reference fixtures not found at {} (set SSL3D_REFERENCE_DIR)",
            dir.display()
        );
        None
    }
}

/// The reference set's `monai/checkpoints/` folder and its description `json` (written there with
/// the checkpoints by `scripts/reference/<script>`), or `None` with a notice where the set (or
/// that generator's output) is absent.
pub fn generated_checkpoints(json: &str, script: &str) -> Option<(PathBuf, String)> {
    let dir = reference_dir()?.join("monai/checkpoints");
    match std::fs::read_to_string(dir.join(json)) {
        Ok(text) => Some((dir, text)),
        Err(_) => {
            eprintln!(
                "SKIP: {} has no {json} (scripts/reference/{script} writes it with the checkpoints)",
                dir.display()
            );
            None
        }
    }
}

/// A fresh empty scratch folder under the target directory, unique per test name.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A JSON array of non-negative integers.
pub fn usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// `|a - b| <= rel * max(|b|, 1)`: relative for large values, absolute near zero.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

/// The largest absolute difference relative to the reference's largest magnitude.
pub fn max_rel_diff(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len(), "different lengths");
    let scale = reference
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    ours.iter()
        .zip(reference)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
        / scale
}

/// Tiny synthetic CT from the `ssl-data` binary (only in tests that build it): `chest` chest
/// volumes, `labelled` + `validation` abdominal ones, under `dir/data`, datalists in `dir/json`.
pub fn synth_tiny(
    ssl_data: &str,
    dir: &std::path::Path,
    chest: usize,
    labelled: usize,
    validation: usize,
    seed: u32,
) {
    let out = std::process::Command::new(ssl_data)
        .args(["synth", "--size", "tiny"])
        .args([
            "--count",
            &chest.to_string(),
            "--labelled",
            &labelled.to_string(),
        ])
        .args([
            "--validation",
            &validation.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .arg("--out")
        .arg(dir.join("data"))
        .arg("--json-dir")
        .arg(dir.join("json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stderr of a command that must have succeeded (shown when it did not).
pub fn ok(out: std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

/// The given fields of every record of `logdir/metrics.jsonl`, as JSON text (bit-exact compare).
pub fn log_fields(logdir: &std::path::Path, keys: &[&str]) -> Vec<Vec<Option<String>>> {
    ssl3d::train::read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .map(|r| {
            keys.iter()
                .map(|k| r.get(*k).map(|v| v.to_string()))
                .collect()
        })
        .collect()
}

/// Checks a run's TensorBoard events against its `metrics.jsonl`: for each `(kind, field, tag)`,
/// the events tagged `tag` are exactly the log's `kind` records' `field` values (as f32) at their
/// `step`, in order. Returns how many events were checked.
pub fn tensorboard_matches_log(logdir: &std::path::Path, pairs: &[(&str, &str, &str)]) -> usize {
    use ssl3d::report::tensorboard::{EVENT_FILE, read_scalars};
    let events = read_scalars(&logdir.join(EVENT_FILE)).unwrap();
    let records = ssl3d::train::read_records(&logdir.join("metrics.jsonl")).unwrap();
    let mut checked = 0;
    for (kind, field, tag) in pairs {
        let from_log: Vec<(u64, f32)> = records
            .iter()
            .filter(|r| r["kind"] == *kind)
            .map(|r| {
                (
                    r["step"].as_u64().unwrap(),
                    r.pointer(field).unwrap().as_f64().unwrap() as f32,
                )
            })
            .collect();
        let from_events: Vec<(u64, f32)> = events
            .iter()
            .filter(|e| e.tag == *tag)
            .map(|e| (e.step, e.value))
            .collect();
        assert!(!from_log.is_empty(), "no {kind} records with {field}");
        assert_eq!(
            from_events, from_log,
            "TensorBoard {tag} vs metrics.jsonl {kind}.{field}"
        );
        checked += from_events.len();
    }
    checked
}
