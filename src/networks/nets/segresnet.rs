//! MONAI's `SegResNet` (docs/MONAI_COMPAT.md, "SegResNet"): a residual encoder (a 3³ stem, then per
//! level a stride-2 convolution doubling the channels and pre-activation `ResBlock`s with group
//! norm), a light decoder (1×1 convolution halving the channels, trilinear ×2 up-sampling, the
//! encoder's level added, `ResBlock`s) and a norm → ReLU → 1×1 head. Keys are MONAI's; its
//! `Sequential` positions (`down_layers.i.0` the stride-2 conv, `down_layers.i.k` the k-th block,
//! `up_samples.i.0`, `conv_final.0`/`.2`, and `convInit`) are named fields here, mapped in `state_dict`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::networks::blocks::dynunet_block::Convolution;
use crate::networks::blocks::segresnet_block::{
    AffineGroupNorm, SegResBlock, upsample_trilinear_2x,
};

/// SegResNet's arguments as MONAI takes them (3-D, ReLU, group norm, non-trainable up-sampling).
/// Defaults: MONAI's blocks and groups at 16 initial filters (its tutorials' width), 14 classes;
/// a JSON config may give any subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegResNetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub init_filters: usize,
    /// `norm=("GROUP", {"num_groups": N})`.
    pub norm_groups: usize,
    pub blocks_down: Vec<usize>,
    pub blocks_up: Vec<usize>,
    /// Dropout after the stem while training (MONAI's `dropout_prob`; off by default).
    pub dropout_prob: Option<f64>,
}

impl Default for SegResNetConfig {
    fn default() -> Self {
        SegResNetConfig {
            in_channels: 1,
            out_channels: 14,
            init_filters: 16,
            norm_groups: 8,
            blocks_down: vec![1, 2, 2, 4],
            blocks_up: vec![1, 1, 1],
            dropout_prob: None,
        }
    }
}

impl Config for SegResNetConfig {}

with_setters!(SegResNetConfig {
    with_in_channels => in_channels: usize,
    with_out_channels => out_channels: usize,
    with_init_filters => init_filters: usize,
    with_norm_groups => norm_groups: usize,
    with_blocks_down => blocks_down: Vec<usize>,
    with_blocks_up => blocks_up: Vec<usize>,
    with_dropout_prob => dropout_prob: Option<f64>,
});

