//! Which network `ssl-segment` applies, and how scans are prepared for it: an `ssl-finetune` run
//! folder (its best model and its effective config), an ssl3d `.mpk` with the config beside it
//! (and, for preprocessing, `--config` or the tutorial's defaults), or a MONAI-keyed state dict
//! (MONAI's `best_metric_model.pth`, bare, under `state_dict` or DDP's `module.`; or ssl3d's
//! safetensors export) with `--config` describing the UNETR it belongs to.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::networks::checkpoint::{read_safetensors, read_torch_state_dict};
use crate::networks::native::{NativeConfig, load_native, native_config};
use crate::networks::state_dict::load_state_dict;
use crate::networks::{SegNetworkConfig, SegmentationModel, Unetr};
use crate::train::{FinetuneConfig, layered_config};

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// ssl3d's `.mpk` with `<stem>.config.json` beside it.
    Native,
    /// MONAI's key names: a PyTorch checkpoint (`.pth`, `.pt`).
    Torch,
    /// MONAI's key names in safetensors.
    Safetensors,
}

/// A segmentation model on disk with the settings its scans are prepared and windowed with.
#[derive(Debug, Clone)]
pub struct ModelSource {
    pub weights: PathBuf,
    pub format: WeightsFormat,
    pub network: SegNetworkConfig,
    /// Preprocessing (`transforms`) and inference (`sliding_window`) settings.
    pub run: FinetuneConfig,
}

/// The best model an `ssl-finetune` run keeps.
const BEST: &str = "best_metric_model.mpk";

impl ModelSource {
    /// `path` is a run folder or an `.mpk`; `config` (a fine-tuning config file) overrides the
    /// run's preprocessing and window settings, and gives them for a bare `.mpk`.
    pub fn open(path: &Path, config: Option<&Path>) -> Result<Self> {
        if !path.exists() {
            return Err(Error::bad_file(path, "not found"));
        }
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let format = match extension.as_str() {
            _ if path.is_dir() => WeightsFormat::Native,
            "mpk" => WeightsFormat::Native,
            "pth" | "pt" => WeightsFormat::Torch,
            "safetensors" => WeightsFormat::Safetensors,
            _ => {
                return Err(Error::bad_file(
                    path,
                    "expected an ssl-finetune run folder, an ssl3d .mpk with its .config.json, or \
                     a MONAI state dict (.pth, .pt, .safetensors) with --config",
                ));
            }
        };
        if format != WeightsFormat::Native {
            // A state dict holds tensors only: the architecture and preprocessing come from the
            // fine-tuning config it was trained with.
            let Some(config) = config else {
                return Err(Error::bad_file(
                    path,
                    "a state dict holds no model settings: give --config with the fine-tuning \
                     config it was trained with (its model, transforms and sliding window)",
                ));
            };
            let run: FinetuneConfig = layered_config(Some(config), &[])?;
            return Ok(ModelSource {
                weights: path.to_path_buf(),
                format,
                network: run.network_config(),
                run,
            });
        }
        let (weights, run_config) = if path.is_dir() {
            let weights = path.join(BEST);
            if !weights.is_file() {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "holds no {BEST}: not an ssl-finetune run folder, or its validations never \
                         saved a best model"
                    ),
                ));
            }
            (weights, Some(path.join("config.json")))
        } else {
            (path.to_path_buf(), None)
        };
        let network = match native_config(&weights)? {
            NativeConfig::Unetr(c) => SegNetworkConfig::Unetr(c),
            NativeConfig::DynUnet(c) => SegNetworkConfig::DynUnet(c),
            NativeConfig::SegResNet(c) => SegNetworkConfig::SegResNet(c),
            NativeConfig::SwinUnetr(c) => SegNetworkConfig::SwinUnetr(c),
            NativeConfig::VitAutoEnc(_) | NativeConfig::SwinSslHead(_) => {
                return Err(Error::bad_file(
                    &weights,
                    "is a pretraining model (ViTAutoEnc or Swin SSL head), not a segmentation \
                     network: fine-tune it first (ssl-finetune --pretrained)",
                ));
            }
        };
        let file = config.map(Path::to_path_buf).or(run_config);
        let run: FinetuneConfig = layered_config(file.as_deref(), &[])?;
        let described = file.as_deref().unwrap_or(&weights);
        let mismatch = |what: String| {
            Err(Error::bad_file(
                described,
                format!("describes {what}, but {} is not that", weights.display()),
            ))
        };
        if file.is_some() && run.network != network.kind() {
            return mismatch(format!("a {} model", run.network.name()));
        }
        if run.transforms.num_classes != network.out_channels() {
            return mismatch(format!(
                "{} classes (its model has {})",
                run.transforms.num_classes,
                network.out_channels()
            ));
        }
        if let SegNetworkConfig::Unetr(n) = &network
            && run.model.vit.img_size != n.vit.img_size
        {
            return mismatch(format!(
                "a model for {:?} windows (the file's is for {:?})",
                run.model.vit.img_size, n.vit.img_size
            ));
        }
        Ok(ModelSource {
            weights,
            format,
            network,
            run,
        })
    }

    /// The UNETR with its weights, on `device` (an error for another network).
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<Unetr<B>> {
        let SegNetworkConfig::Unetr(c) = &self.network else {
            return Err(Error::bad_file(
                &self.weights,
                format!("is a {} model, not a UNETR", self.network.kind().name()),
            ));
        };
        self.load_into(c.init::<B>(device), device)
    }

    /// `model` (built from [`ModelSource::network`]) with the weights, on `device`. A state dict
    /// must give every parameter (MONAI's unused cross-attention and DynUNet's second names
    /// aside); a tensor of another shape is an error naming the key and both shapes.
    pub(crate) fn load_into<B: Backend, M: SegmentationModel<B>>(
        &self,
        model: M,
        device: &B::Device,
    ) -> Result<M> {
        let tensors = match self.format {
            WeightsFormat::Native => return load_native(model, &self.weights, device),
            WeightsFormat::Torch => read_torch_state_dict(&self.weights)?,
            WeightsFormat::Safetensors => read_safetensors(&self.weights)?,
        };
        let mut model = model;
        let report = load_state_dict(&mut model, M::ARCH, &tensors)
            .map_err(|e| Error::bad_file(&self.weights, e.to_string()))?;
        if !report.missing.is_empty() || !report.unexpected.is_empty() {
            return Err(Error::bad_file(
                &self.weights,
                format!(
                    "does not match the {} of --config: missing {:?}, unexpected {:?}",
                    self.network.kind().name(),
                    report.missing,
                    report.unexpected
                ),
            ));
        }
        Ok(model)
    }
}
