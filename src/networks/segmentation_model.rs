//! What fine-tuning, its validation and `ssl-segment` need from a segmentation network, so one
//! training loop serves UNETR and the CNN baselines alike: the class logits, the training output
//! (several levels with deep supervision) and MONAI's state-dict layout for the exports.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::state_dict::{Arch, export_state_dict};
use super::{
    DynUnet, DynUnetConfig, SegResNet, SegResNetConfig, SwinUnetr, SwinUnetrConfig, Unetr,
    UnetrConfig,
};
use crate::error::Result;

/// Which network fine-tuning trains and `ssl-segment` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// The tutorial's UNETR (ViT encoder; self-supervised pretraining transfers into it).
    #[default]
    Unetr,
    /// MONAI's DynUNet, nnU-Net's network.
    Dynunet,
    /// MONAI's SegResNet.
    Segresnet,
    /// MONAI's SwinUNETR (Swin Transformer encoder; its self-supervised backbones transfer in).
    #[serde(rename = "swin_unetr", alias = "swin")]
    #[value(name = "swin_unetr", alias = "swin")]
    SwinUnetr,
}

impl NetworkKind {
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Unetr => "unetr",
            NetworkKind::Dynunet => "dynunet",
            NetworkKind::Segresnet => "segresnet",
            NetworkKind::SwinUnetr => "swin_unetr",
        }
    }
}

/// A segmentation network's configuration, whichever network it is.
#[derive(Debug, Clone)]
pub enum SegNetworkConfig {
    Unetr(UnetrConfig),
    DynUnet(DynUnetConfig),
    SegResNet(SegResNetConfig),
    SwinUnetr(SwinUnetrConfig),
}

impl SegNetworkConfig {
    pub fn kind(&self) -> NetworkKind {
        match self {
            SegNetworkConfig::Unetr(_) => NetworkKind::Unetr,
            SegNetworkConfig::DynUnet(_) => NetworkKind::Dynunet,
            SegNetworkConfig::SegResNet(_) => NetworkKind::Segresnet,
            SegNetworkConfig::SwinUnetr(_) => NetworkKind::SwinUnetr,
        }
    }

    /// Classes the network predicts.
    pub fn out_channels(&self) -> usize {
        match self {
            SegNetworkConfig::Unetr(c) => c.out_channels,
            SegNetworkConfig::DynUnet(c) => c.out_channels,
            SegNetworkConfig::SegResNet(c) => c.out_channels,
            SegNetworkConfig::SwinUnetr(c) => c.out_channels,
        }
    }
}

pub trait SegmentationModel<B: Backend>: Module<B> + ModuleSnapshot<B> {
    /// MONAI's key layout for this network (safetensors export, state-dict import).
    const ARCH: Arch;

    /// Class logits `(B, C, X, Y, Z)`.
    fn logits(&self, x: Tensor<B, 5>) -> Tensor<B, 5>;

    /// The training output `(B, levels, C, X, Y, Z)`: one level, or with deep supervision the
    /// logits then each head's (MONAI's stacked DynUNet output).
    fn training_levels(&self, x: Tensor<B, 5>) -> Tensor<B, 6> {
        self.logits(x).unsqueeze_dim(1)
    }

    /// The parameters under MONAI's keys, as MONAI's `state_dict()` holds them.
    fn monai_tensors(&self) -> Result<BTreeMap<String, TensorData>> {
        export_state_dict(self, Self::ARCH)
    }
}

impl<B: Backend> SegmentationModel<B> for Unetr<B> {
    const ARCH: Arch = Arch::Unetr;
    fn logits(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.forward(x)
    }
}

impl<B: Backend> SegmentationModel<B> for DynUnet<B> {
    const ARCH: Arch = Arch::DynUnet;
    fn logits(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.forward(x)
    }
    fn training_levels(&self, x: Tensor<B, 5>) -> Tensor<B, 6> {
        self.forward_supervised(x)
    }
    fn monai_tensors(&self) -> Result<BTreeMap<String, TensorData>> {
        self.monai_state_dict()
    }
}

impl<B: Backend> SegmentationModel<B> for SegResNet<B> {
    const ARCH: Arch = Arch::SegResNet;
    fn logits(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.forward(x)
    }
}

impl<B: Backend> SegmentationModel<B> for SwinUnetr<B> {
    const ARCH: Arch = Arch::SwinUnetr;
    fn logits(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.forward(x)
    }
    /// With MONAI's `relative_position_index` buffers, so MONAI loads the export strictly.
    fn monai_tensors(&self) -> Result<BTreeMap<String, TensorData>> {
        let mut tensors = export_state_dict(self, Self::ARCH)?;
        tensors.extend(self.relative_position_indices());
        Ok(tensors)
    }
}
