//! MONAI's pre-norm `TransformerBlock`: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`. MONAI ≥ 1.4
//! also builds an unused cross-attention branch; ssl3d leaves it out (import ignores its keys).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::mlp::{MlpBlock, MlpConfig};
use super::selfattention::{SaBlock, SelfAttentionConfig};

#[derive(Config, Debug)]
pub struct TransformerBlockConfig {
    pub hidden_size: usize,
    pub mlp_dim: usize,
    pub num_heads: usize,
    #[config(default = false)]
    pub qkv_bias: bool,
}

impl TransformerBlockConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> TransformerBlock<B> {
        TransformerBlock {
            mlp: MlpConfig::new(self.hidden_size, self.mlp_dim).init(device),
            norm1: LayerNormConfig::new(self.hidden_size).init(device),
            attn: SelfAttentionConfig::new(self.hidden_size, self.num_heads)
                .with_qkv_bias(self.qkv_bias)
                .init(device),
            norm2: LayerNormConfig::new(self.hidden_size).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct TransformerBlock<B: Backend> {
    pub mlp: MlpBlock<B>,
    pub norm1: LayerNorm<B>,
    pub attn: SaBlock<B>,
    pub norm2: LayerNorm<B>,
}

impl<B: Backend> TransformerBlock<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        x.clone() + self.mlp.forward(self.norm2.forward(x))
    }
}
