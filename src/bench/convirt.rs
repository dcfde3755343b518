//! ConVIRT's training step as the reference implementation configures it: ResNet-50 on `side²`
//! RGB images, Bio_ClinicalBERT's BERT-base on one sentence per image (`TOKENS` tokens, the first
//! six layers frozen), both projection heads to 512, the loss at temperature 0.1 and
//! `alpha_weight` 0.75, Adam with weight decay 1e-6 (`scripts/bench/convirt_reference.py` times
//! the reference's `ModelCLR` the same way).

use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Int, Tensor};

use super::timing::{Times, time_steady};
use crate::losses::convirt::convirt_loss;
use crate::networks::nets::{BertConfig, Convirt, ConvirtModelConfig, ResNetConfig};

/// Tokens per report sentence in the timing (`[CLS]`, the words, `[SEP]`, padding).
pub const TOKENS: usize = 24;

/// Times forward (no gradients), forward + backward of the loss, and one Adam step.
pub fn time_convirt<B: AutodiffBackend>(
    batch: usize,
    side: usize,
    repeat: usize,
    device: &B::Device,
) -> Times {
    let bert = BertConfig {
        vocab_size: 28996,
        ..BertConfig::default()
    };
    let cfg = ConvirtModelConfig::radiograph(
        ResNetConfig::torchvision("resnet50").expect("a torchvision name"),
        bert,
    )
    .with_freeze_layers((0..6).collect());
    let mut model: Convirt<B> = cfg.init(device);
    let images = || {
        Tensor::<B, 4>::random(
            [batch, 3, side, side],
            Distribution::Normal(0.0, 1.0),
            device,
        )
    };
    let ids =
        Tensor::<B, 2, Int>::random([batch, TOKENS], Distribution::Uniform(0.0, 28996.0), device);
    let types = Tensor::<B, 2, Int>::zeros([batch, TOKENS], device);
    let mask = Tensor::<B, 2, Int>::ones([batch, TOKENS], device);
    let loss = |m: &Convirt<B>| {
        let (_, zi) = m.image_encoder(images());
        let zt = m.text_encoder(ids.clone(), types.clone(), mask.clone());
        convirt_loss(zi, zt, 0.1, 0.75).total
    };
    let sync = |t: Tensor<B, 1>| {
        let _ = t.into_data();
        let _ = B::sync(device);
    };
    let inference = model.valid();
    let forward = time_steady(repeat, || {
        let (_, zi) = inference.image_encoder(images().inner());
        let zt = inference.text_encoder(
            ids.clone().inner(),
            types.clone().inner(),
            mask.clone().inner(),
        );
        let _ = (zi.sum() + zt.sum()).into_data();
    });
    drop(inference);
    let forward_backward = time_steady(repeat, || {
        let l = loss(&model);
        drop(l.clone().backward());
        sync(l);
    });
    let mut optim = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(1e-6)))
        .init();
    let step = time_steady(repeat, || {
        let l = loss(&model);
        let grads = GradientsParams::from_grads(l.clone().backward(), &model);
        model = optim.step(1e-4, model.clone(), grads);
        sync(l);
    });
    Times {
        forward,
        forward_backward,
        step: Some(step),
        burn_forward_backward: None,
        own_backward: false,
    }
}
