//! Where a dataset keeps the preprocessed volumes (the deterministic prefix of a pipeline: load →
//! spacing → window → crop). Cached or not, every sample is identical: only that prefix is
//! cached, the random part runs per access. In a run config it reads
//! `{"mode": "none" | "ram" | "disk", "ram_budget_gib": 32.0, "dir": null}`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where preprocessed volumes are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CacheFields", into = "CacheFields")]
pub enum CacheMode {
    /// MONAI's `Dataset`: the whole chain on every access (the SSL tutorial's choice; slow).
    None,
    /// MONAI's `CacheDataset`: in memory, refused up front beyond `budget_bytes`.
    Ram { budget_bytes: u64 },
    /// MONAI's `PersistentDataset`: one file per volume under `dir`, reused across runs; `None`
    /// means the run folder's `cache/` ([`CacheMode::in_run_folder`]).
    Disk { dir: Option<PathBuf> },
}

/// The RAM cache's default budget.
const DEFAULT_RAM_BUDGET_GIB: f64 = 32.0;

impl Default for CacheMode {
    fn default() -> Self {
        CacheMode::Ram {
            budget_bytes: (DEFAULT_RAM_BUDGET_GIB * GIB) as u64,
        }
    }
}

impl CacheMode {
    /// This mode with a disk cache's unset folder placed in run folder `logdir`.
    pub fn in_run_folder(&self, logdir: &Path) -> CacheMode {
        match self {
            CacheMode::Disk { dir: None } => CacheMode::Disk {
                dir: Some(logdir.join("cache")),
            },
            other => other.clone(),
        }
    }
}

const GIB: f64 = (1u64 << 30) as f64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    None,
    Ram,
    Disk,
}

/// The config file's form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CacheFields {
    mode: Kind,
    ram_budget_gib: f64,
    /// Folder of the disk cache; `null` means `<logdir>/cache`.
    dir: Option<PathBuf>,
}

impl Default for CacheFields {
    fn default() -> Self {
        CacheMode::default().into()
    }
}

impl TryFrom<CacheFields> for CacheMode {
    type Error = String;

    /// A RAM budget that is not a positive number of GiB is refused (a zero budget would only
    /// fail later, with a message about needing more than 0.0 GiB).
    fn try_from(f: CacheFields) -> Result<Self, String> {
        Ok(match f.mode {
            Kind::None => CacheMode::None,
            Kind::Ram if !(f.ram_budget_gib.is_finite() && f.ram_budget_gib > 0.0) => {
                return Err(format!(
                    "cache.ram_budget_gib {} must be a finite number of GiB above 0",
                    f.ram_budget_gib
                ));
            }
            Kind::Ram => CacheMode::Ram {
                budget_bytes: (f.ram_budget_gib * GIB) as u64,
            },
            Kind::Disk => CacheMode::Disk { dir: f.dir },
        })
    }
}

impl From<CacheMode> for CacheFields {
    fn from(m: CacheMode) -> Self {
        let default_budget = DEFAULT_RAM_BUDGET_GIB;
        match m {
            CacheMode::None => CacheFields {
                mode: Kind::None,
                ram_budget_gib: default_budget,
                dir: None,
            },
            CacheMode::Ram { budget_bytes } => CacheFields {
                mode: Kind::Ram,
                ram_budget_gib: budget_bytes as f64 / GIB,
                dir: None,
            },
            CacheMode::Disk { dir } => CacheFields {
                mode: Kind::Disk,
                ram_budget_gib: default_budget,
                dir,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_config_form() {
        let m: CacheMode =
            serde_json::from_str(r#"{"mode": "ram", "ram_budget_gib": 2.5}"#).unwrap();
        assert_eq!(
            m,
            CacheMode::Ram {
                budget_bytes: 5 << 29
            }
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"mode": "ram", "ram_budget_gib": 2.5, "dir": null})
        );
        let d: CacheMode = serde_json::from_str(r#"{"mode": "disk"}"#).unwrap();
        assert_eq!(
            d.in_run_folder(Path::new("/run")),
            CacheMode::Disk {
                dir: Some(PathBuf::from("/run/cache"))
            }
        );
        let err = serde_json::from_str::<CacheMode>(r#"{"mode": "ram", "budget": 1}"#);
        assert!(err.unwrap_err().to_string().contains("budget"));
        let default = serde_json::to_value(CacheMode::default()).unwrap();
        assert_eq!(default["ram_budget_gib"], 32.0);
    }
}
