//! How a fine-tuning network starts: every weight at its seeded random initialisation (the
//! tutorial's baseline), or with pretrained weights moved in: for UNETR a pretrained backbone
//! into `UNETR.vit`, for a CNN its restoration pretraining, all but the output layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;

use burn::tensor::backend::AutodiffBackend;

use super::run_identity::{InitIdentity, pretrained_identity, random_identity};
use crate::error::{Error, Result};
use crate::networks::checkpoint::{TransferReport, transfer_backbone};
use crate::networks::pretrained::read_pretrained;
use crate::networks::seeded_init::init_seeded;
use crate::networks::{Unetr, UnetrConfig};

/// How the network started.
#[derive(Debug, Clone)]
pub enum Init {
    /// The tutorial's baseline: every weight at its random initialisation.
    Random,
    /// Pretrained weights moved in, with the report of what was loaded.
    Pretrained {
        path: PathBuf,
        report: TransferReport,
    },
}

/// A UNETR built from `cfg`, seeded, with every weight at its random initialisation (the same
/// on every device).
pub fn init_unetr<B: AutodiffBackend>(
    cfg: &UnetrConfig,
    seed: u64,
    device: &B::Device,
) -> Result<Unetr<B>> {
    init_seeded::<B, _>(cfg, seed, device)
}

/// The UNETR a run starts from: random, or with the backbone of `pretrained` (ssl-pretrain's run
/// folder, safetensors or `.mpk`, or MONAI's `best_model.pt`).
pub fn starting_unetr<B: AutodiffBackend>(
    cfg: &UnetrConfig,
    seed: u64,
    pretrained: Option<&Path>,
    device: &B::Device,
) -> Result<(Unetr<B>, Init)> {
    let model = init_unetr::<B>(cfg, seed, device)?;
    starting_network::<B, _>(model, pretrained, transfer_backbone, device)
}

/// `model` (at its seeded initialisation) as a run starts from it: as it is, or with the weights
/// of `pretrained` (a pretraining run folder, safetensors, `.mpk` or a MONAI `.pt`) moved in by
/// `transfer`, whose report is printed and kept.
pub fn starting_network<B: AutodiffBackend, M>(
    mut model: M,
    pretrained: Option<&Path>,
    transfer: impl FnOnce(&mut M, &BTreeMap<String, TensorData>) -> Result<TransferReport>,
    device: &B::Device,
) -> Result<(M, Init)> {
    let Some(source) = pretrained else {
        return Ok((model, Init::Random));
    };
    let (file, tensors) = read_pretrained::<B::InnerBackend>(source, device)?;
    let report =
        transfer(&mut model, &tensors).map_err(|e| Error::bad_file(&file, e.to_string()))?;
    eprintln!(
        "pretrained weights from {}: {}",
        file.display(),
        report.summary()
    );
    Ok((model, Init::Pretrained { path: file, report }))
}

impl Init {
    /// `random` or `pretrained`, as reports and tables name it.
    pub fn name(&self) -> &'static str {
        match self {
            Init::Random => "random",
            Init::Pretrained { .. } => "pretrained",
        }
    }

    /// The pretrained checkpoint's path.
    pub fn source(&self) -> Option<String> {
        match self {
            Init::Random => None,
            Init::Pretrained { path, .. } => Some(path.display().to_string()),
        }
    }

    /// How the run started, for its identity (`run.json`): random, or the pretrained file by the
    /// hash of its bytes.
    pub fn identity(&self) -> Result<InitIdentity> {
        match self {
            Init::Random => Ok(random_identity()),
            Init::Pretrained { path, .. } => pretrained_identity(path),
        }
    }

    /// Pretrained tensors moved in.
    pub(crate) fn transferred(&self) -> usize {
        match self {
            Init::Random => 0,
            Init::Pretrained { report, .. } => report.loaded.len(),
        }
    }
}
