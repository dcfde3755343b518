//! MONAI's `DynUNet`, nnU-Net's network (docs/MONAI_COMPAT.md, "DynUNet"): an encoder of conv blocks whose
//! strides halve the image level by level, a bottleneck, a decoder of transposed convolutions with
//! skips, and 1×1×1 heads: the output, and with deep supervision one per decoder level below the
//! top (`deep_supr_num` of them) during training. Instance norm with a learned scale and shift,
//! LeakyReLU(0.01); basic or residual blocks. Keys are MONAI's (`input_block`, `downsamples.N`,
//! `bottleneck`, `upsamples.N`, `output_block`, `deep_supervision_heads.N`).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::networks::blocks::dynunet_block::UnetOutBlock;
use crate::networks::blocks::dynunet_conv_block::{DynUnetConvBlock, DynUnetUpBlock};
use crate::networks::state_dict::{Arch, export_state_dict};

/// DynUNet's arguments as MONAI takes them (3-D; kernels, strides and up-sampling kernels per
/// level and axis). `filters` empty means MONAI's default, `min(2^(5+i), 320)`. In a JSON config
/// only the three per-level lists are required; the rest default as in MONAI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynUnetConfig {
    #[serde(default = "one")]
    pub in_channels: usize,
    #[serde(default = "btcv_classes")]
    pub out_channels: usize,
    pub kernel_size: Vec<[usize; 3]>,
    pub strides: Vec<[usize; 3]>,
    pub upsample_kernel_size: Vec<[usize; 3]>,
    #[serde(default)]
    pub filters: Vec<usize>,
    #[serde(default)]
    pub res_block: bool,
    #[serde(default)]
    pub deep_supervision: bool,
    #[serde(default = "one")]
    pub deep_supr_num: usize,
    #[serde(default)]
    pub trans_bias: bool,
}

fn one() -> usize {
    1
}

fn btcv_classes() -> usize {
    14
}

impl Config for DynUnetConfig {}

with_setters!(DynUnetConfig {
    with_in_channels => in_channels: usize,
    with_out_channels => out_channels: usize,
    with_filters => filters: Vec<usize>,
    with_res_block => res_block: bool,
    with_deep_supervision => deep_supervision: bool,
    with_deep_supr_num => deep_supr_num: usize,
    with_trans_bias => trans_bias: bool,
});

impl DynUnetConfig {
    /// MONAI's defaults around the three per-level lists.
    pub fn new(
        kernel_size: Vec<[usize; 3]>,
        strides: Vec<[usize; 3]>,
        upsample_kernel_size: Vec<[usize; 3]>,
    ) -> Self {
        DynUnetConfig {
            in_channels: 1,
            out_channels: 14,
            kernel_size,
            strides,
            upsample_kernel_size,
            filters: Vec::new(),
            res_block: false,
            deep_supervision: false,
            deep_supr_num: 1,
            trans_bias: false,
        }
    }

    /// nnU-Net's planning rule for crops of `roi`: halve an axis while it stays at least 4 voxels
    /// (96 → 6: four halvings), 3³ kernels, filters 32 doubling up to 320, residual blocks off
    /// (nnU-Net's plain U-Net), deep supervision off (see `deep_supervision`).
    pub fn nnunet_plan(roi: [usize; 3], out_channels: usize) -> Self {
        let mut size = roi;
        let mut strides = vec![[1; 3]];
        loop {
            let stride: [usize; 3] = std::array::from_fn(|d| {
                if size[d].is_multiple_of(2) && size[d] / 2 >= 4 {
                    2
                } else {
                    1
                }
            });
            if stride == [1; 3] || strides.len() >= 6 {
                break;
            }
            size = std::array::from_fn(|d| size[d] / stride[d]);
            strides.push(stride);
        }
        let levels = strides.len();
        DynUnetConfig::new(vec![[3; 3]; levels], strides.clone(), strides[1..].to_vec())
            .with_out_channels(out_channels)
    }

    /// The filters per level: the configured ones (their first `levels`), or MONAI's default.
    pub fn level_filters(&self) -> Vec<usize> {
        let levels = self.strides.len();
        if self.filters.is_empty() {
            (0..levels).map(|i| (32usize << i).min(320)).collect()
        } else {
            self.filters.iter().copied().take(levels).collect()
        }
    }

