//! `metrics.jsonl` as a file of JSON lines: appended and flushed line by line, so a killed run
//! loses at most the line being written; reading skips a torn last line. Resume truncates the log
//! back to the checkpoint's step so the history never holds two versions of a step. Tools and
//! tests read it untyped from here; a run writes it typed through `run_log`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::report::records::read_log;

pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens (creating or appending to) the log.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one record and flushes it to the OS.
    pub fn write(&mut self, record: &Value) -> Result<()> {
        let line = serde_json::to_string(record).expect("records serialise") + "\n";
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Every complete record of a log (a torn last line from a crash is ignored).
pub fn read_records(path: &Path) -> Result<Vec<Value>> {
    read_log(path)
}

/// Rewrites the log with only the records `keep` accepts (atomically), e.g. those up to the step
/// a resumed run restarts from; returns them.
pub fn truncate_records(path: &Path, mut keep: impl FnMut(&Value) -> bool) -> Result<Vec<Value>> {
    let kept: Vec<Value> = read_records(path)?
        .into_iter()
        .filter(|r| keep(r))
        .collect();
    let mut text = String::new();
    for r in &kept {
        text.push_str(&serde_json::to_string(r).expect("records serialise"));
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())?;
    Ok(kept)
}
