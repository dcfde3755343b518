//! Checkpoints in and out: MONAI `.pt`/`.pth` files (the SSL tutorial's `best_model.pt`
//! `{"epoch", "state_dict", "optimizer"}`, bare state dicts, DDP `module.` prefixes) read through
//! burn-store without PyTorch; safetensors with MONAI's key names for PyTorch/MONAI users; and the
//! backbone transfer ViTAutoEnc → UNETR.vit with a report of what moved.

use std::collections::BTreeMap;
use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore};
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;
use serde::Serialize;

use super::native::save_native;
use super::nets::Unetr;
use super::state_dict::{Arch, LoadReport, export_state_dict, load_state_dict};
use crate::error::{Error, Result};

/// Every tensor of a MONAI/PyTorch checkpoint by its state-dict key, as f32. Finds the state dict
/// under `"state_dict"` when the file is a training checkpoint, and drops DDP's `module.` prefix.
pub fn read_torch_state_dict(path: &Path) -> Result<BTreeMap<String, TensorData>> {
    if !path.exists() {
        return Err(Error::bad_file(path, "checkpoint file not found"));
    }
    let read = |store: PytorchStore| -> Result<BTreeMap<String, TensorData>> {
        let mut store = store;
        let snaps = store.get_all_snapshots().map_err(|e| {
            Error::bad_file(path, format!("not a readable PyTorch checkpoint: {e}"))
        })?;
        snaps
            .iter()
            .map(|(k, s)| {
                let d = s
                    .to_data()
                    .map_err(|e| Error::bad_file(path, format!("tensor {k}: {e:?}")))?;
                Ok((k.clone(), d.convert::<f32>()))
            })
            .collect()
    };
    // The keys exactly as the file has them: burn-store's default renumbers `Sequential` indices
    // to close gaps (SegResNet's `conv_final.2` would read as `conv_final.1`), and MONAI's names
    // are mapped here instead.
    let store = || PytorchStore::from_file(path).map_indices_contiguous(false);
    let mut tensors = read(store())?;
    let nested = tensors.keys().any(|k| k.starts_with("state_dict."));
    if nested || tensors.is_empty() {
        tensors = read(store().with_top_level_key("state_dict"))?;
    }
    if tensors.keys().all(|k| k.starts_with("module.")) {
        tensors = tensors
            .into_iter()
            .map(|(k, v)| (k["module.".len()..].to_string(), v))
            .collect();
    }
    if tensors.is_empty() {
        return Err(Error::bad_file(path, "the checkpoint holds no tensors"));
    }
    Ok(tensors)
}

/// Saves a trained model for both worlds: Burn's record with its config (`<name>.mpk`,
/// `<name>.config.json`) and MONAI-keyed `<name>.safetensors`.
pub(crate) fn save_best_model<B: Backend, M: Module<B> + ModuleSnapshot<B>, C: Config>(
    model: M,
    config: &C,
    arch: Arch,
    dir: &Path,
    name: &str,
) -> Result<()> {
    let tensors = export_state_dict(&model, arch)?;
    save_best_model_tensors(model, config, &tensors, dir, name)
}

/// [`save_best_model`] with the MONAI-named tensors already made (DynUNet's include MONAI's
/// second names, which [`export_state_dict`] alone does not write).
pub(crate) fn save_best_model_tensors<B: Backend, M: Module<B>, C: Config>(
    model: M,
    config: &C,
    tensors: &BTreeMap<String, TensorData>,
    dir: &Path,
    name: &str,
) -> Result<()> {
    save_native(model, config, dir, name)?;
    write_safetensors(&dir.join(format!("{name}.safetensors")), tensors)
}

