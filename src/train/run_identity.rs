//! What a run is run on, recorded at its start in `<logdir>/run.json` so that `--resume` cannot
//! quietly change it: the training and validation entries of the datalist (a hash of their
//! paths) and, for fine-tuning, how the model started (random, or which pretrained file, by the
//! hash of its bytes). A resume that differs is refused, naming what differs.

use std::path::Path;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::run_spec::RunSpec;
use crate::error::{Error, Result};
use crate::io::write_json_atomic;

/// The start of a run that resume must keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunIdentity {
    /// xxh3 of the training and validation entries' paths, in order.
    pub data: String,
    /// How the model started; none for pretraining.
    pub init: Option<InitIdentity>,
}

/// A fine-tuning run's start: `random`, or `pretrained` with the xxh3 of the file's bytes (the
/// file's path is kept for people; a moved file with the same bytes is the same start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitIdentity {
    pub kind: String,
    pub xxh3: Option<String>,
    pub file: Option<String>,
}

impl InitIdentity {
    fn same_start(&self, other: &InitIdentity) -> bool {
        (&self.kind, &self.xxh3) == (&other.kind, &other.xxh3)
    }

    fn describe(&self) -> String {
        match &self.file {
            Some(file) => format!("{} {file}", self.kind),
            None => self.kind.clone(),
        }
    }
}

impl RunIdentity {
    /// The identity of a run over `spec`'s data starting as `init` says.
    pub fn new(spec: &RunSpec, init: Option<InitIdentity>) -> Self {
        let entries = |items: &[crate::data::DataItem]| -> Vec<String> {
            (items.iter())
                .map(|item| {
                    let label = (item.label.as_ref())
                        .map_or(String::new(), |l| l.to_string_lossy().into_owned());
                    format!("{}\0{label}", item.image.to_string_lossy())
                })
                .collect()
        };
        Self::from_entries(&entries(&spec.train), &entries(&spec.validation), init)
    }

    /// The identity of a run over training and validation entries (one text per item, naming
    /// everything that makes it; ConVIRT's: the image path and its report).
    pub fn from_entries(
        train: &[String],
        validation: &[String],
        init: Option<InitIdentity>,
    ) -> Self {
        let mut h = Xxh3::new();
        for (split, items) in [("training", train), ("validation", validation)] {
            h.update(split.as_bytes());
            for item in items {
                h.update(item.as_bytes());
                h.update(b"\n");
            }
        }
        RunIdentity {
            data: format!("{:016x}", h.digest()),
            init,
        }
    }

    /// Records this identity in a fresh run's folder.
    pub fn record(&self, logdir: &Path) -> Result<()> {
        write_json_atomic(self, &logdir.join("run.json"))
    }

    /// Refuses to resume the run in `logdir` with another identity. A run recorded before
    /// identities were kept is resumed with a warning, and its identity recorded now.
    pub(crate) fn check_resume(&self, logdir: &Path) -> Result<()> {
        let path = logdir.join("run.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!(
                "warning: {} is missing; recording this run's data and start now",
                path.display()
            );
            return self.record(logdir);
        };
        let saved: RunIdentity = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(&path, format!("not a run identity: {e}")))?;
        let mut differs = Vec::new();
        if saved.data != self.data {
            differs.push(
                "the training or validation entries (the datalist's, or ConVIRT's pairs) differ"
                    .to_string(),
            );
        }
        let same_start = match (&saved.init, &self.init) {
            (Some(a), Some(b)) => a.same_start(b),
            (a, b) => a == b,
        };
        if !same_start {
            let show = |i: &Option<InitIdentity>| i.as_ref().map_or("-".into(), |i| i.describe());
            differs.push(format!(
                "the run started from {}, this command asks for {}",
                show(&saved.init),
                show(&self.init)
            ));
        }
        if differs.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "--resume: {}; a resumed run must keep its data and its initialisation ({})",
            differs.join("; "),
            path.display()
        )))
    }
}

/// A random start.
pub(crate) fn random_identity() -> InitIdentity {
    InitIdentity {
        kind: "random".into(),
        xxh3: None,
        file: None,
    }
}

/// A pretrained start, by the bytes of `file`.
pub(crate) fn pretrained_identity(file: &Path) -> Result<InitIdentity> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(file, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(InitIdentity {
        kind: "pretrained".into(),
        xxh3: Some(format!("{:016x}", h.digest())),
        file: Some(file.display().to_string()),
    })
}
