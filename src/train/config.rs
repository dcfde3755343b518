//! Layered run configurations: the tutorial's values as defaults, a JSON file that gives only the fields
//! it changes, and `--set key.sub=value` overrides from the command line. Unknown keys are errors
//! (a typo must never silently do nothing); the effective configuration is what a run records.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::data::LoaderConfig;
use crate::error::{Error, Result};
use crate::report::config_diff::json_pointer;

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

/// Adds the dotted paths of `layer`'s leaves (under `prefix`) with their values to `out`.
fn leaves(layer: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match layer {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let path = match prefix {
                    "" => k.clone(),
                    _ => format!("{prefix}.{k}"),
                };
                leaves(v, &path, out);
            }
        }
        v => out.push((prefix.to_string(), v.clone())),
    }
}

/// Applies one `key.sub=value` override; the value is JSON when it parses as JSON, else a string.
/// Returns the leaves it set.
fn apply_set(cfg: &mut Value, set: &str) -> Result<Vec<(String, Value)>> {
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
    let mut set_leaves = Vec::new();
    leaves(&value, key.trim(), &mut set_leaves);
    *node = value;
    Ok(set_leaves)
}

/// A run configuration as the layering sees it.
pub trait RunConfig: Serialize + DeserializeOwned + Default {
    /// Dotted paths of the fields that must equal `roi_size`: they are set from it, and in a
    /// config file or `--set` they are accepted as other names for it.
    const ROI_FIELDS: &'static [&'static str];

    /// Fills what a partly given sub-object leaves out where the sub-object's own default would
    /// be wrong in this run (a CNN's `out_channels` follows the run, not the network's default);
    /// called on the layered JSON before it is read.
    fn complete(_cfg: &mut Value) {}
}

/// Gives each of `networks`' objects in `cfg` that leaves `out_channels` out the value `out`.
pub(crate) fn default_out_channels(cfg: &mut Value, networks: &[&str], out: Value) {
    for network in networks {
        if let Some(obj) = cfg.get_mut(*network).and_then(Value::as_object_mut) {
            obj.entry("out_channels").or_insert_with(|| out.clone());
        }
    }
}

/// Declares the crop size once: within the last layer (the config file, then the command line's
/// `--set`s together) that gives `roi_size` or any of its other names, every such value must agree,
/// and it becomes `roi_size` and every field derived from it; two different values are an error
/// naming both.
fn apply_roi(cfg: &mut Value, layers: &[Vec<(String, Value)>], fields: &[&str]) -> Result<()> {
    let is_roi = |path: &str| path == "roi_size" || fields.contains(&path);
    let given: Vec<&(String, Value)> = layers
        .iter()
        .rev()
        .map(|layer| layer.iter().filter(|(p, _)| is_roi(p)).collect::<Vec<_>>())
        .find(|given| !given.is_empty())
        .unwrap_or_default();
    let roi = match given.split_first() {
        None => cfg["roi_size"].clone(),
        Some(((path, value), rest)) => {
            if let Some((other, v)) = rest.iter().find(|(_, v)| v != value) {
                return Err(Error::InvalidArgument(format!(
                    "{path} = {value} but {other} = {v}: the crop size is declared once, as \
                     roi_size (the model's img_size, the crops and the sliding window follow it)"
                )));
            }
            value.clone()
        }
    };
    for path in std::iter::once(&"roi_size").chain(fields) {
        let node = path.split('.').fold(&mut *cfg, |node, key| &mut node[key]);
        *node = roi.clone();
    }
    Ok(())
}

