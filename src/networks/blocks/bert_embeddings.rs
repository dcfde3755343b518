//! Hugging Face's `BertEmbeddings`: word, absolute position and token-type embeddings summed,
//! then LayerNorm and dropout. Field names are HF's, `LayerNorm` as `layer_norm`
//! (`networks::hf_names` maps them).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

#[derive(Config, Debug)]
pub struct BertEmbeddingsConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_dropout_prob: f64,
    /// HF's initialisation: normal with this deviation.
    pub initializer_range: f64,
}

impl BertEmbeddingsConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> BertEmbeddings<B> {
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, self.hidden_size)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.initializer_range,
                })
                .init(device)
        };
        BertEmbeddings {
            word_embeddings: embedding(self.vocab_size),
            position_embeddings: embedding(self.max_position_embeddings),
            token_type_embeddings: embedding(self.type_vocab_size),
            layer_norm: LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(self.hidden_dropout_prob).init(),
        }
    }
}

#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

impl<B: Backend> BertEmbeddings<B> {
    /// `input_ids`, `token_type_ids: [batch, tokens]` → `[batch, tokens, hidden]`; positions
    /// count from 0.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let [batch, tokens] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..tokens as i64, &device)
            .reshape([1, tokens])
            .expand([batch, tokens]);
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_type_ids);
        self.dropout.forward(self.layer_norm.forward(x))
    }
}