    /// MONAI's checks, and that `roi` (when given) survives every stride whole; run before any
    /// training so a bad setting is refused with its reason.
    pub fn check(&self, roi: Option<[usize; 3]>) -> crate::error::Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("dynunet: {m}")));
        let levels = self.strides.len();
        if levels < 3 || self.kernel_size.len() != levels {
            return bad(format!(
                "kernel_size ({}) and strides ({levels}) need the same length, at least 3",
                self.kernel_size.len()
            ));
        }
        if self.upsample_kernel_size.len() != levels - 1 {
            return bad(format!(
                "upsample_kernel_size needs one entry per up-sampling ({}), found {}",
                levels - 1,
                self.upsample_kernel_size.len()
            ));
        }
        if !self.filters.is_empty() && self.filters.len() < levels {
            return bad(format!(
                "filters ({}) must cover every level ({levels})",
                self.filters.len()
            ));
        }
        if self.level_filters().contains(&0) || self.in_channels == 0 || self.out_channels == 0 {
            return bad("channel counts must be positive".into());
        }
        for (i, (k, s)) in self.kernel_size.iter().zip(&self.strides).enumerate() {
            if k.iter().chain(s).any(|&v| v == 0) || k.iter().zip(s).any(|(k, s)| k + 1 < *s) {
                return bad(format!(
                    "level {i}: kernel {k:?} with stride {s:?} (MONAI's padding (k − s + 1)/2 \
                     would be negative; kernels and strides must be positive)"
                ));
            }
        }
        for (i, (up, s)) in self
            .upsample_kernel_size
            .iter()
            .zip(&self.strides[1..])
            .enumerate()
        {
            if up != s {
                return bad(format!(
                    "upsample_kernel_size[{i}] {up:?} must equal strides[{}] {s:?} to undo it",
                    i + 1
                ));
            }
        }
        if self.deep_supervision && !(1..levels - 1).contains(&self.deep_supr_num) {
            return bad(format!(
                "deep_supr_num {} must be at least 1 and below the number of up-samplings ({})",
                self.deep_supr_num,
                levels - 1
            ));
        }
        if let Some(roi) = roi {
            let total: [usize; 3] =
                std::array::from_fn(|d| self.strides.iter().map(|s| s[d]).product());
            if (0..3).any(|d| !roi[d].is_multiple_of(total[d])) {
                return bad(format!(
                    "the crop {roi:?} is not divisible by the strides' product {total:?}: the \
                     skips would not line up with the up-sampled levels"
                ));
            }
        }
        Ok(())
    }

    /// The network; [`DynUnetConfig::check`] first (this panics on settings it refuses).
    pub fn init<B: Backend>(&self, device: &B::Device) -> DynUnet<B> {
        if let Err(e) = self.check(None) {
            panic!("{e}");
        }
        let f = self.level_filters();
        let n = f.len();
        let k = &self.kernel_size;
        let s = &self.strides;
        let block = |i: usize, o: usize, level: usize| {
            DynUnetConvBlock::new([i, o], k[level], s[level], self.res_block, device)
        };
        DynUnet {
            input_block: block(self.in_channels, f[0], 0),
            downsamples: (1..n - 1).map(|l| block(f[l - 1], f[l], l)).collect(),
            bottleneck: block(f[n - 2], f[n - 1], n - 1),
            // Deepest first, as MONAI lists them.
            upsamples: (1..n)
                .rev()
                .map(|l| {
                    DynUnetUpBlock::new(
                        [f[l], f[l - 1]],
                        k[l],
                        self.upsample_kernel_size[l - 1],
                        self.trans_bias,
                        device,
                    )
                })
                .collect(),
            output_block: UnetOutBlock::new(f[0], self.out_channels, device),
            deep_supervision_heads: if self.deep_supervision {
                (1..=self.deep_supr_num)
                    .map(|l| UnetOutBlock::new(f[l], self.out_channels, device))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

#[derive(Module, Debug)]
pub struct DynUnet<B: Backend> {
    pub input_block: DynUnetConvBlock<B>,
    pub downsamples: Vec<DynUnetConvBlock<B>>,
    pub bottleneck: DynUnetConvBlock<B>,
    pub upsamples: Vec<DynUnetUpBlock<B>>,
    pub output_block: UnetOutBlock<B>,
    pub deep_supervision_heads: Vec<UnetOutBlock<B>>,
}

impl<B: Backend> DynUnet<B> {
    /// MONAI's second names for the blocks (`skip_layers.…` prefix → own prefix): its recursive
    /// `DynUNetSkipLayer` holds every block again, so its state dict lists each tensor twice
    /// and a strict `load_state_dict` wants both.
    pub(crate) fn monai_aliases(&self) -> Vec<(String, String)> {
        let levels = self.downsamples.len() + 2;
        let mut aliases = Vec::new();
        for level in 0..levels - 1 {
            let prefix = format!("skip_layers.{}", "next_layer.".repeat(level));
            let down = match level {
                0 => "input_block".to_string(),
                l => format!("downsamples.{}", l - 1),
            };
            aliases.push((format!("{prefix}downsample"), down));
            aliases.push((
                format!("{prefix}upsample"),
                format!("upsamples.{}", levels - 2 - level),
            ));
            if (1..=self.deep_supervision_heads.len()).contains(&level) {
                aliases.push((
                    format!("{prefix}super_head"),
                    format!("deep_supervision_heads.{}", level - 1),
                ));
            }
        }
        aliases.push((
            format!("skip_layers.{}", "next_layer.".repeat(levels - 1))
                .trim_end_matches('.')
                .to_string(),
            "bottleneck".into(),
        ));
        aliases
    }

    /// The parameters as MONAI's `DynUNet.state_dict()` holds them: own names and their
    /// `skip_layers.…` second names, so MONAI loads it strictly.
    pub fn monai_state_dict(
        &self,
    ) -> crate::error::Result<std::collections::BTreeMap<String, TensorData>> {
        let mut tensors = export_state_dict(self, Arch::DynUnet)?;
        let aliases = self.monai_aliases();
        let copies: Vec<(String, TensorData)> = tensors
            .iter()
            .flat_map(|(key, data)| {
                aliases.iter().filter_map(move |(alias, own)| {
                    key.strip_prefix(own.as_str())
                        .filter(|rest| rest.starts_with('.'))
                        .map(|rest| (format!("{alias}{rest}"), data.clone()))
                })
            })
            .collect();
        tensors.extend(copies);
        Ok(tensors)
    }

    /// Class logits `(B, out_channels, X, Y, Z)` (MONAI's eval-mode output).
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.forward_levels(x, false).0
    }

    /// MONAI's training-mode output with deep supervision: `(B, 1 + deep_supr_num, C, X, Y, Z)`,
    /// the output then each head's logits resized to it by nearest neighbour. Without deep
    /// supervision, the logits with a level axis of one.
    pub fn forward_supervised(&self, x: Tensor<B, 5>) -> Tensor<B, 6> {
        let (out, heads) = self.forward_levels(x, true);
        let size = [out.dims()[2], out.dims()[3], out.dims()[4]];
        let mut all = vec![out.unsqueeze_dim::<6>(1)];
        all.extend(
            heads
                .into_iter()
                .map(|h| nearest_resize(h, size).unsqueeze_dim::<6>(1)),
        );
        Tensor::cat(all, 1)
    }

    /// The output logits and, when `heads`, the deep-supervision heads' logits (top first).
    fn forward_levels(&self, x: Tensor<B, 5>, heads: bool) -> (Tensor<B, 5>, Vec<Tensor<B, 5>>) {
        let mut x = self.input_block.forward(x);
        let mut skips = vec![x.clone()];
        for down in &self.downsamples {
            x = down.forward(x);
            skips.push(x.clone());
        }
        x = self.bottleneck.forward(x);
        let mut head_out = vec![None; self.deep_supervision_heads.len()];
        for (up, level) in self.upsamples.iter().zip((0..skips.len()).rev()) {
            x = up.forward(x, skips[level].clone());
            if heads && level >= 1 && level <= head_out.len() {
                head_out[level - 1] =
                    Some(self.deep_supervision_heads[level - 1].forward(x.clone()));
            }
        }
        let out = self.output_block.forward(x);
        (out, head_out.into_iter().flatten().collect())
    }
}

/// `torch.nn.functional.interpolate(x, size, mode="nearest")`: source index
/// `min(floor(i · in / out), in − 1)` per axis, in f32 as PyTorch computes it.
fn nearest_resize<B: Backend>(x: Tensor<B, 5>, size: [usize; 3]) -> Tensor<B, 5> {
    let device = x.device();
    let mut x = x;
    for (d, &out) in size.iter().enumerate() {
        let input = x.dims()[2 + d];
        if input == out {
            continue;
        }
        let scale = input as f32 / out as f32;
        let index: Vec<i64> = (0..out)
            .map(|i| ((i as f32 * scale).floor() as usize).min(input - 1) as i64)
            .collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [out]), &device);
        x = x.select(2 + d, index);
    }
    x
}
