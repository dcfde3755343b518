//! One error type for the library, so binaries can report any failure once, readably, and map
//! bad input to exit code 2.

use std::path::PathBuf;

/// Everything that can go wrong in ssl3d. Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read at the OS level.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but its content is not what ssl3d can use (format, truncation, NaNs...).
    #[error("{path}: {problem}")]
    BadFile { path: PathBuf, problem: String },
    /// Several files a run needs are missing or unreadable; all of them are listed.
    #[error("{} file(s) cannot be used:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Files(Vec<Error>),
    /// A command-line or configuration value is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// The compute device asked for cannot be used.
    #[error("device {device}: {problem}")]
    Device { device: String, problem: String },
    /// A command that a later version provides.
    #[error("{0} is not implemented yet")]
    NotImplemented(String),
    /// Training cannot go on (a NaN or infinite loss); the last good checkpoint is kept.
    #[error("{0}")]
    Training(String),
    /// The run was stopped by Ctrl-C after writing a checkpoint it can resume from.
    #[error("{0}")]
    Interrupted(String),

    /// A data-parallel run's processes could not work together (the collective engine or the
    /// control channel failed).
    #[error("{0}")]
    Distributed(String),
}

impl Error {
    pub(crate) fn bad_file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Process exit code the binaries use: 2 for bad input (files, arguments, device), 130 after
    /// Ctrl-C (as a shell reports SIGINT), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotImplemented(_) | Error::Training(_) | Error::Distributed(_) => 1,
            Error::Interrupted(_) => 130,
            _ => 2,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
