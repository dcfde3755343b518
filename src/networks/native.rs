//! ssl3d's own checkpoint format: Burn's named MessagePack record (full precision) with the
//! model's `#[derive(Config)]` saved beside it as JSON, both written atomically.

use std::path::{Path, PathBuf};

use burn::config::{Config, config_to_json};
use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use burn::tensor::backend::Backend;

use super::{
    DynUnetConfig, SegResNetConfig, SwinSslHeadConfig, SwinUnetrConfig, UnetrConfig,
    VitAutoEncConfig,
};
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

/// Burn's named MessagePack in memory: the bytes are written with `std::fs`, so a full disk is
/// reported as the OS says it ("No space left on device"), not as a MessagePack encoding error.
/// The bytes are those `NamedMpkFileRecorder` writes, so files from either load with both.
fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
}

/// Paths of a native checkpoint `name` in `dir`: `(weights .mpk, config .json)`.
pub fn native_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.mpk")),
        dir.join(format!("{name}.config.json")),
    )
}

/// `record` (`what` it is, for errors) as the bytes of the `.mpk` file `path`.
pub(crate) fn record_bytes<B: Backend, R: Record<B>>(
    record: R,
    what: &str,
    path: &Path,
) -> Result<Vec<u8>> {
    Recorder::<B>::record(&recorder(), record, ())
        .map_err(|e| Error::bad_file(path, format!("cannot encode {what}: {e}")))
}

/// The record (`what` it is, for errors) in the bytes of the `.mpk` file `path`.
pub(crate) fn record_from_bytes<B: Backend, R: Record<B>>(
    bytes: Vec<u8>,
    what: &str,
    path: &Path,
    device: &B::Device,
) -> Result<R> {
    Recorder::<B>::load(&recorder(), bytes, device)
        .map_err(|e| Error::bad_file(path, format!("cannot load {what}: {e}")))
}

/// The files of a native checkpoint: the weights' bytes and the config's JSON text.
pub(crate) fn native_bytes<B: Backend, M: Module<B>, C: Config>(
    model: M,
    config: &C,
    weights: &Path,
) -> Result<(Vec<u8>, String)> {
    let bytes = record_bytes::<B, _>(model.into_record(), "the model", weights)?;
    Ok((bytes, config_to_json(config)))
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
    let (bytes, json) = native_bytes(model, config, &weights)?;
    write_atomic(&weights, &bytes)?;
    write_atomic(&cfg, json.as_bytes())
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
    let bytes = std::fs::read(weights).map_err(|e| Error::io(weights, e))?;
    load_native_bytes(model, bytes, weights, device)
}

/// Loads the bytes of a native `.mpk` file (`weights` names it in errors) into `model`.
pub(crate) fn load_native_bytes<B: Backend, M: Module<B>>(
    model: M,
    bytes: Vec<u8>,
    weights: &Path,
    device: &B::Device,
) -> Result<M> {
    let record = record_from_bytes::<B, M::Record>(bytes, "the model", weights, device)?;
    Ok(model.load_record(record))
}

/// Reads a config saved beside a native checkpoint.
pub fn load_config<C: Config>(path: &Path) -> Result<C> {
    C::load(path).map_err(|e| Error::bad_file(path, format!("invalid model config: {e}")))
}

/// The network a native checkpoint's config describes.
#[derive(Debug)]
pub(crate) enum NativeConfig {
    VitAutoEnc(VitAutoEncConfig),
    Unetr(UnetrConfig),
    DynUnet(DynUnetConfig),
    SegResNet(SegResNetConfig),
    SwinUnetr(SwinUnetrConfig),
    SwinSslHead(SwinSslHeadConfig),
}

/// Reads the config saved beside native `weights` (`<stem>.config.json`) and says which network
/// it describes (a config that is not a ViTAutoEnc's is read as a UNETR's, whose error then says
/// what is wrong with it).
pub(crate) fn native_config(weights: &Path) -> Result<NativeConfig> {
    let config = weights.with_extension("config.json");
    if !config.is_file() {
        return Err(Error::bad_file(
            weights,
            format!("its model config {} is missing", config.display()),
        ));
    }
    // The CNNs' configs say which they are by their own keys; ViT configs have a `vit`.
    let keys = std::fs::read_to_string(&config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .unwrap_or_default();
    if keys.get("strides").is_some() {
        return Ok(NativeConfig::DynUnet(load_config(&config)?));
    }
    if keys.get("contrastive_dim").is_some() {
        return Ok(NativeConfig::SwinSslHead(load_config(&config)?));
    }
    if keys.get("window_size").is_some() {
        return Ok(NativeConfig::SwinUnetr(load_config(&config)?));
    }
    if keys.get("blocks_down").is_some() {
        return Ok(NativeConfig::SegResNet(load_config(&config)?));
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
    use crate::networks::seeded_init::init_seeded;
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
        // Seeded draws: an unseeded one would move the global generator under
        // seeded_init's test on another thread.
        let unetr_net = init_seeded::<Flex, _>(&unetr, 0, &device).unwrap();
        save_native(unetr_net, &unetr, &dir, "unetr").unwrap();
        let autoenc = VitAutoEncConfig::new(vit.with_num_layers(2)).with_deconv_chns(4);
        let autoenc_net = init_seeded::<Flex, _>(&autoenc, 0, &device).unwrap();
        save_native(autoenc_net, &autoenc, &dir, "autoenc").unwrap();
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
