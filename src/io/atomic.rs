//! Files that are either wholly there or not at all: written beside their final name, then
//! renamed into place, so a crash or a full disk never leaves half a report or config behind.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically; a failed write removes its temporary file and reports
/// the OS error (a full disk says "No space left on device") with the file it was writing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let renamed = write_synced(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// A sibling temporary path, unique per process and call (so concurrent writers of one file,
/// such as two runs filling a shared disk cache, never write into each other's), that keeps the
/// file's suffix (the NIfTI writer keys compression on `.nii.gz`).
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{n}-{name}", std::process::id()))
}

/// Writes `bytes` to a new file `path` and waits until they are on disk (a checkpoint must
/// survive a power cut, not only a crash).
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Writes `value` as pretty JSON (with a final newline) to `path` atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("ssl3d's records serialise") + "\n";
    write_atomic(path, text.as_bytes())
}
