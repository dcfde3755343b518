//! The run folder's rules, shared by both training jobs: a fresh run never overwrites one that
//! holds checkpoints, and a resumed run must use the configuration it started with (apart from
//! the keys that cannot change its results, such as how long to run).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::config::differing_keys;
use super::run_checkpoint::RunCheckpoints;
use crate::error::{Error, Result};
use crate::io::write_json_atomic;

/// Creates or checks `logdir` and writes the effective `cfg` as `logdir/config.json`.
pub fn prepare_logdir<C: Serialize>(
    cfg: &C,
    logdir: &Path,
    resume: bool,
    may_change: &[&str],
) -> Result<()> {
    std::fs::create_dir_all(logdir).map_err(|e| Error::io(logdir, e))?;
    let saved = logdir.join("config.json");
    let has_ckpt = RunCheckpoints::new(logdir).latest()?.is_some();
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
        let changed: Vec<String> = differing_keys(&old, &new, "")
            .into_iter()
            .filter(|k| !may_change.contains(&k.as_str()))
            .collect();
        if !changed.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "--resume: the configuration differs from the run's saved {} in {}; a resumed run \
                 must use the same settings (only {} may change)",
                saved.display(),
                changed.join(", "),
                may_change.join(", ")
            )));
        }
    } else if has_ckpt {
        return Err(Error::InvalidArgument(format!(
            "{} already holds a run (checkpoints/): add --resume to continue it, or choose \
             another --logdir",
            logdir.display()
        )));
    }
    write_json_atomic(cfg, &saved)
}
