//! Hugging Face's `BertLayer`, post-LayerNorm: self-attention (separate `query`, `key`, `value`
//! projections with bias, scale `head_dim^-½`, the padding mask added to the scores as HF's
//! `(1 − mask) · float32::MIN`), `attention.output` (dense, dropout, residual, LayerNorm), then
//! `intermediate` (dense, exact GELU) and `output` (dense, dropout, residual, LayerNorm). Field
//! names are HF's, `self` as `self_attn` and `LayerNorm` as `layer_norm`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;

use super::token_linear::token_linear;
use ssl3d_kernels::gelu::gelu;

#[derive(Config, Debug)]
pub struct BertLayerConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub initializer_range: f64,
}

impl BertLayerConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> BertLayer<B> {
        let h = self.hidden_size;
        let linear = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.initializer_range,
                })
                .init(device)
        };
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let dropout = || DropoutConfig::new(self.hidden_dropout_prob).init();
        BertLayer {
            attention: BertAttention {
                self_attn: BertSelfAttention {
                    query: linear(h, h),
                    key: linear(h, h),
                    value: linear(h, h),
                    dropout: DropoutConfig::new(self.attention_probs_dropout_prob).init(),
                    num_heads: self.num_attention_heads,
                },
                output: BertResidualOutput {
                    dense: linear(h, h),
                    layer_norm: norm(),
                    dropout: dropout(),
                },
            },
            intermediate: BertIntermediate {
                dense: linear(h, self.intermediate_size),
            },
            output: BertResidualOutput {
                dense: linear(self.intermediate_size, h),
                layer_norm: norm(),
                dropout: dropout(),
            },
        }
    }
}

#[derive(Module, Debug)]
pub struct BertSelfAttention<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub dropout: Dropout,
    pub num_heads: usize,
}

impl<B: Backend> BertSelfAttention<B> {
    /// `x: [batch, tokens, hidden]`, `mask_bias: [batch, 1, 1, tokens]` (0 or float32::MIN).
    pub fn forward(&self, x: Tensor<B, 3>, mask_bias: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, n, h] = x.dims();
        let (heads, dh) = (self.num_heads, h / self.num_heads);
        let split = |t: Tensor<B, 3>| t.reshape([b, n, heads, dh]).swap_dims(1, 2);
        let q = split(token_linear(&self.query, x.clone()));
        let k = split(token_linear(&self.key, x.clone()));
        let v = split(token_linear(&self.value, x));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt()) + mask_bias;
        let probs = self.dropout.forward(softmax(scores, 3));
        probs.matmul(v).swap_dims(1, 2).reshape([b, n, h])
    }
}

/// HF's `BertSelfOutput` and `BertOutput` (the same maths): dense, dropout, residual, LayerNorm.
#[derive(Module, Debug)]
pub struct BertResidualOutput<B: Backend> {
    pub dense: Linear<B>,
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

impl<B: Backend> BertResidualOutput<B> {
    pub fn forward(&self, x: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        self.layer_norm
            .forward(self.dropout.forward(token_linear(&self.dense, x)) + residual)
    }
}

#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    pub self_attn: BertSelfAttention<B>,
    pub output: BertResidualOutput<B>,
}

#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    pub dense: Linear<B>,
}

#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    pub intermediate: BertIntermediate<B>,
    pub output: BertResidualOutput<B>,
}

impl<B: Backend> BertLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>, mask_bias: Tensor<B, 4>) -> Tensor<B, 3> {
        let attended = self.attention.self_attn.forward(x.clone(), mask_bias);
        let a = self.attention.output.forward(attended, x);
        let inner = gelu(token_linear(&self.intermediate.dense, a.clone()));
        self.output.forward(inner, a)
    }
}
