//! ConVIRT's two towers as the reference implementation's `ModelCLR` (docs/CONVIRT.md,
//! "Networks"): the image tower is a ResNet's pooled features `h`, then `res_l1` (features →
//! features), ReLU, `res_l2` (→ `out_dim`); the text tower is BERT's attention-masked mean token,
//! then `bert_l1` (hidden → hidden), ReLU, `bert_l2` (→ `out_dim`). `freeze_layers` stops the
//! gradients of those BERT encoder layers, as the reference freezes
//! `model.encoder.layer[i]`'s parameters.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use super::bert::{BertConfig, BertModel, masked_mean};
use super::resnet::{ResNet, ResNetConfig};
use crate::error::Error;

#[derive(Config, Debug)]
pub struct ConvirtModelConfig {
    pub resnet: ResNetConfig,
    pub bert: BertConfig,
    /// Width of the shared embedding space.
    #[config(default = 512)]
    pub out_dim: usize,
    /// BERT encoder layers whose parameters are not trained.
    #[config(default = "Vec::new()")]
    pub freeze_layers: Vec<usize>,
}

impl ConvirtModelConfig {
    /// Settings that cannot work, with their reason.
    pub fn check(&self) -> crate::error::Result<()> {
        self.bert.check()?;
        if self.out_dim == 0 {
            return Err(Error::InvalidArgument("out_dim must be at least 1".into()));
        }
        if let Some(i) = self
            .freeze_layers
            .iter()
            .find(|&&i| i >= self.bert.num_hidden_layers)
        {
            return Err(Error::InvalidArgument(format!(
                "freeze_layers names BERT layer {i}, but the model has {} layers (0 … {})",
                self.bert.num_hidden_layers,
                self.bert.num_hidden_layers.saturating_sub(1)
            )));
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Convirt<B> {
        let features = self.resnet.num_features();
        let hidden = self.bert.hidden_size;
        Convirt {
            res_features: self.resnet.init(device),
            res_l1: LinearConfig::new(features, features).init(device),
            res_l2: LinearConfig::new(features, self.out_dim).init(device),
            bert_model: self.bert.init(device),
            bert_l1: LinearConfig::new(hidden, hidden).init(device),
            bert_l2: LinearConfig::new(hidden, self.out_dim).init(device),
        }
        .freeze(&self.freeze_layers)
    }
}

#[derive(Module, Debug)]
pub struct Convirt<B: Backend> {
    pub res_features: ResNet<B>,
    pub res_l1: Linear<B>,
    pub res_l2: Linear<B>,
    pub bert_model: BertModel<B>,
    pub bert_l1: Linear<B>,
    pub bert_l2: Linear<B>,
}

impl<B: Backend> Convirt<B> {
    /// Marks BERT's encoder layers `layers` as not trained (after a load, which resets it).
    pub fn freeze(mut self, layers: &[usize]) -> Self {
        let encoder = std::mem::take(&mut self.bert_model.encoder.layer);
        self.bert_model.encoder.layer = encoder
            .into_iter()
            .enumerate()
            .map(|(i, l)| if layers.contains(&i) { l.no_grad() } else { l })
            .collect();
        self
    }

    /// Images `[batch, 3, height, width]` → the pooled features `h` and the projection `z`.
    pub fn image_encoder(&self, images: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let h = self.res_features.forward(images);
        let z = self.res_l2.forward(relu(self.res_l1.forward(h.clone())));
        (h, z)
    }

    /// Tokenised reports `[batch, tokens]` → the projection of their masked mean token.
    pub fn text_encoder(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        let out = self
            .bert_model
            .forward(input_ids, token_type_ids, attention_mask.clone());
        let pooled = masked_mean(out.last_hidden_state, attention_mask);
        self.bert_l2.forward(relu(self.bert_l1.forward(pooled)))
    }
}
