//! Layered run configurations: the tutorial's values as defaults, a JSON file that gives only the fields
//! it changes, and `--set key.sub=value` overrides from the command line. Unknown keys are errors
//! (a typo must never silently do nothing); the effective configuration is what a run records.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::LoaderConfig;
use crate::error::{Error, Result};

/// Where the deterministic prefix of the pipeline (load → spacing → window → crop) is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// MONAI's `Dataset`: the whole chain on every access (the SSL tutorial's choice; slow).
    None,
    /// MONAI's `CacheDataset`: in memory, refused up front beyond `ram_budget_gib`.
    Ram,
    /// MONAI's `PersistentDataset`: one file per volume, reused by later runs.
    Disk,
}

/// Caching of preprocessed volumes. Cached or not, every sample is identical: only the
/// deterministic prefix is cached, the random part runs per access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub mode: CacheKind,
    pub ram_budget_gib: f64,
    /// Folder of the disk cache; `null` means `<logdir>/cache`.
    pub dir: Option<std::path::PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            mode: CacheKind::Ram,
            ram_budget_gib: 32.0,
            dir: None,
        }
    }
}

impl CacheConfig {
    /// The dataset cache this config asks for, in run folder `logdir`.
    pub fn mode(&self, logdir: &Path) -> crate::data::CacheMode {
        match self.mode {
            CacheKind::None => crate::data::CacheMode::None,
            CacheKind::Ram => crate::data::CacheMode::Ram {
                budget_bytes: (self.ram_budget_gib * (1u64 << 30) as f64) as u64,
            },
            CacheKind::Disk => crate::data::CacheMode::Disk {
                dir: self.dir.clone().unwrap_or_else(|| logdir.join("cache")),
            },
        }
    }
}

/// Every key of `layer` must exist in `base`; returns the dotted path of the first that does not.
fn unknown_key(base: &Value, layer: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(b), Value::Object(l)) = (base, layer) else {
        return None;
    };
    for (k, v) in l {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match b.get(k) {
            None => return Some(path),
            Some(bv) => {
                if let Some(p) = unknown_key(bv, v, &path) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// Dotted paths of the leaves where `a` and `b` differ (a resumed run must use the config it
/// started with, except for the keys a caller allows to change).
pub fn differing_keys(a: &Value, b: &Value, prefix: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    differing_keys(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &path,
                    )
                })
                .collect()
        }
        _ if a == b => Vec::new(),
        _ => vec![prefix.to_string()],
    }
}

/// Deep merge of `layer` over `base` (objects merge key by key, anything else replaces).
fn merge(base: &mut Value, layer: Value) {
    match (base, layer) {
        (Value::Object(b), Value::Object(l)) => {
            for (k, v) in l {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, l) => *b = l,
    }
}

/// Applies one `key.sub=value` override; the value is JSON when it parses as JSON, else a string.
fn apply_set(cfg: &mut Value, set: &str) -> Result<()> {
    let (key, raw) = set.split_once('=').ok_or_else(|| {
        Error::InvalidArgument(format!("--set {set}: expected key=value (e.g. lr=2e-4)"))
    })?;
    let value =
        serde_json::from_str(raw.trim()).unwrap_or_else(|_| Value::String(raw.trim().into()));
    let mut node = cfg;
    let parts: Vec<&str> = key.trim().split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let obj = node.as_object_mut().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "--set {set}: \"{}\" is not a section",
                parts[..i].join(".")
            ))
        })?;
        if !obj.contains_key(*part) {
            return Err(Error::InvalidArgument(format!(
                "--set {set}: unknown config key \"{}\"",
                parts[..=i].join(".")
            )));
        }
        node = obj.get_mut(*part).unwrap();
    }
    *node = value;
    Ok(())
}

/// Defaults, then the file (if any), then each `--set`, validated by deserialising.
pub fn layered_config<T: Serialize + DeserializeOwned + Default>(
    file: Option<&Path>,
    sets: &[String],
) -> Result<T> {
    let mut cfg = serde_json::to_value(T::default()).expect("configs serialise");
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let layer: Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not valid JSON: {e}")))?;
        if let Some(k) = unknown_key(&cfg, &layer, "") {
            return Err(Error::bad_file(path, format!("unknown config key \"{k}\"")));
        }
        merge(&mut cfg, layer);
    }
    for s in sets {
        apply_set(&mut cfg, s)?;
    }
    serde_json::from_value(cfg)
        .map_err(|e| Error::InvalidArgument(format!("invalid configuration: {e}")))
}

/// Attention splits the hidden size evenly over the heads.
pub(crate) fn check_heads(hidden_size: usize, num_heads: usize) -> Result<()> {
    if num_heads == 0 || !hidden_size.is_multiple_of(num_heads) {
        return Err(Error::InvalidArgument(format!(
            "model.vit.hidden_size {hidden_size} must be divisible by num_heads {num_heads}"
        )));
    }
    Ok(())
}

/// A training loader as both tutorials use it: shuffled each epoch, the last short batch kept.
pub(crate) fn train_loader(volumes_per_batch: usize, prefetch: usize, seed: u64) -> LoaderConfig {
    LoaderConfig {
        volumes_per_batch,
        shuffle: true,
        drop_last: false,
        prefetch,
        run_seed: seed,
    }
}
