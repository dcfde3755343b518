//! ConVIRT's two towers as the reference implementation's `ModelCLR` (docs/CONVIRT.md,
//! "Networks"): the image tower is a ResNet's pooled features `h`, then `res_l1` (features →
//! features), ReLU, `res_l2` (→ `out_dim`); the text tower is BERT's attention-masked mean token,
//! then `bert_l1` (hidden → hidden), ReLU, `bert_l2` (→ `out_dim`). `freeze_layers` stops the
//! gradients of those BERT encoder layers, as the reference freezes
//! `model.encoder.layer[i]`'s parameters. ssl3d's CT variant puts MONAI's 3-D ViT (`vit`, the
//! backbone UNETR takes) in the ResNet's place: its features `h` are the mean of its normed
//! tokens, and the image head keeps `ModelCLR`'s names.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use super::bert::{BertConfig, BertModel, masked_mean};
use super::resnet::{ResNet, ResNetConfig};
use super::vit::{Vit, VitConfig};
use crate::error::Error;

/// Exactly one image encoder: `resnet` (radiographs, the reference) or `vit` (CT volumes).
#[derive(Config, Debug)]
pub struct ConvirtModelConfig {
    pub resnet: Option<ResNetConfig>,
    pub vit: Option<VitConfig>,
    pub bert: BertConfig,
    /// Width of the shared embedding space.
    #[config(default = 512)]
    pub out_dim: usize,
    /// BERT encoder layers whose parameters are not trained.
    #[config(default = "Vec::new()")]
    pub freeze_layers: Vec<usize>,
}

impl ConvirtModelConfig {
    /// The reference's towers: a ResNet on radiographs and BERT.
    pub fn radiograph(resnet: ResNetConfig, bert: BertConfig) -> Self {
        ConvirtModelConfig::new(bert).with_resnet(Some(resnet))
    }

    /// ssl3d's CT towers: MONAI's 3-D ViT on volumes and BERT.
    pub fn ct(vit: VitConfig, bert: BertConfig) -> Self {
        ConvirtModelConfig::new(bert).with_vit(Some(vit))
    }

    /// Width of the image features `h`.
    fn image_features(&self) -> usize {
        match (&self.resnet, &self.vit) {
            (Some(r), _) => r.num_features(),
            (None, Some(v)) => v.hidden_size,
            (None, None) => 0,
        }
    }

    /// Settings that cannot work, with their reason.
    pub fn check(&self) -> crate::error::Result<()> {
        if self.resnet.is_some() == self.vit.is_some() {
            return Err(Error::InvalidArgument(
                "a ConVIRT model has exactly one image encoder: a ResNet (radiographs) or a ViT \
                 (CT volumes)"
                    .into(),
            ));
        }
        if let Some(vit) = &self.vit {
            let fits = (0..3).all(|d| {
                vit.patch_size[d] > 0 && vit.img_size[d].is_multiple_of(vit.patch_size[d])
            });
            if !fits || vit.num_heads == 0 || !vit.hidden_size.is_multiple_of(vit.num_heads) {
                return Err(Error::InvalidArgument(format!(
                    "the ViT's patch_size {:?} must divide its img_size {:?} and its num_heads \
                     {} its hidden_size {}",
                    vit.patch_size, vit.img_size, vit.num_heads, vit.hidden_size
                )));
            }
        }
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
        let features = self.image_features();
        let hidden = self.bert.hidden_size;
        Convirt {
            res_features: self.resnet.as_ref().map(|r| r.init(device)),
            vit: self.vit.as_ref().map(|v| v.init(device)),
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
    /// The reference's image encoder (radiographs); `None` in the CT variant.
    pub res_features: Option<ResNet<B>>,
    /// The CT variant's image encoder; `None` in the reference's.
    pub vit: Option<Vit<B>>,
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

    /// Radiographs `[batch, channels, height, width]` → the ResNet's pooled features `h` and the
    /// projection `z`. Panics on the CT variant (its config says which input it takes).
    pub fn image_encoder(&self, images: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let resnet = (self.res_features.as_ref()).expect("a radiograph model (model.resnet)");
        self.project_image(resnet.forward(images))
    }

    /// CT volumes `[batch, 1, x, y, z]` → the ViT's mean normed token `h` and the projection
    /// `z`. Panics on the radiograph model.
    pub fn volume_encoder(&self, volumes: Tensor<B, 5>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let vit = (self.vit.as_ref()).expect("a CT model (model.vit)");
        let (tokens, _) = vit.forward(volumes);
        let h = tokens.mean_dim(1).squeeze_dim::<2>(1);
        self.project_image(h)
    }

    fn project_image(&self, h: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
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
