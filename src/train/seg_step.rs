//! One step of the fine-tuning tutorial (SPEC §2.4): UNETR logits for the 4 crops of a volume,
//! DiceCE against the label, AdamW (lr 1e-4, weight decay 1e-5, eps 1e-8). And the predictor the
//! sliding-window validation calls.

use std::collections::BTreeMap;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use ndarray::Array5;

use super::batch_tensors::{array_to_tensor, scalar, tensor_to_array, to_tensor};
use super::fused_adam::FusedAdamW;
use crate::error::{Error, Result};
use crate::losses::DiceCeLossConfig;
use crate::networks::Unetr;

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

    pub fn optimizer_record(&self) -> SegOptimizerRecord<B> {
        self.optim.to_record()
    }

    /// Restores a checkpoint's optimiser state (the model must hold that checkpoint's weights).
    pub fn load_optimizer_record(&mut self, record: SegOptimizerRecord<B>) {
        self.optim = self.optim.clone().load_record(record);
    }

    /// One optimisation step on `image`/`label`; returns the DiceCE loss. A NaN or infinite loss
    /// is an error and leaves the model unchanged.
    pub fn step(&mut self, batch: &BTreeMap<String, Array5<f32>>) -> Result<f64> {
        let device = self.model.vit.norm.gamma.val().device();
        let logits = self.model.forward(to_tensor(batch, "image", &device)?);
        let loss = self
            .loss
            .forward(logits, to_tensor(batch, "label", &device)?);
        let value = scalar(loss.clone().inner());
        if !value.is_finite() {
            return Err(Error::Training(format!(
                "the DiceCE loss is not finite ({value:e}); the model is left at its last good state"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.lr, self.model.clone(), grads);
        Ok(value)
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
