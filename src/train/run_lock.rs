//! One run per folder: a run holds an exclusive lock on `<logdir>/.run.lock` from before it
//! writes anything until it ends (an OS lock, so a crashed or killed run releases it), and the
//! lock file says which process holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The run folder's lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `logdir` (which must exist), or says who holds it.
    pub(crate) fn acquire(logdir: &Path) -> Result<RunLock> {
        let path = logdir.join(".run.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    h => h.to_string(),
                };
                return Err(Error::InvalidArgument(format!(
                    "{} is in use by another run ({holder}); wait for it to end or choose another \
                     --logdir",
                    logdir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let holder = format!(
            "pid {}, started at {started} s since 1970",
            std::process::id()
        );
        file.set_len(0)
            .and_then(|_| file.write_all(holder.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { _file: file })
    }
}
