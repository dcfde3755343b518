//! A run's log: its typed records in memory (for plots and reports), appended to
//! `metrics.jsonl` and to the TensorBoard event file as they happen.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::metrics_log::{MetricsLog, truncate_records};
use crate::error::{Error, Result};
use crate::report::records::Scalars;
use crate::report::tensorboard::{EVENT_FILE, EventWriter};

pub(crate) struct RunLog<R> {
    /// `metrics.jsonl` and the event file; none for a log kept in memory only.
    files: Option<(MetricsLog, EventWriter)>,
    records: Vec<R>,
}

impl<R: Serialize + DeserializeOwned + Scalars> RunLog<R> {
    /// Opens `logdir/metrics.jsonl`, keeping only its first `keep` records: those of the checkpoint
    /// a run resumes from (0 for a fresh run), so the log never holds a step twice. A log with
    /// fewer records than that is refused: the history would have a gap. The event file is
    /// written afresh from the kept records.
    pub fn open(logdir: &Path, keep: usize) -> Result<Self> {
        let path = logdir.join("metrics.jsonl");
        let gap = |found: usize| {
            Error::bad_file(
                &path,
                format!(
                    "holds {found} records, but the checkpoint being resumed was taken after \
                     {keep}: the log was shortened or deleted, and resuming would leave a gap in \
                     the run's history; restore it, or start a new run in another folder"
                ),
            )
        };
        if keep > 0 && !path.exists() {
            return Err(gap(0));
        }
        let mut kept = 0;
        let records = truncate_records(&path, |_| {
            kept += 1;
            kept <= keep
        })?
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::from_value(r).map_err(|e| {
                Error::bad_file(
                    &path,
                    format!("record {} is not one of this job's: {e}", i + 1),
                )
            })
        })
        .collect::<Result<Vec<R>>>()?;
        if records.len() < keep {
            return Err(gap(records.len()));
        }
        let mut events = EventWriter::create(&logdir.join(EVENT_FILE))?;
        for r in &records {
            events.scalars(r.step(), &r.scalars())?;
        }
        events.flush()?;
        Ok(RunLog {
            files: Some((MetricsLog::open(&path)?, events)),
            records,
        })
    }

    /// A log that writes no file (a data-parallel rank other than 0: rank 0 writes the run's).
    pub fn in_memory() -> Self {
        RunLog {
            files: None,
            records: Vec::new(),
        }
    }

    /// Appends `r` to both files and the history.
    pub fn push(&mut self, r: R) -> Result<()> {
        if let Some((jsonl, events)) = &mut self.files {
            jsonl.write(&serde_json::to_value(&r).expect("records serialise"))?;
            events.scalars(r.step(), &r.scalars())?;
            events.flush()?;
        }
        self.records.push(r);
        Ok(())
    }

    pub fn records(&self) -> &[R] {
        &self.records
    }
}
