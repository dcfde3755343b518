//! ConVIRT's training step (docs/CONVIRT.md, "Training"): both towers on the batch, the loss
//! (`losses::convirt`), one Adam step with PyTorch's coupled weight decay, as the reference's
//! `torch.optim.Adam(params, lr, weight_decay)`; frozen BERT layers get no gradient and stay as
//! they are. The rate follows the reference's schedule (`reference_lr`).

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};

use super::batch_tensors::{array_to_tensor, scalar};
use super::driver::{Trainer, refuse_non_finite};
use crate::data::report_pair_dataset::{PairImages, ReportPairBatch};
use crate::error::Result;
use crate::losses::convirt::{ConvirtLoss, convirt_loss};
use crate::networks::nets::Convirt;
use crate::report::records::ConvirtLosses;
use crate::text::TokenBatch;

pub(crate) type ConvirtOptimizer<B> = OptimizerAdaptor<Adam, Convirt<B>, B>;
pub(crate) type ConvirtOptimizerRecord<B> =
    <ConvirtOptimizer<B> as Optimizer<Convirt<B>, B>>::Record;

/// The reference's rate in (0-based) `epoch`: `CosineAnnealingLR(T_max = batches per epoch,
/// eta_min = 0)` stepped once after each epoch from the tenth on, so the rate stays at `base`
/// for ten epochs, then follows a cosine over `batches_per_epoch` epochs (and back up after).
pub fn reference_lr(base: f64, epoch: u64, batches_per_epoch: u64) -> f64 {
    let k = epoch.saturating_sub(10) as f64;
    let t_max = batches_per_epoch.max(1) as f64;
    base * (1.0 + (std::f64::consts::PI * k / t_max).cos()) / 2.0
}

/// The image tower on radiographs `[B, C, H, W]` or CT volumes `[B, 1, X, Y, Z]`: the encoder's
/// features `h` and the projection `z`.
pub fn embed_images<B: Backend>(
    model: &Convirt<B>,
    images: &PairImages,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    match images {
        PairImages::Radiographs(x) => model.image_encoder(array_to_tensor(x, device)),
        PairImages::Volumes(x) => model.volume_encoder(array_to_tensor(x, device)),
    }
}

/// The text tower's projections of tokenised texts, `[B, out_dim]`.
pub fn embed_texts<B: Backend>(
    model: &Convirt<B>,
    t: &TokenBatch,
    device: &B::Device,
) -> Tensor<B, 2> {
    let ints = |v: &[i64]| {
        Tensor::<B, 2, Int>::from_data(TensorData::new(v.to_vec(), [t.batch, t.tokens]), device)
    };
    model.text_encoder(
        ints(&t.input_ids),
        ints(&t.token_type_ids),
        ints(&t.attention_mask),
    )
}

/// Both towers' projections of images and tokenised texts: `(image, text)`, each
/// `[B, out_dim]`.
pub fn embed<B: Backend>(
    model: &Convirt<B>,
    images: &PairImages,
    t: &TokenBatch,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let (_, zi) = embed_images(model, images, device);
    (zi, embed_texts(model, t, device))
}

/// ConVIRT's loss of `model` on `batch` (either mode: pass the inner model to evaluate).
pub fn convirt_batch_loss<B: Backend>(
    model: &Convirt<B>,
    batch: &ReportPairBatch,
    temperature: f64,
    alpha_weight: f64,
    device: &B::Device,
) -> ConvirtLoss<B> {
    let (zi, zt) = embed(model, &batch.images, &batch.tokens, device);
    convirt_loss(zi, zt, temperature, alpha_weight)
}

/// The loss's three numbers.
pub fn losses_of<B: Backend>(loss: &ConvirtLoss<B>) -> ConvirtLosses {
    ConvirtLosses {
        total: scalar(loss.total.clone()),
        image_to_text: scalar(loss.image_to_text.clone()),
        text_to_image: scalar(loss.text_to_image.clone()),
    }
}

pub struct ConvirtTrainer<B: AutodiffBackend> {
    pub model: Convirt<B>,
    optim: ConvirtOptimizer<B>,
    base_lr: f64,
    batches_per_epoch: u64,
    done: u64,
    temperature: f64,
    alpha_weight: f64,
    freeze_layers: Vec<usize>,
    device: B::Device,
}

/// What the trainer needs besides the model.
#[derive(Debug, Clone)]
pub struct ConvirtTraining {
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub temperature: f64,
    pub alpha_weight: f64,
    pub batches_per_epoch: u64,
    /// BERT layers kept frozen (again after a checkpoint is restored): the model config's
    /// `freeze_layers`, which froze them at init.
    pub freeze_layers: Vec<usize>,
}

impl<B: AutodiffBackend> ConvirtTrainer<B> {
    pub fn new(model: Convirt<B>, t: ConvirtTraining, device: &B::Device) -> Self {
        let optim = AdamConfig::new()
            .with_weight_decay(
                (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32)),
            )
            .init();
        ConvirtTrainer {
            model: model.freeze(&t.freeze_layers),
            optim,
            base_lr: t.learning_rate,
            batches_per_epoch: t.batches_per_epoch,
            done: 0,
            temperature: t.temperature,
            alpha_weight: t.alpha_weight,
            freeze_layers: t.freeze_layers,
            device: device.clone(),
        }
    }

    /// Where the model computes.
    pub fn device(&self) -> &B::Device {
        &self.device
    }
}

impl<B: AutodiffBackend> Trainer<B> for ConvirtTrainer<B> {
    type Model = Convirt<B>;
    type OptimizerRecord = ConvirtOptimizerRecord<B>;
    type Batch = ReportPairBatch;
    type Losses = ConvirtLosses;

    fn step(&mut self, batch: &ReportPairBatch) -> Result<ConvirtLosses> {
        let loss = convirt_batch_loss(
            &self.model,
            batch,
            self.temperature,
            self.alpha_weight,
            &self.device,
        );
        let losses = losses_of(&loss);
        refuse_non_finite(losses.total, || format!("the loss ({losses:?})"))?;
        let grads = GradientsParams::from_grads(loss.total.backward(), &self.model);
        self.model = self.optim.step(self.lr(), self.model.clone(), grads);
        Ok(losses)
    }

    fn begin_step(&mut self, done: u64) {
        self.done = done;
    }

    fn lr(&self) -> f64 {
        let epoch = self.done / self.batches_per_epoch.max(1);
        reference_lr(self.base_lr, epoch, self.batches_per_epoch)
    }

    fn model(&self) -> &Convirt<B> {
        &self.model
    }

    fn optimizer_record(&self) -> ConvirtOptimizerRecord<B> {
        self.optim.to_record()
    }

    fn restore(&mut self, model: Convirt<B>, optimizer: ConvirtOptimizerRecord<B>) {
        self.model = model.freeze(&self.freeze_layers);
        self.optim = self.optim.clone().load_record(optimizer);
    }
}
