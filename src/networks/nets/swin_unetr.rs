//! MONAI's `SwinUNETR` (Hatamizadeh et al. 2022): a Swin Transformer encoder (`swinViT`: 2³ patch
//! embedding, four stages of shifted-window attention each halving the volume, layer-normed
//! hidden states) and UNETR's convolutional decoder on its five scales. `use_v2` adds MONAI's
//! residual conv block before each stage. Keys are MONAI's, `swinViT` written `swin_vit`.

use std::collections::BTreeMap;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::networks::blocks::dynunet_block::UnetOutBlock;
use crate::networks::blocks::swin_block::{SwinStage, SwinStageSpec};
use crate::networks::blocks::unetr_block::{UnetrBasicBlock, UnetrUpBlock};
use crate::networks::blocks::window_attention::relative_position_index;

/// SwinUNETR's arguments as MONAI takes them (3-D, no dropout). Defaults: the BTCV tutorial's
/// network (feature_size 48, 14 classes, MONAI's other defaults); a JSON config may give any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwinUnetrConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Channels of the first stage (doubling at each); a multiple of 12. MONAI's default is 24,
    /// its BTCV tutorial and the published pretrained backbone use 48.
    pub feature_size: usize,
    pub depths: Vec<usize>,
    pub num_heads: Vec<usize>,
    pub window_size: [usize; 3],
    pub qkv_bias: bool,
    pub mlp_ratio: f64,
    /// Layer-norm each hidden state the decoder takes (MONAI's `normalize`).
    pub normalize: bool,
    /// Swin UNETR v2: a residual conv block before each stage.
    pub use_v2: bool,
    /// Patch merging order: `false` MONAI's `"merging"` (its default), `true` `"mergingv2"`.
    pub merging_v2: bool,
}

impl Default for SwinUnetrConfig {
    fn default() -> Self {
        SwinUnetrConfig {
            in_channels: 1,
            out_channels: 14,
            feature_size: 48,
            depths: vec![2, 2, 2, 2],
            num_heads: vec![3, 6, 12, 24],
            window_size: [7, 7, 7],
            qkv_bias: true,
            mlp_ratio: 4.0,
            normalize: true,
            use_v2: false,
            merging_v2: false,
        }
    }
}

impl Config for SwinUnetrConfig {}

with_setters!(SwinUnetrConfig {
    with_in_channels => in_channels: usize,
    with_out_channels => out_channels: usize,
    with_feature_size => feature_size: usize,
    with_depths => depths: Vec<usize>,
    with_num_heads => num_heads: Vec<usize>,
    with_window_size => window_size: [usize; 3],
    with_qkv_bias => qkv_bias: bool,
    with_mlp_ratio => mlp_ratio: f64,
    with_normalize => normalize: bool,
    with_use_v2 => use_v2: bool,
    with_merging_v2 => merging_v2: bool,
});

impl SwinUnetrConfig {
    /// The BTCV tutorial's network.
    pub fn new() -> Self {
        Self::default()
    }

    /// MONAI's checks, and that `roi` (when given) halves five times whole.
    pub fn check(&self, roi: Option<[usize; 3]>) -> crate::error::Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("swin_unetr: {m}")));
        if self.feature_size == 0 || !self.feature_size.is_multiple_of(12) {
            return bad(format!(
                "feature_size {} must be a positive multiple of 12",
                self.feature_size
            ));
        }
        if self.depths.len() != 4 || self.num_heads.len() != 4 {
            return bad("depths and num_heads need one entry per stage (4)".into());
        }
        for (i, &heads) in self.num_heads.iter().enumerate() {
            let dim = self.feature_size << i;
            if heads == 0 || !dim.is_multiple_of(heads) {
                return bad(format!(
                    "stage {i}: {dim} channels do not split into {heads} heads"
                ));
            }
        }
        if self.window_size.contains(&0) {
            return bad("window_size must be positive".into());
        }
        if let Some(roi) = roi
            && roi.iter().any(|s| !s.is_multiple_of(32))
        {
            return bad(format!(
                "the crop {roi:?} must be divisible by 32 (2⁵: the patch embedding and four \
                 mergings)"
            ));
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> SwinUnetr<B> {
        let f = self.feature_size;
        let stage = |i: usize| {
            let spec = SwinStageSpec {
                dim: f << i,
                depth: self.depths[i],
                num_heads: self.num_heads[i],
                window: self.window_size,
                mlp_ratio: self.mlp_ratio,
                qkv_bias: self.qkv_bias,
                v2_merging: self.merging_v2,
            };
            vec![SwinStage::new(&spec, device)]
        };
        let conv_stage = |i: usize| {
            if self.use_v2 {
                vec![UnetrBasicBlock::new(f << i, f << i, device)]
            } else {
                Vec::new()
            }
        };
        SwinUnetr {
            swin_vit: SwinTransformer {
                patch_embed: PatchEmbed {
                    proj: Conv3dConfig::new([self.in_channels, f], [2, 2, 2])
                        .with_stride([2, 2, 2])
                        .init(device),
                },
                layers1: stage(0),
                layers2: stage(1),
                layers3: stage(2),
                layers4: stage(3),
                layers1c: conv_stage(0),
                layers2c: conv_stage(1),
                layers3c: conv_stage(2),
                layers4c: conv_stage(3),
            },
            encoder1: UnetrBasicBlock::new(self.in_channels, f, device),
            encoder2: UnetrBasicBlock::new(f, f, device),
            encoder3: UnetrBasicBlock::new(2 * f, 2 * f, device),
            encoder4: UnetrBasicBlock::new(4 * f, 4 * f, device),
            encoder10: UnetrBasicBlock::new(16 * f, 16 * f, device),
            decoder5: UnetrUpBlock::new(16 * f, 8 * f, device),
            decoder4: UnetrUpBlock::new(8 * f, 4 * f, device),
            decoder3: UnetrUpBlock::new(4 * f, 2 * f, device),
            decoder2: UnetrUpBlock::new(2 * f, f, device),
            decoder1: UnetrUpBlock::new(f, f, device),
            out: UnetOutBlock::new(f, self.out_channels, device),
            normalize: self.normalize,
        }
    }
}