/// Writes MONAI-named tensors as safetensors (atomically), loadable with
/// `model.load_state_dict(safetensors.torch.load_file(f), strict=False)` in MONAI ≥ 1.4 (strict
/// loading would also want the unused cross-attention parameters ssl3d does not have). Weights
/// are f32; index buffers (SwinUNETR's `relative_position_index`) int64, as MONAI keeps them.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, TensorData>) -> Result<()> {
    let bytes: Vec<(String, safetensors::Dtype, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, d)| {
            let (dtype, b): (_, Vec<u8>) = if d.dtype == burn::tensor::DType::I64 {
                let v: Vec<i64> = d.to_vec().expect("i64 tensors");
                let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (safetensors::Dtype::I64, b)
            } else {
                let v: Vec<f32> = d.to_vec().expect("f32 tensors");
                let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (safetensors::Dtype::F32, b)
            };
            (k.clone(), dtype, b, d.shape.to_vec())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, dtype, b, s)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*dtype, s.clone(), b)
                    .expect("shape matches data"),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| Error::bad_file(path, format!("cannot encode safetensors: {e}")))?;
    crate::io::atomic::write_atomic(path, &bytes)
}

/// Reads a safetensors file into MONAI-named f32 tensors.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, TensorData>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::bad_file(path, format!("not a safetensors file: {e}")))?;
    st.tensors()
        .into_iter()
        .map(|(k, t)| {
            let v: Vec<f32> = match t.dtype() {
                safetensors::Dtype::F32 => (t.data().chunks_exact(4))
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                // Index buffers (SwinUNETR's relative_position_index): small integers.
                safetensors::Dtype::I64 => (t.data().chunks_exact(8))
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect(),
                other => {
                    return Err(Error::bad_file(
                        path,
                        format!("tensor {k}: dtype {other:?}, expected F32 (or I64 indices)"),
                    ));
                }
            };
            Ok((k, TensorData::new(v, t.shape().to_vec())))
        })
        .collect()
}

/// What moving pretrained weights into a fine-tuning network did: a ViTAutoEnc backbone into
/// UNETR.vit, or a restoration-pretrained CNN into the same CNN
/// ([`super::restoration_transfer::transfer_restoration`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransferReport {
    /// Keys loaded (UNETR's backbone as UNETR keys; a CNN's as MONAI's).
    pub loaded: Vec<String>,
    /// Source keys with no place in the model (the autoencoder's transposed convolutions, or the
    /// restoration output layer).
    pub dropped: Vec<String>,
    /// Source keys ignored on purpose (MONAI's unused cross-attention, DynUNet's second names).
    pub ignored: Vec<String>,
    /// Parameters left at their initial values (UNETR's decoder, or a CNN's output layers).
    pub left_at_init: Vec<String>,
}

impl TransferReport {
    pub fn summary(&self) -> String {
        format!(
            "{} pretrained tensors loaded, {} dropped ({}), {} ignored (unused cross-attention, \
             second names), {} left at init ({})",
            self.loaded.len(),
            self.dropped.len(),
            if self.dropped.len() > 8 {
                format!("{}, …", key_examples(&self.dropped, 8))
            } else {
                self.dropped.join(", ")
            },
            self.ignored.len(),
            self.left_at_init.len(),
            if self.left_at_init.iter().any(|k| k.starts_with("decoder")) {
                "decoder"
            } else {
                "output layers"
            }
        )
    }
}

/// A checkpoint's ViT backbone under `vit.` (UNETR's and ConVIRT-CT's place for it): a
/// ViTAutoEnc's top-level `patch_embedding.…`, `blocks.…`, `norm.…` keys moved under `vit.`,
/// `vit.…` keys as they are; and the keys left out (a decoder, heads, a text encoder).
pub(crate) fn vit_backbone(
    source: &BTreeMap<String, TensorData>,
) -> (BTreeMap<String, TensorData>, Vec<String>) {
    let (mut backbone, mut dropped) = (BTreeMap::new(), Vec::new());
    for (k, v) in source {
        if k.starts_with("vit.") {
            backbone.insert(k.clone(), v.clone());
        } else if ["patch_embedding.", "blocks.", "norm."]
            .iter()
            .any(|p| k.starts_with(p))
        {
            backbone.insert(format!("vit.{k}"), v.clone());
        } else {
            dropped.push(k.clone());
        }
    }
    (backbone, dropped)
}

