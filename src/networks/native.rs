//! ssl3d's own checkpoint format: Burn's named MessagePack record (full precision) with the
//! model's `#[derive(Config)]` saved beside it as JSON, both written atomically.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;

use super::{UnetrConfig, VitAutoEncConfig};
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

/// The network a native checkpoint's config describes.
#[derive(Debug)]
pub enum NativeConfig {
    VitAutoEnc(VitAutoEncConfig),
    Unetr(UnetrConfig),
}

/// Reads the config saved beside native `weights` (`<stem>.config.json`) and says which network
/// it describes (a config that is not a ViTAutoEnc's is read as a UNETR's, whose error then says
/// what is wrong with it).
pub fn native_config(weights: &Path) -> Result<NativeConfig> {
    let config = weights.with_extension("config.json");
    if !config.is_file() {
        return Err(Error::bad_file(
            weights,
            format!("its model config {} is missing", config.display()),
        ));
    }
    if let Ok(cfg) = load_config::<VitAutoEncConfig>(&config) {
        return Ok(NativeConfig::VitAutoEnc(cfg));
    }
    Ok(NativeConfig::Unetr(load_config(&config)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::VitConfig;
    use burn::backend::Flex;

    #[test]
    fn the_config_beside_a_checkpoint_says_which_network_it_is() {
        let dir = std::env::temp_dir().join(format!("ssl3d-native-{}", std::process::id()));
        let vit = VitConfig::new()
            .with_img_size([16; 3])
            .with_hidden_size(12)
            .with_mlp_dim(24)
            .with_num_heads(3);
        let device = Default::default();
        let unetr = UnetrConfig::new(vit.clone()).with_feature_size(4);
        save_native(unetr.init::<Flex>(&device), &unetr, &dir, "unetr").unwrap();
        let autoenc = VitAutoEncConfig::new(vit.with_num_layers(2)).with_deconv_chns(4);
        save_native(autoenc.init::<Flex>(&device), &autoenc, &dir, "autoenc").unwrap();
        let got = native_config(&dir.join("unetr.mpk")).unwrap();
        assert!(matches!(got, NativeConfig::Unetr(c) if c.feature_size == 4));
        let got = native_config(&dir.join("autoenc.mpk")).unwrap();
        assert!(matches!(got, NativeConfig::VitAutoEnc(c) if c.deconv_chns == 4));
        let err = native_config(&dir.join("missing.mpk"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.mpk") && err.contains("is missing"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
