//! `--pretrained` accepts what a user is likely to have: ssl3d's safetensors export, an ssl3d
//! native checkpoint (`.mpk` with its `.config.json`, or a `checkpoints/step-…` folder), a
//! pretraining run folder, or MONAI's `best_model.pt`. All become MONAI-named tensors, which the
//! transfer then moves in by name (a backbone into UNETR, or a CNN's restoration pretraining
//! into the same CNN).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

use super::SegmentationModel;
use super::checkpoint::{read_safetensors, read_torch_state_dict};
use super::native::{NativeConfig, load_native, native_config};
use super::state_dict::{Arch, export_state_dict};
use crate::error::{Error, Result};

/// Warns when `run` is a pretraining run folder that has not finished (checkpoints but no
/// `summary.json`): its best model is only the best so far.
fn warn_if_unfinished(run: &Path) {
    if run.join("checkpoints").is_dir() && !run.join("summary.json").exists() {
        eprintln!(
            "warning: {} is a pretraining run that has not finished (no summary.json): its best \
             model so far is used",
            run.display()
        );
    }
}

/// The file a `--pretrained` path stands for (a run folder means its best model).
pub(crate) fn pretrained_file(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        warn_if_unfinished(path);
        for candidate in [
            "best_model.safetensors",
            "best_metric_model.safetensors",
            "model.mpk",
            "best_model.mpk",
        ] {
            let p = path.join(candidate);
            if p.is_file() {
                return Ok(p);
            }
        }
        return Err(Error::bad_file(
            path,
            "a folder, but without best_model.safetensors, model.mpk or best_model.mpk",
        ));
    }
    if !path.exists() {
        return Err(Error::bad_file(path, "pretrained checkpoint not found"));
    }
    // A best model picked out of a run folder.
    if let Some(run) = path.parent() {
        warn_if_unfinished(run);
    }
    Ok(path.to_path_buf())
}

/// An ssl3d native checkpoint as MONAI-named tensors (the config beside it says which network),
/// loaded through backend `B` on `device`.
fn read_native<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<BTreeMap<String, TensorData>> {
    match native_config(path)? {
        NativeConfig::VitAutoEnc(cfg) => {
            let model = load_native(cfg.init::<B>(device), path, device)?;
            export_state_dict(&model, Arch::VitAutoEnc)
        }
        // A segmentation network's MONAI tensors as its best-model export writes them (DynUNet's
        // with MONAI's second names).
        NativeConfig::Unetr(cfg) => {
            load_native(cfg.init::<B>(device), path, device)?.monai_tensors()
        }
        NativeConfig::DynUnet(cfg) => {
            load_native(cfg.init::<B>(device), path, device)?.monai_tensors()
        }
        NativeConfig::SegResNet(cfg) => {
            load_native(cfg.init::<B>(device), path, device)?.monai_tensors()
        }
        NativeConfig::SwinUnetr(cfg) => {
            load_native(cfg.init::<B>(device), path, device)?.monai_tensors()
        }
        // The research code's keys, which the Swin transfer reads.
        NativeConfig::SwinSslHead(cfg) => {
            let model = load_native(cfg.init::<B>(device), path, device)?;
            export_state_dict(&model, Arch::SwinSslHead)
        }
    }
}

/// The tensors of a pretrained checkpoint by MONAI key, and the file they came from (an ssl3d
/// native checkpoint is loaded through backend `B` on `device`).
pub(crate) fn read_pretrained<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<(PathBuf, BTreeMap<String, TensorData>)> {
    let file = pretrained_file(path)?;
    let name = file.to_string_lossy().to_lowercase();
    let tensors = if name.ends_with(".safetensors") {
        read_safetensors(&file)?
    } else if name.ends_with(".mpk") {
        read_native::<B>(&file, device)?
    } else if name.ends_with(".pt") || name.ends_with(".pth") || name.ends_with(".bin") {
        read_torch_state_dict(&file)?
    } else {
        return Err(Error::bad_file(
            &file,
            "unknown checkpoint type: expected .safetensors, .mpk (ssl3d) or .pt/.pth (MONAI)",
        ));
    };
    Ok((file, tensors))
}