/// Loads a pretrained backbone into `unetr.vit`, by name (docs/MONAI_COMPAT.md,
/// "Weight transfer"). `source` may be a
/// ViTAutoEnc state dict (keys `patch_embedding.…`, `blocks.…`, `norm.…`) or a UNETR one
/// (`vit.…`). A shape mismatch fails with the key and both shapes; a source that provides no
/// backbone weight at all is an error, not a silent random start; so is a trained backbone tensor
/// the model has no place for (only the source's decoder is dropped).
pub fn transfer_backbone<B: Backend>(
    unetr: &mut Unetr<B>,
    source: &BTreeMap<String, TensorData>,
) -> Result<TransferReport> {
    let (backbone, dropped) = vit_backbone(source);
    let mut report = TransferReport {
        dropped,
        ..TransferReport::default()
    };
    let loaded: LoadReport = load_state_dict(unetr, Arch::Unetr, &backbone)?;
    if loaded.loaded.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the pretrained checkpoint holds no ViT backbone weights (keys like patch_embedding.*, \
             blocks.*, norm.*); found: {}",
            key_examples(source.keys(), 5)
        )));
    }
    if !loaded.unexpected.is_empty() {
        return Err(Error::InvalidArgument(unplaced_backbone_message(
            &loaded.unexpected,
        )));
    }
    report.ignored = loaded.ignored;
    report.left_at_init = loaded
        .missing
        .iter()
        .filter(|k| !k.starts_with("vit."))
        .cloned()
        .collect();
    let backbone_missing: Vec<&String> = loaded
        .missing
        .iter()
        .filter(|k| k.starts_with("vit."))
        .collect();
    if !backbone_missing.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the pretrained checkpoint lacks {} backbone tensors, e.g. {}",
            backbone_missing.len(),
            backbone_missing[0]
        )));
    }
    report.loaded = loaded.loaded;
    Ok(report)
}

/// Trained backbone tensors the model has no place for mean the configs differ: a message naming
/// them and the setting that most likely differs.
fn unplaced_backbone_message(unplaced: &[String]) -> String {
    let hint = if unplaced.iter().any(|k| k.ends_with("attn.qkv.bias")) {
        "the pretraining run had query/key/value biases: set \"qkv_bias\": true in the model's \
         \"vit\" config"
    } else if unplaced.iter().any(|k| k.starts_with("vit.blocks.")) {
        "the pretraining run had more transformer blocks: set \"num_layers\" in the model's \"vit\" \
         config to the pretraining run's"
    } else {
        "the model's \"vit\" config must match the pretraining run's"
    };
    format!(
        "the pretrained checkpoint holds {} backbone tensor(s) this model has no place for, e.g. \
         {}; {hint} (a trained tensor is never dropped silently)",
        unplaced.len(),
        key_examples(unplaced, 3)
    )
}

/// The first `n` of `keys`, comma-separated, for a message that shows what a checkpoint holds.
pub(crate) fn key_examples<'a>(keys: impl IntoIterator<Item = &'a String>, n: usize) -> String {
    let first: Vec<&str> = keys.into_iter().take(n).map(String::as_str).collect();
    first.join(", ")
}

/// The model's own state dict from a MONAI checkpoint, for either network.
pub fn load_torch_checkpoint<B: Backend, M: ModuleSnapshot<B>>(
    model: &mut M,
    arch: Arch,
    path: &Path,
) -> Result<LoadReport> {
    let tensors = read_torch_state_dict(path)?;
    load_state_dict(model, arch, &tensors).map_err(|e| Error::bad_file(path, e.to_string()))
}
