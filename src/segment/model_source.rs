//! Which network `ssl-segment` applies, and how scans are prepared for it: an `ssl-finetune` run
//! folder (its best model and its effective config), or an ssl3d `.mpk` with the config beside it
//! (and, for preprocessing, `--config` or the tutorial's defaults).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::networks::native::{NativeConfig, load_native, native_config};
use crate::networks::{Unetr, UnetrConfig};
use crate::train::{FinetuneConfig, layered_config};

/// A segmentation model on disk with the settings its scans are prepared and windowed with.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// The weights (`.mpk`, its config as `<stem>.config.json` beside it).
    pub weights: PathBuf,
    pub network: UnetrConfig,
    /// Preprocessing (`transforms`) and inference (`sliding_window`) settings.
    pub run: FinetuneConfig,
}

/// The best model an `ssl-finetune` run keeps.
const BEST: &str = "best_metric_model.mpk";

impl ModelSource {
    /// `path` is a run folder or an `.mpk`; `config` (a fine-tuning config file) overrides the
    /// run's preprocessing and window settings, and gives them for a bare `.mpk`.
    pub fn open(path: &Path, config: Option<&Path>) -> Result<Self> {
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
        } else if path.extension().is_some_and(|e| e == "mpk") {
            (path.to_path_buf(), None)
        } else if !path.exists() {
            return Err(Error::bad_file(path, "not found"));
        } else {
            return Err(Error::bad_file(
                path,
                "expected an ssl-finetune run folder or an ssl3d .mpk with its .config.json",
            ));
        };
        let network = match native_config(&weights)? {
            NativeConfig::Unetr(c) => c,
            NativeConfig::VitAutoEnc(_) => {
                return Err(Error::bad_file(
                    &weights,
                    "is a pretraining ViTAutoEnc, not a segmentation UNETR: fine-tune it first \
                     (ssl-finetune --pretrained)",
                ));
            }
        };
        let file = config.map(Path::to_path_buf).or(run_config);
        let run: FinetuneConfig = layered_config(file.as_deref(), &[])?;
        if run.model.vit.img_size != network.vit.img_size
            || run.model.out_channels != network.out_channels
        {
            return Err(Error::bad_file(
                file.as_deref().unwrap_or(&weights),
                format!(
                    "describes a model for {:?} windows and {} classes, but {} is for {:?} and {}",
                    run.model.vit.img_size,
                    run.model.out_channels,
                    weights.display(),
                    network.vit.img_size,
                    network.out_channels
                ),
            ));
        }
        Ok(ModelSource {
            weights,
            network,
            run,
        })
    }

    /// The network with its weights, on `device`.
    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<Unetr<B>> {
        load_native(self.network.init::<B>(device), &self.weights, device)
    }
}
