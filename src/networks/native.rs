//! ssl3d's own checkpoint format: Burn's named MessagePack record (full precision) with the
//! model's `#[derive(Config)]` saved beside it as JSON, both written atomically.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;

use crate::error::{Error, Result};

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

/// Paths of a native checkpoint `name` in `dir`: `(weights .mpk, config .json)`.
pub fn native_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.mpk")),
        dir.join(format!("{name}.config.json")),
    )
}

/// Saves `model` and its `config` as `dir/name.mpk` and `dir/name.config.json`. Each file is
/// written under a temporary name and renamed, so a crash leaves the previous checkpoint intact.
pub fn save_native<B: Backend, M: Module<B>, C: Config>(
    model: M,
    config: &C,
    dir: &Path,
    name: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (weights, cfg) = native_paths(dir, name);
    let tmp_stem = dir.join(format!(".tmp-{name}"));
    model
        .save_file(&tmp_stem, &recorder())
        .map_err(|e| Error::bad_file(&weights, format!("cannot save the model: {e}")))?;
    std::fs::rename(tmp_stem.with_extension("mpk"), &weights)
        .map_err(|e| Error::io(&weights, e))?;
    let tmp_cfg = dir.join(format!(".tmp-{name}.config.json"));
    config.save(&tmp_cfg).map_err(|e| Error::io(&cfg, e))?;
    std::fs::rename(&tmp_cfg, &cfg).map_err(|e| Error::io(&cfg, e))
}

/// Loads weights saved by [`save_native`] into `model` (built from the saved config).
pub fn load_native<B: Backend, M: Module<B>>(
    model: M,
    weights: &Path,
    device: &B::Device,
) -> Result<M> {
    if !weights.exists() {
        return Err(Error::bad_file(weights, "checkpoint file not found"));
    }
    model
        .load_file(weights.with_extension(""), &recorder(), device)
        .map_err(|e| Error::bad_file(weights, format!("cannot load the model: {e}")))
}

/// Reads a config saved beside a native checkpoint.
pub fn load_config<C: Config>(path: &Path) -> Result<C> {
    C::load(path).map_err(|e| Error::bad_file(path, format!("invalid model config: {e}")))
}
