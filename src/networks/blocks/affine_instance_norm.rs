//! `InstanceNorm3d(affine=True)`, the norm MONAI's DynUNet uses by default
//! (`("INSTANCE", {"affine": True})`): ssl3d's instance norm, then a learned scale and shift per
//! channel (`weight`, `bias`, as MONAI names them; initialised to 1 and 0 as PyTorch does). On
//! the CPU one fused kernel (`ssl3d_kernels::affine_norm`) with one group per channel.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use ssl3d_kernels::affine_norm::affine_group_norm;

#[derive(Module, Debug)]
pub struct AffineInstanceNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> AffineInstanceNorm<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        AffineInstanceNorm {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let c = self.weight.dims()[0];
        affine_group_norm(x, self.weight.val(), self.bias.val(), c)
    }
}
