//! The self-supervised pretraining model of Tang et al. (CVPR 2022), MONAI's research code's
//! `SSLHead`: SwinUNETR's encoder (`swinViT`) and three heads on its deepest, layer-normed hidden
//! state: a rotation classifier (4 quarter turns) on its first token, a contrastive projection
//! (512) on its second, and the "vae" reconstruction decoder (five conv 3³ → instance norm →
//! LeakyReLU → trilinear ×2 stages, then a 1³ conv) back to the input. Keys are the research
//! code's (`swinViT.…`, `rotation_head`, `contrastive_head`, `conv.0` … `conv.20`), so a
//! fine-tuning SwinUNETR takes the encoder as it takes the published backbone.

use std::collections::BTreeMap;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig3d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::swin_unetr::{SwinTransformer, SwinUnetrConfig};
use crate::error::{Error, Result};
use crate::networks::blocks::dynunet_block::instance_norm;
use crate::networks::blocks::segresnet_block::upsample_trilinear_2x;
use crate::networks::blocks::token_linear::token_linear;
use crate::transforms::swin_ssl_views::QUARTER_TURNS;

/// The pretraining model's arguments: the research code's Swin encoder (feature size 48, MONAI's
/// depths, heads and 7³ windows) and its contrastive width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwinSslHeadConfig {
    pub in_channels: usize,
    /// Channels of the first stage; the heads see 16 times as many (768 at 48).
    pub feature_size: usize,
    pub depths: Vec<usize>,
    pub num_heads: Vec<usize>,
    pub window_size: [usize; 3],
    /// Width of the contrastive projection (the research code's 512).
    pub contrastive_dim: usize,
}

impl Default for SwinSslHeadConfig {
    fn default() -> Self {
        SwinSslHeadConfig {
            in_channels: 1,
            feature_size: 48,
            depths: vec![2, 2, 2, 2],
            num_heads: vec![3, 6, 12, 24],
            window_size: [7, 7, 7],
            contrastive_dim: 512,
        }
    }
}

impl Config for SwinSslHeadConfig {}

with_setters!(SwinSslHeadConfig {
    with_in_channels => in_channels: usize,
    with_feature_size => feature_size: usize,
    with_depths => depths: Vec<usize>,
    with_num_heads => num_heads: Vec<usize>,
    with_window_size => window_size: [usize; 3],
    with_contrastive_dim => contrastive_dim: usize,
});

impl SwinSslHeadConfig {
    /// The research code's model.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SwinUNETR whose encoder this pretrains (v1, MONAI's merging, as the research code's).
    pub fn swin_unetr(&self, out_channels: usize) -> SwinUnetrConfig {
        SwinUnetrConfig::new()
            .with_in_channels(self.in_channels)
            .with_out_channels(out_channels)
            .with_feature_size(self.feature_size)
            .with_depths(self.depths.clone())
            .with_num_heads(self.num_heads.clone())
            .with_window_size(self.window_size)
    }

    /// The encoder's checks, and a crop the heads can use: sides divisible by 32 and at least
    /// two tokens at the deepest stage (the rotation and contrastive heads take one each).
    pub fn check(&self, roi: [usize; 3]) -> Result<()> {
        self.swin_unetr(1).check(Some(roi))?;
        if roi.iter().map(|s| s / 32).product::<usize>() < 2 || self.contrastive_dim == 0 {
            return Err(Error::InvalidArgument(format!(
                "swin_ssl: the crop {roi:?} leaves fewer than 2 tokens at the deepest stage (one \
                 side of at least 64 is needed), or contrastive_dim is 0"
            )));
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> SwinSslHead<B> {
        let dim = 16 * self.feature_size;
        let swin_vit = self.swin_unetr(1).init::<B>(device).swin_vit;
        let conv3 = |c: [usize; 2]| {
            Conv3dConfig::new(c, [3; 3])
                .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                .init(device)
        };
        let widths = [dim, dim / 2, dim / 4, dim / 8, dim / 16, dim / 16];
        let mut conv: Vec<Conv3d<B>> = widths.windows(2).map(|w| conv3([w[0], w[1]])).collect();
        conv.push(Conv3dConfig::new([dim / 16, self.in_channels], [1; 3]).init(device));
        SwinSslHead {
            swin_vit,
            rotation_head: LinearConfig::new(dim, QUARTER_TURNS).init(device),
            contrastive_head: LinearConfig::new(dim, self.contrastive_dim).init(device),
            conv,
        }
    }
}

#[derive(Module, Debug)]
pub struct SwinSslHead<B: Backend> {
    pub swin_vit: SwinTransformer<B>,
    pub rotation_head: Linear<B>,
    pub contrastive_head: Linear<B>,
    /// The reconstruction decoder's convolutions, the research code's `Sequential` positions
    /// 0, 4, …, 20 (`state_dict` maps them).
    pub conv: Vec<Conv3d<B>>,
}

/// What the heads give for a batch.
pub struct SslHeadOutput<B: Backend> {
    /// Rotation logits `(B, 4)`.
    pub rotation: Tensor<B, 2>,
    /// Contrastive projections `(B, contrastive_dim)`.
    pub contrastive: Tensor<B, 2>,
    /// The reconstruction, the input's shape.
    pub reconstruction: Tensor<B, 5>,
}

impl<B: Backend> SwinSslHead<B> {
    pub fn forward(&self, x: Tensor<B, 5>) -> SslHeadOutput<B> {
        let deepest = (self.swin_vit.forward(x, true).pop()).expect("five hidden states");
        let [b, c, x, y, z] = deepest.dims();
        let tokens = deepest.clone().reshape([b, c, x * y * z]).swap_dims(1, 2);
        let token = |i: usize| tokens.clone().narrow(1, i, 1);
        let rotation = token_linear(&self.rotation_head, token(0)).squeeze_dim::<2>(1);
        let contrastive = token_linear(&self.contrastive_head, token(1)).squeeze_dim::<2>(1);
        let last = self.conv.len() - 1;
        let mut y = deepest;
        for conv in &self.conv[..last] {
            y = ssl3d_kernels::conv::conv3d(conv, y);
            y = upsample_trilinear_2x(leaky_relu(instance_norm(y), 0.01));
        }
        SslHeadOutput {
            rotation,
            contrastive,
            reconstruction: ssl3d_kernels::conv::conv3d(&self.conv[last], y),
        }
    }

    /// MONAI's `relative_position_index` buffers of the encoder, under the research code's keys.
    pub fn relative_position_indices(&self) -> BTreeMap<String, TensorData> {
        self.swin_vit.relative_position_indices()
    }
}
