//! MONAI's `MLPBlock`: Linear → exact (erf) GELU → Linear (docs/MONAI_COMPAT.md,
//! "TransformerBlock, SABlock and MLPBlock").

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::token_linear::token_linear;
use ssl3d_kernels::gelu::gelu;

#[derive(Config, Debug)]
pub struct MlpConfig {
    pub hidden_size: usize,
    pub mlp_dim: usize,
}

impl MlpConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> MlpBlock<B> {
        MlpBlock {
            linear1: LinearConfig::new(self.hidden_size, self.mlp_dim).init(device),
            linear2: LinearConfig::new(self.mlp_dim, self.hidden_size).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct MlpBlock<B: Backend> {
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
}

impl<B: Backend> MlpBlock<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        token_linear(&self.linear2, gelu(token_linear(&self.linear1, x)))
    }
}
