//! One step of the fine-tuning tutorial (docs/MONAI_COMPAT.md, "Loss, optimiser and metric"): the
//! network's logits for the 4 crops of a volume, DiceCE against the label (summed over the levels
//! with MONAI's deep-supervision weights when a DynUNet has heads), AdamW (lr 1e-4, weight decay
//! 1e-5, eps 1e-8). And the predictor the sliding-window validation calls. Any
//! [`SegmentationModel`]: UNETR, DynUNet, SegResNet.

use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use ndarray::Array5;

use super::batch_tensors::{array_to_tensor, scalar, tensor_to_array};
use super::driver::{Trainer, refuse_non_finite};
use super::lr_schedule::LrSchedule;
use crate::data::SegBatch;
use crate::distributed::DataParallel;
use crate::error::Result;
use crate::kernels::fused_adam::FusedAdamW;
use crate::losses::{DeepSupervisionWeights, DiceCeLossConfig, deep_supervision_loss};
use crate::networks::SegmentationModel;
use crate::report::records::SegLoss;

/// A segmentation network that trains with autodiff and predicts without it.
pub trait TrainableSegmentation<B: AutodiffBackend>:
    SegmentationModel<B> + AutodiffModule<B, InnerModule = Self::Inference>
{
    type Inference: SegmentationModel<B::InnerBackend>;
}

impl<B: AutodiffBackend, M> TrainableSegmentation<B> for M
where
    M: SegmentationModel<B> + AutodiffModule<B>,
    M::InnerModule: SegmentationModel<B::InnerBackend>,
{
    type Inference = M::InnerModule;
}

/// The tutorial's optimiser over a segmentation network.
pub(crate) type SegOptimizer<B, M> = OptimizerAdaptor<FusedAdamW, M, B>;
/// Its state, saved in every run checkpoint.
pub(crate) type SegOptimizerRecord<B, M> = <SegOptimizer<B, M> as Optimizer<M, B>>::Record;

/// The model, its AdamW state and the loss.
pub(crate) struct SegTrainer<B: AutodiffBackend, M: TrainableSegmentation<B>> {
    pub model: M,
    optim: SegOptimizer<B, M>,
    /// The configured rate; the step's own is `schedule`'s at `done` of `total_steps` steps.
    base_lr: f64,
    schedule: LrSchedule,
    total_steps: u64,
    done: u64,
    loss: DiceCeLossConfig,
    deep_supervision: DeepSupervisionWeights,
    device: B::Device,
    /// In a data-parallel run, this process's membership: the loss and gradients are then the
    /// means over the processes (DiceCE is a mean over crops, so that is the whole batch's).
    parallel: Option<Arc<DataParallel>>,
}

impl<B: AutodiffBackend, M: TrainableSegmentation<B>> SegTrainer<B, M> {
    /// AdamW like torch's: betas 0.9/0.999, eps 1e-8, decoupled weight decay (Burn's AdamW
    /// arithmetic, fused on the CPU backend). `deep_supervision` weighs a DynUNet's levels.
    pub fn new(
        model: M,
        lr: f64,
        weight_decay: f64,
        deep_supervision: DeepSupervisionWeights,
        device: &B::Device,
    ) -> Self {
        SegTrainer {
            model,
            optim: FusedAdamW::new(1e-8, weight_decay as f32).init(),
            base_lr: lr,
            schedule: LrSchedule::default(),
            total_steps: 0,
            done: 0,
            loss: DiceCeLossConfig::tutorial(),
            deep_supervision,
            device: device.clone(),
            parallel: None,
        }
    }

    /// This trainer as one process of a data-parallel run `dp` (when given).
    pub(crate) fn in_parallel(mut self, dp: Option<Arc<DataParallel>>) -> Self {
        self.parallel = dp;
        self
    }

    /// Follows `schedule` over a run of `total_steps` (the default is the tutorial's constant
    /// rate).
    pub(crate) fn with_schedule(mut self, schedule: LrSchedule, total_steps: u64) -> Self {
        self.schedule = schedule;
        self.total_steps = total_steps;
        self
    }

    /// Logits for a batch of windows, without gradients (the sliding-window predictor).
    pub(crate) fn predict(&self, model: &M::Inference, windows: Array5<f32>) -> Array5<f32> {
        tensor_to_array(model.logits(array_to_tensor(&windows, &self.device)))
    }

    /// This process's data-parallel run, if any.
    pub(crate) fn parallel(&self) -> Option<&DataParallel> {
        self.parallel.as_deref()
    }

    /// The device the model and its inputs live on.
    pub(crate) fn device(&self) -> &B::Device {
        &self.device
    }

    /// The model without autodiff, for inference.
    pub(crate) fn inference_model(&self) -> M::Inference {
        self.model.valid()
    }
}

impl<B: AutodiffBackend, M: TrainableSegmentation<B>> Trainer<B> for SegTrainer<B, M> {
    type Model = M;
    type OptimizerRecord = SegOptimizerRecord<B, M>;
    type Batch = SegBatch;
    type Losses = SegLoss;

    /// One optimisation step; returns the DiceCE loss.
    fn step(&mut self, batch: &SegBatch) -> Result<SegLoss> {
        let device = &self.device;
        let levels = self
            .model
            .training_levels(array_to_tensor(&batch.image, device));
        let labels = array_to_tensor(&batch.label, device);
        let loss = if levels.dims()[1] == 1 {
            self.loss.forward(levels.squeeze_dim(1), labels)
        } else {
            deep_supervision_loss(&self.loss, self.deep_supervision, levels, labels)
        };
        let mut value = scalar(loss.clone().inner());
        if let Some(dp) = &self.parallel {
            value = dp.sum_values::<B::InnerBackend>(&[value], device)?[0] / dp.size() as f64;
        }
        refuse_non_finite(value, || format!("the DiceCE loss ({value:e})"))?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if let Some(dp) = &self.parallel {
            grads = dp.mean_gradients(&self.model, grads)?;
        }
        self.model = self.optim.step(self.lr(), self.model.clone(), grads);
        Ok(SegLoss { loss: value })
    }

    fn begin_step(&mut self, done: u64) {
        self.done = done;
    }

    fn lr(&self) -> f64 {
        self.schedule.lr(self.base_lr, self.done, self.total_steps)
    }

    fn model(&self) -> &M {
        &self.model
    }

    fn optimizer_record(&self) -> SegOptimizerRecord<B, M> {
        self.optim.to_record()
    }

    /// The optimiser state is keyed by parameter id, which the restored model record carries.
    fn restore(&mut self, model: M, optimizer: SegOptimizerRecord<B, M>) {
        self.model = model;
        self.optim = self.optim.clone().load_record(optimizer);
    }
}
