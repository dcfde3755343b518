//! `InstanceNorm3d(affine=True)`, the norm MONAI's DynUNet uses by default
//! (`("INSTANCE", {"affine": True})`): ssl3d's instance norm, then a learned scale and shift per
//! channel (`weight`, `bias`, as MONAI names them; initialised to 1 and 0 as PyTorch does).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::dynunet_block::instance_norm;

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
        let scale = self.weight.val().reshape([1, c, 1, 1, 1]);
        let shift = self.bias.val().reshape([1, c, 1, 1, 1]);
        instance_norm(x) * scale + shift
    }
}
