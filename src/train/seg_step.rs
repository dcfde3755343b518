//! One step of the fine-tuning tutorial (docs/MONAI_COMPAT.md, "Loss, optimiser and metric"): UNETR
//! logits for the 4 crops of a volume, DiceCE against the label, AdamW (lr 1e-4, weight decay 1e-5,
//! eps 1e-8). And the predictor the sliding-window validation calls.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use ndarray::Array5;

use super::batch_tensors::{array_to_tensor, scalar, tensor_to_array};
use super::driver::Trainer;
use crate::data::SegBatch;
use crate::error::{Error, Result};
use crate::kernels::fused_adam::FusedAdamW;
use crate::losses::DiceCeLossConfig;
use crate::networks::Unetr;
use crate::report::records::SegLoss;

/// The tutorial's optimiser over a UNETR.
pub type SegOptimizer<B> = OptimizerAdaptor<FusedAdamW, Unetr<B>, B>;
/// Its state, saved in every run checkpoint.
pub type SegOptimizerRecord<B> = <SegOptimizer<B> as Optimizer<Unetr<B>, B>>::Record;

/// The model, its AdamW state and the loss.
pub struct SegTrainer<B: AutodiffBackend> {
    pub model: Unetr<B>,
    optim: SegOptimizer<B>,
    pub lr: f64,
    loss: DiceCeLossConfig,
}

impl<B: AutodiffBackend> SegTrainer<B> {
    /// AdamW like torch's: betas 0.9/0.999, eps 1e-8, decoupled weight decay (Burn's AdamW
    /// arithmetic, fused on the CPU backend).
    pub fn new(model: Unetr<B>, lr: f64, weight_decay: f64) -> Self {
        SegTrainer {
            model,
            optim: FusedAdamW::new(1e-8, weight_decay as f32).init(),
            lr,
            loss: DiceCeLossConfig::tutorial(),
        }
    }

    /// Logits for a batch of windows, without gradients (the sliding-window predictor).
    pub fn predict(&self, model: &Unetr<B::InnerBackend>, windows: Array5<f32>) -> Array5<f32> {
        let device = model.vit.norm.gamma.val().device();
        tensor_to_array(model.forward(array_to_tensor(&windows, &device)))
    }

    /// The model without autodiff, for inference.
    pub fn inference_model(&self) -> Unetr<B::InnerBackend> {
        self.model.valid()
    }
}

impl<B: AutodiffBackend> Trainer<B> for SegTrainer<B> {
    type Model = Unetr<B>;
    type OptimizerRecord = SegOptimizerRecord<B>;
    type Batch = SegBatch;
    type Losses = SegLoss;

    /// One optimisation step; returns the DiceCE loss.
    fn step(&mut self, batch: &SegBatch) -> Result<SegLoss> {
        let device = self.model.vit.norm.gamma.val().device();
        let logits = self.model.forward(array_to_tensor(&batch.image, &device));
        let loss = self
            .loss
            .forward(logits, array_to_tensor(&batch.label, &device));
        let value = scalar(loss.clone().inner());
        if !value.is_finite() {
            return Err(Error::Training(format!(
                "the DiceCE loss is not finite ({value:e}); the model is left at its last good state"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.lr, self.model.clone(), grads);
        Ok(SegLoss { loss: value })
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn model(&self) -> &Unetr<B> {
        &self.model
    }

    fn optimizer_record(&self) -> SegOptimizerRecord<B> {
        self.optim.to_record()
    }

    /// The optimiser state is keyed by parameter id, which the restored model record carries.
    fn restore(&mut self, model: Unetr<B>, optimizer: SegOptimizerRecord<B>) {
        self.model = model;
        self.optim = self.optim.clone().load_record(optimizer);
    }
}
