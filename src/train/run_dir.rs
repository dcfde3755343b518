//! The run folder's rules, shared by both training jobs: one run at a time holds it ([`RunLock`]),
//! a fresh run never starts in a folder that holds another run's outputs, and a resumed run must
//! use the configuration it started with (apart from the keys that cannot change its results,
//! such as how long to run).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::run_checkpoint::RunCheckpoints;
use super::run_identity::RunIdentity;
use super::run_lock::RunLock;
use crate::error::{Error, Result};
use crate::io::write_json_atomic;
use crate::report::config_diff::{ConfigChanges, differing_keys, json_pointer};

/// What a finished or interrupted run leaves in its folder (besides `config.json`, which a run
/// that failed its data check may leave alone).
const RUN_OUTPUTS: [&str; 10] = [
    "checkpoints",
    "metrics.jsonl",
    "best_model.safetensors",
    "best_model.mpk",
    "final_model.safetensors",
    "final_model.mpk",
    "best_metric_model.safetensors",
    "best_metric_model.mpk",
    "summary.json",
    "report.json",
];

/// Creates or checks `logdir`, takes its lock (held until the returned guard is dropped), records
/// a fresh run's `identity` (or refuses a resume with another) and writes the effective `cfg` as
/// `logdir/config.json`. Returns the lock and, for a resume, the `may_change` settings it changed.
pub(crate) fn prepare_logdir<C: Serialize>(
    cfg: &C,
    identity: &RunIdentity,
    logdir: &Path,
    resume: bool,
    may_change: &[&str],
) -> Result<(RunLock, ConfigChanges)> {
    if logdir.exists() && !logdir.is_dir() {
        return Err(Error::bad_file(logdir, "--logdir is a file, not a folder"));
    }
    std::fs::create_dir_all(logdir).map_err(|e| Error::io(logdir, e))?;
    let lock = RunLock::acquire(logdir)?;
    let saved = logdir.join("config.json");
    let has_ckpt = RunCheckpoints::new(logdir).latest()?.is_some();
    let mut changes = ConfigChanges::new();
    if resume {
        if !has_ckpt {
            return Err(Error::InvalidArgument(format!(
                "--resume: {} holds no complete checkpoint to resume from",
                logdir.display()
            )));
        }
        let text = std::fs::read_to_string(&saved).map_err(|e| Error::io(&saved, e))?;
        let old: Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(&saved, format!("not valid JSON: {e}")))?;
        let new = serde_json::to_value(cfg).expect("configs serialise");
        let (allowed, changed): (Vec<String>, Vec<String>) = differing_keys(&old, &new, "")
            .into_iter()
            .partition(|k| may_change.contains(&k.as_str()));
        for key in allowed {
            let pointer = json_pointer(&key);
            let value = |v: &Value| v.pointer(&pointer).cloned().unwrap_or(Value::Null);
            changes.insert(key, [value(&old), value(&new)]);
        }
        if !changed.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "--resume: the configuration differs from the run's saved {} in {}; a resumed run \
                 must use the same settings (only {} may change)",
                saved.display(),
                changed.join(", "),
                may_change.join(", ")
            )));
        }
        identity.check_resume(logdir)?;
    } else if has_ckpt {
        return Err(Error::InvalidArgument(format!(
            "{} already holds a run (checkpoints/): add --resume to continue it, or choose \
             another --logdir",
            logdir.display()
        )));
    } else {
        let found: Vec<&str> = RUN_OUTPUTS
            .into_iter()
            .filter(|f| logdir.join(f).exists())
            .collect();
        if !found.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} holds another run's outputs ({}): choose another --logdir (or delete them \
                 to start over)",
                logdir.display(),
                found.join(", ")
            )));
        }
    }
    if !resume {
        identity.record(logdir)?;
    }
    write_json_atomic(cfg, &saved)?;
    Ok((lock, changes))
}