impl SegResNetConfig {
    /// MONAI's defaults at 16 filters and 14 classes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses settings MONAI would fail on later (or silently mis-shape), and crops the
    /// encoder cannot halve `blocks_down − 1` times.
    pub fn check(&self, roi: Option<[usize; 3]>) -> crate::error::Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("segresnet: {m}")));
        let levels = self.blocks_down.len();
        if levels == 0 || self.blocks_up.len() + 1 != levels {
            return bad(format!(
                "blocks_up ({}) needs one entry fewer than blocks_down ({levels}, at least 1)",
                self.blocks_up.len()
            ));
        }
        if self.init_filters == 0 || self.in_channels == 0 || self.out_channels == 0 {
            return bad("channel counts must be positive".into());
        }
        if self.norm_groups == 0 || !self.init_filters.is_multiple_of(self.norm_groups) {
            return bad(format!(
                "init_filters {} must be a multiple of norm_groups {} (group norm splits the \
                 channels evenly)",
                self.init_filters, self.norm_groups
            ));
        }
        if let Some(p) = self.dropout_prob.filter(|p| !(0.0..1.0).contains(p)) {
            return bad(format!("dropout_prob {p} must be in [0, 1)"));
        }
        if let Some(roi) = roi {
            let total = 1usize << (levels - 1);
            if roi.iter().any(|s| !s.is_multiple_of(total)) {
                return bad(format!(
                    "the crop {roi:?} is not divisible by {total} (the encoder halves it {} \
                     times; the decoder's sums need the sizes to match)",
                    levels - 1
                ));
            }
        }
        Ok(())
    }

    /// The network; [`SegResNetConfig::check`] first (this panics on settings it refuses).
    pub fn init<B: Backend>(&self, device: &B::Device) -> SegResNet<B> {
        if let Err(e) = self.check(None) {
            panic!("{e}");
        }
        let f = self.init_filters;
        let g = self.norm_groups;
        let n_up = self.blocks_up.len();
        SegResNet {
            conv_init: Convolution::new([self.in_channels, f], 3, false, device),
            dropout: self.dropout_prob.map(|p| DropoutConfig::new(p).init()),
            down_layers: self
                .blocks_down
                .iter()
                .enumerate()
                .map(|(i, &blocks)| {
                    let c = f << i;
                    SegResDown {
                        pre_conv: (i > 0)
                            .then(|| Convolution::strided([c / 2, c], 3, 2, false, device)),
                        blocks: (0..blocks)
                            .map(|_| SegResBlock::new(c, g, device))
                            .collect(),
                    }
                })
                .collect(),
            up_layers: self
                .blocks_up
                .iter()
                .enumerate()
                .map(|(i, &blocks)| {
                    let c = (f << (n_up - i)) / 2;
                    (0..blocks)
                        .map(|_| SegResBlock::new(c, g, device))
                        .collect()
                })
                .collect(),
            up_samples: (0..n_up)
                .map(|i| {
                    let c = f << (n_up - i);
                    SegResUpSample {
                        conv: Convolution::new([c, c / 2], 1, false, device),
                    }
                })
                .collect(),
            conv_final: SegResHead {
                norm: AffineGroupNorm::new(g, f, device),
                conv: Convolution::new([f, self.out_channels], 1, true, device),
            },
        }
    }
}

/// One encoder level: the stride-2 convolution (not on the first level), then its blocks.
#[derive(Module, Debug)]
pub struct SegResDown<B: Backend> {
    pub pre_conv: Option<Convolution<B>>,
    pub blocks: Vec<SegResBlock<B>>,
}

/// The 1×1 convolution before each ×2 up-sampling.
#[derive(Module, Debug)]
pub struct SegResUpSample<B: Backend> {
    pub conv: Convolution<B>,
}

/// `conv_final`: norm → ReLU → 1×1 convolution with bias.
#[derive(Module, Debug)]
pub struct SegResHead<B: Backend> {
    pub norm: AffineGroupNorm<B>,
    pub conv: Convolution<B>,
}

#[derive(Module, Debug)]
pub struct SegResNet<B: Backend> {
    /// The 3³ stem (MONAI's `convInit`).
    pub conv_init: Convolution<B>,
    pub dropout: Option<Dropout>,
    pub down_layers: Vec<SegResDown<B>>,
    pub up_layers: Vec<Vec<SegResBlock<B>>>,
    pub up_samples: Vec<SegResUpSample<B>>,
    pub conv_final: SegResHead<B>,
}

impl<B: Backend> SegResNet<B> {
    /// Class logits `(B, out_channels, X, Y, Z)`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let mut x = self.conv_init.forward(x);
        if let Some(d) = &self.dropout {
            x = d.forward(x);
        }
        let mut levels = Vec::with_capacity(self.down_layers.len());
        for down in &self.down_layers {
            if let Some(c) = &down.pre_conv {
                x = c.forward(x);
            }
            for block in &down.blocks {
                x = block.forward(x);
            }
            levels.push(x.clone());
        }
        levels.pop();
        for (up, blocks) in self.up_samples.iter().zip(&self.up_layers) {
            let skip = levels.pop().expect("one encoder level per up-sampling");
            x = upsample_trilinear_2x(up.conv.forward(x)) + skip;
            for block in blocks {
                x = block.forward(x);
            }
        }
        let head = &self.conv_final;
        head.conv.forward(relu(head.norm.forward(x)))
    }
}
