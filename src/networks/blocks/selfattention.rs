//! MONAI's `SABlock` (docs/MONAI_COMPAT.md, "TransformerBlock, SABlock and MLPBlock"): one fused
//! qkv projection without bias, features laid out as `(qkv, head, head_dim)`, softmax attention
//! with scale `head_dim^-0.5`, heads concatenated head-major, then `out_proj` with bias.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use ssl3d_kernels::attention::packed_attention;
use ssl3d_kernels::linear::linear;

#[derive(Config, Debug)]
pub struct SelfAttentionConfig {
    pub hidden_size: usize,
    pub num_heads: usize,
    #[config(default = false)]
    pub qkv_bias: bool,
}

impl SelfAttentionConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> SaBlock<B> {
        assert!(
            self.hidden_size.is_multiple_of(self.num_heads),
            "hidden_size {} must be divisible by num_heads {}",
            self.hidden_size,
            self.num_heads
        );
        SaBlock {
            qkv: LinearConfig::new(self.hidden_size, 3 * self.hidden_size)
                .with_bias(self.qkv_bias)
                .init(device),
            out_proj: LinearConfig::new(self.hidden_size, self.hidden_size).init(device),
            num_heads: self.num_heads,
        }
    }
}

#[derive(Module, Debug)]
pub struct SaBlock<B: Backend> {
    pub qkv: Linear<B>,
    pub out_proj: Linear<B>,
    pub num_heads: usize,
}

impl<B: Backend> SaBlock<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, h] = x.dims();
        // Both projections on 2-D token matrices, for the reason `token_linear` gives.
        let qkv = linear(&self.qkv, x.reshape([b * n, h]));
        let o = packed_attention(qkv, b, self.num_heads);
        linear(&self.out_proj, o).reshape([b, n, h])
    }
}
