//! Hugging Face's `BertModel` (absolute positions, post-LayerNorm layers, exact GELU, tanh
//! pooler on the first token) with HF's key names, configured by HF's own `config.json`, so
//! `bert-base-*` and Bio_ClinicalBERT-format weights load by name (docs/CONVIRT.md, "Networks").

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::networks::blocks::bert_embeddings::{BertEmbeddings, BertEmbeddingsConfig};
use crate::networks::blocks::bert_layer::{BertLayer, BertLayerConfig};

/// HF's `BertConfig` fields that shape the network; a `config.json`'s other keys
/// (`architectures`, `transformers_version`, …) are read past, missing ones take HF's defaults
/// (`bert-base-uncased`'s sizes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub initializer_range: f64,
    pub layer_norm_eps: f64,
    pub pad_token_id: usize,
    pub position_embedding_type: String,
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_embedding_type: "absolute".into(),
        }
    }
}

impl Config for BertConfig {}

impl BertConfig {
    /// Reads a Hugging Face `config.json`, refusing what this BERT does not compute.
    pub fn from_hf_json(path: &Path) -> crate::error::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::bad_file(path, format!("cannot read the BERT config: {e}")))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not a BERT config.json: {e}")))?;
        config
            .check()
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        Ok(config)
    }

    /// Settings this implementation cannot honour, with their reason.
    pub fn check(&self) -> crate::error::Result<()> {
        let refuse = |why: String| Err(Error::InvalidArgument(why));
        if self.hidden_act != "gelu" {
            return refuse(format!(
                "hidden_act {:?}: only \"gelu\" (exact, erf) is implemented",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return refuse(format!(
                "position_embedding_type {:?}: only \"absolute\" is implemented",
                self.position_embedding_type
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return refuse(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> BertModel<B> {
        let layer = BertLayerConfig::new(
            self.hidden_size,
            self.num_attention_heads,
            self.intermediate_size,
            self.layer_norm_eps,
            self.hidden_dropout_prob,
            self.attention_probs_dropout_prob,
            self.initializer_range,
        );
        BertModel {
            embeddings: BertEmbeddingsConfig::new(
                self.vocab_size,
                self.hidden_size,
                self.max_position_embeddings,
                self.type_vocab_size,
                self.layer_norm_eps,
                self.hidden_dropout_prob,
                self.initializer_range,
            )
            .init(device),
            encoder: BertEncoder {
                layer: (0..self.num_hidden_layers)
                    .map(|_| layer.init(device))
                    .collect(),
            },
            pooler: BertPooler {
                dense: LinearConfig::new(self.hidden_size, self.hidden_size)
                    .with_initializer(Initializer::Normal {
                        mean: 0.0,
                        std: self.initializer_range,
                    })
                    .init(device),
            },
        }
    }
}

#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    pub layer: Vec<BertLayer<B>>,
}

#[derive(Module, Debug)]
pub struct BertPooler<B: Backend> {
    pub dense: Linear<B>,
}

#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    pub encoder: BertEncoder<B>,
    pub pooler: BertPooler<B>,
}

/// HF's `last_hidden_state` `[batch, tokens, hidden]` and `pooler_output` `[batch, hidden]`.
pub struct BertOutput<B: Backend> {
    pub last_hidden_state: Tensor<B, 3>,
    pub pooler_output: Tensor<B, 2>,
}

impl<B: Backend> BertModel<B> {
    /// `input_ids`, `token_type_ids`, `attention_mask` (1 for tokens, 0 for padding):
    /// `[batch, tokens]`.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> BertOutput<B> {
        let [batch, tokens] = input_ids.dims();
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        // HF's extended mask: 0 where attended, the float's lowest value where padded.
        let mask_bias = attention_mask
            .float()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(f32::MIN)
            .reshape([batch, 1, 1, tokens]);
        for layer in &self.encoder.layer {
            x = layer.forward(x, mask_bias.clone());
        }
        let hidden = x.dims()[2];
        let first = x.clone().slice([0..batch, 0..1]).reshape([batch, hidden]);
        BertOutput {
            pooler_output: self.pooler.dense.forward(first).tanh(),
            last_hidden_state: x,
        }
    }
}

/// The attention-masked mean of the token vectors (Sentence-BERT's pooling, as ConVIRT's
/// reference): `Σ mask · tokens / max(Σ mask, 1e-9)`.
pub fn masked_mean<B: Backend>(
    tokens: Tensor<B, 3>,
    attention_mask: Tensor<B, 2, Int>,
) -> Tensor<B, 2> {
    let [batch, n, hidden] = tokens.dims();
    let mask = attention_mask.float().reshape([batch, n, 1]);
    let sum = (tokens * mask.clone()).sum_dim(1).reshape([batch, hidden]);
    let count = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
    sum / count
}