/// MONAI's `PatchEmbed`: a 2³ convolution with stride 2 (no norm: `patch_norm` is off).
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    pub proj: Conv3d<B>,
}

/// MONAI's `SwinTransformer`; each `layersN` is MONAI's one-element `ModuleList`.
#[derive(Module, Debug)]
pub struct SwinTransformer<B: Backend> {
    pub patch_embed: PatchEmbed<B>,
    pub layers1: Vec<SwinStage<B>>,
    pub layers2: Vec<SwinStage<B>>,
    pub layers3: Vec<SwinStage<B>>,
    pub layers4: Vec<SwinStage<B>>,
    /// v2's residual conv blocks (empty in v1).
    pub layers1c: Vec<UnetrBasicBlock<B>>,
    pub layers2c: Vec<UnetrBasicBlock<B>>,
    pub layers3c: Vec<UnetrBasicBlock<B>>,
    pub layers4c: Vec<UnetrBasicBlock<B>>,
}

/// MONAI's `proj_out`: layer norm over the channels without scale or shift (eps 1e-5).
fn channel_norm<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 5> {
    let (var, mean) = x.clone().var_mean_bias(1);
    (x - mean) / (var + 1e-5).sqrt()
}

impl<B: Backend> SwinTransformer<B> {
    /// MONAI's `relative_position_index` buffers under their state-dict keys (int64, as MONAI
    /// keeps them): not weights, but a strict `load_state_dict` in MONAI wants them.
    pub fn relative_position_indices(&self) -> BTreeMap<String, TensorData> {
        let stages = [&self.layers1, &self.layers2, &self.layers3, &self.layers4];
        let mut out = BTreeMap::new();
        for (i, stage) in stages.into_iter().enumerate() {
            for (j, block) in stage[0].blocks.iter().enumerate() {
                let window = block.attn.window();
                let n = window.iter().product::<usize>();
                let index: Vec<i64> = relative_position_index(window)
                    .into_iter()
                    .map(|v| v as i64)
                    .collect();
                out.insert(
                    format!(
                        "swinViT.layers{}.0.blocks.{j}.attn.relative_position_index",
                        i + 1
                    ),
                    TensorData::new(index, [n, n]),
                );
            }
        }
        out
    }

    /// The five hidden states `(B, C·2^i, X/2^(i+1), …)`, layer-normed when `normalize`.
    pub fn forward(&self, x: Tensor<B, 5>, normalize: bool) -> Vec<Tensor<B, 5>> {
        let out = |t: &Tensor<B, 5>| {
            if normalize {
                channel_norm(t.clone())
            } else {
                t.clone()
            }
        };
        let mut x = self.patch_embed.proj.forward(x);
        let mut hidden = vec![out(&x)];
        let stages = [&self.layers1, &self.layers2, &self.layers3, &self.layers4];
        let convs = [
            &self.layers1c,
            &self.layers2c,
            &self.layers3c,
            &self.layers4c,
        ];
        for (stage, conv) in stages.into_iter().zip(convs) {
            if let Some(conv) = conv.first() {
                x = conv.forward(x);
            }
            x = stage[0].forward(x);
            hidden.push(out(&x));
        }
        hidden
    }
}

#[derive(Module, Debug)]
pub struct SwinUnetr<B: Backend> {
    pub swin_vit: SwinTransformer<B>,
    pub encoder1: UnetrBasicBlock<B>,
    pub encoder2: UnetrBasicBlock<B>,
    pub encoder3: UnetrBasicBlock<B>,
    pub encoder4: UnetrBasicBlock<B>,
    pub encoder10: UnetrBasicBlock<B>,
    pub decoder5: UnetrUpBlock<B>,
    pub decoder4: UnetrUpBlock<B>,
    pub decoder3: UnetrUpBlock<B>,
    pub decoder2: UnetrUpBlock<B>,
    pub decoder1: UnetrUpBlock<B>,
    pub out: UnetOutBlock<B>,
    pub normalize: bool,
}

impl<B: Backend> SwinUnetr<B> {
    /// MONAI's `relative_position_index` buffers of the encoder under their state-dict keys.
    pub fn relative_position_indices(&self) -> BTreeMap<String, TensorData> {
        self.swin_vit.relative_position_indices()
    }

    /// Class logits `(B, out_channels, X, Y, Z)` for a crop whose sides are multiples of 32.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let h = self.swin_vit.forward(x.clone(), self.normalize);
        let enc0 = self.encoder1.forward(x);
        let enc1 = self.encoder2.forward(h[0].clone());
        let enc2 = self.encoder3.forward(h[1].clone());
        let enc3 = self.encoder4.forward(h[2].clone());
        let dec4 = self.encoder10.forward(h[4].clone());
        let dec3 = self.decoder5.forward(dec4, h[3].clone());
        let dec2 = self.decoder4.forward(dec3, enc3);
        let dec1 = self.decoder3.forward(dec2, enc2);
        let dec0 = self.decoder2.forward(dec1, enc1);
        let out = self.decoder1.forward(dec0, enc0);
        self.out.forward(out)
    }
}