/// Defaults, then the file (if any), then each `--set`, then the crop size from `roi_size` (or
/// its other names; the command line's over the file's), validated by deserialising.
pub fn layered_config<T: RunConfig>(file: Option<&Path>, sets: &[String]) -> Result<T> {
    let defaults = serde_json::to_value(T::default()).expect("configs serialise");
    let mut cfg = defaults.clone();
    // The leaves each layer sets: the file's, then the command line's (with the `--set` that set
    // each, to name it in an error).
    let (mut from_file, mut from_sets) = (Vec::new(), Vec::new());
    let mut set_origin = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let layer: Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not valid JSON: {e}")))?;
        if let Some(k) = unknown_key(&cfg, &layer, "") {
            return Err(Error::bad_file(path, format!("unknown config key \"{k}\"")));
        }
        leaves(&layer, "", &mut from_file);
        merge(&mut cfg, layer);
    }
    for s in sets {
        let set = apply_set(&mut cfg, s)?;
        set_origin.extend(set.iter().map(|(path, _)| (path.clone(), s.clone())));
        from_sets.extend(set);
    }
    let layers = [from_file, from_sets];
    if !T::ROI_FIELDS.is_empty() {
        apply_roi(&mut cfg, &layers, T::ROI_FIELDS)?;
    }
    T::complete(&mut cfg);
    serde_json::from_value::<T>(cfg.clone()).map_err(|e| {
        // Name the key (and the file or `--set`) the value came from: the first leaf whose
        // default makes the configuration valid again; the command line's win over the file's.
        let file_name = file.map(|f| f.display().to_string()).unwrap_or_default();
        let culprit = set_origin
            .iter()
            .rev()
            .map(|(path, set)| (path, format!("--set {set}")))
            .chain(layers[0].iter().map(|(path, _)| (path, file_name.clone())))
            .find(|(path, _)| {
                let pointer = json_pointer(path);
                let mut trial = cfg.clone();
                match (trial.pointer_mut(&pointer), defaults.pointer(&pointer)) {
                    (Some(slot), Some(default)) => *slot = default.clone(),
                    _ => return false,
                }
                serde_json::from_value::<T>(trial).is_ok()
            });
        match culprit {
            Some((path, origin)) => {
                Error::InvalidArgument(format!("{origin}: config key \"{path}\": {e}"))
            }
            None => Error::InvalidArgument(format!("invalid configuration: {e}")),
        }
    })
}

/// One crop size, declared as `roi_size`: every named size derived from it must equal it, or the
/// error names them all.
pub(crate) fn check_one_roi(roi: [usize; 3], sizes: &[(&str, [usize; 3])]) -> Result<()> {
    if sizes.iter().all(|(_, s)| *s == roi) {
        return Ok(());
    }
    let named: Vec<String> = std::iter::once(format!("roi_size {roi:?}"))
        .chain(sizes.iter().map(|(n, s)| format!("{n} {s:?}")))
        .collect();
    let (last, rest) = named.split_last().expect("roi_size at least");
    Err(Error::InvalidArgument(format!(
        "{} and {last} differ: set roi_size alone (the others follow it)",
        rest.join(", ")
    )))
}

/// A learning rate (or another setting named `key`) must be a finite number above 0.
pub(crate) fn check_positive(key: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "{key} {value} must be a finite number above 0"
        )));
    }
    Ok(())
}

/// Target voxel spacings must be finite and above 0 (a zero spacing would resample to an
/// unbounded grid, and the RAM-cache estimate with it).
pub(crate) fn check_pixdim(pixdim: [f64; 3]) -> Result<()> {
    if pixdim.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(Error::InvalidArgument(format!(
            "transforms.pixdim {pixdim:?}: each spacing must be a finite number of mm above 0"
        )));
    }
    Ok(())
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
        shard: crate::data::shard::Shard::WHOLE,
    }
}

/// Gradient accumulation's parts must share the step's volumes out evenly.
pub(crate) fn check_micro_batches(micro_batches: usize, volumes_per_batch: usize) -> Result<()> {
    if micro_batches == 0 || !volumes_per_batch.is_multiple_of(micro_batches) {
        return Err(Error::InvalidArgument(format!(
            "micro_batches {micro_batches} must divide volumes_per_batch {volumes_per_batch}: \
             each part takes the same number of volumes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::PretrainConfig;

    #[test]
    fn a_value_of_the_wrong_type_names_its_key_and_where_it_came_from() {
        let dir = std::env::temp_dir().join(format!("ssl3d-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.json");
        std::fs::write(&file, r#"{"lr": 2e-4, "max_epochs": "ten"}"#).unwrap();
        let err = layered_config::<PretrainConfig>(Some(&file), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json") && err.contains("\"max_epochs\"") && err.contains("usize"),
            "{err}"
        );
        let set = "transforms.pixdim=[1,2]".to_string();
        let err = layered_config::<PretrainConfig>(None, std::slice::from_ref(&set))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set transforms.pixdim=[1,2]")
                && err.contains("\"transforms.pixdim\"")
                && err.contains("length 2"),
            "{err}"
        );
        // A valid file and a bad `--set`: the `--set` is named, not the file.
        std::fs::write(&file, r#"{"lr": 2e-4}"#).unwrap();
        let set = "max_epochs=-1".to_string();
        let err = layered_config::<PretrainConfig>(Some(&file), std::slice::from_ref(&set))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set max_epochs=-1") && !err.contains("bad.json"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
