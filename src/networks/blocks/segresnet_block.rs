//! The pieces of MONAI's SegResNet (`monai.networks.blocks.segresnet_block`): group norm with a
//! learned scale and shift, the pre-activation `ResBlock` (norm → ReLU → conv, twice, plus the
//! input) and the parameter-free trilinear ×2 up-sampling (`UpSample(mode="nontrainable")`,
//! `align_corners=False`). Keys match MONAI's (`norm1.weight`, `conv1.conv.weight`, ...).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use ssl3d_kernels::affine_norm::affine_group_norm;
/// Trilinear ×2 up-sampling with `align_corners=False` (`UpSample(mode="nontrainable")`): a CPU
/// kernel with its backward, Burn's ops elsewhere.
pub(crate) use ssl3d_kernels::upsample::upsample_trilinear_2x;

use super::dynunet_block::Convolution;

/// `GroupNorm(num_groups, channels, affine=True)`: each sample's channels in `groups` groups,
/// each group to zero mean and unit (biased) variance over its channels and voxels, then a
/// per-channel scale and shift.
#[derive(Module, Debug)]
pub struct AffineGroupNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
    pub groups: usize,
}

impl<B: Backend> AffineGroupNorm<B> {
    pub fn new(groups: usize, channels: usize, device: &B::Device) -> Self {
        AffineGroupNorm {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            groups,
        }
    }

    /// On the CPU one fused kernel with its backward (`ssl3d_kernels::affine_norm`); elsewhere
    /// instance norm on the `(B, G, (C/G)·X, Y, Z)` view, then the scale and shift.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        affine_group_norm(x, self.weight.val(), self.bias.val(), self.groups)
    }
}

/// `ResBlock`: `x + conv2(relu(norm2(conv1(relu(norm1(x))))))`, 3³ convolutions without bias.
#[derive(Module, Debug)]
pub struct SegResBlock<B: Backend> {
    pub norm1: AffineGroupNorm<B>,
    pub norm2: AffineGroupNorm<B>,
    pub conv1: Convolution<B>,
    pub conv2: Convolution<B>,
}

impl<B: Backend> SegResBlock<B> {
    pub fn new(channels: usize, groups: usize, device: &B::Device) -> Self {
        SegResBlock {
            norm1: AffineGroupNorm::new(groups, channels, device),
            norm2: AffineGroupNorm::new(groups, channels, device),
            conv1: Convolution::new([channels, channels], 3, false, device),
            conv2: Convolution::new([channels, channels], 3, false, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let out = self.conv1.forward(relu(self.norm1.forward(x.clone())));
        let out = self.conv2.forward(relu(self.norm2.forward(out)));
        out + x
    }
}
