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
use crate::gradients::MicroBatching;
use crate::losses::{DeepSupervisionWeights, DiceCeLossConfig, deep_supervision_loss};
use crate::networks::SegmentationModel;
use crate::report::records::SegLoss;
use ssl3d_kernels::fused_adam::FusedAdamW;

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
    /// Gradient accumulation, when the batch goes through in parts.
    micro_batching: MicroBatching,
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
            micro_batching: MicroBatching::default(),
        }
    }

    /// This trainer as one process of a data-parallel run `dp` (when given).
    pub(crate) fn in_parallel(mut self, dp: Option<Arc<DataParallel>>) -> Self {
        self.parallel = dp;
        self
    }

    /// Accumulates gradients over `parts` micro-batches of each batch, whose volumes give
    /// `crops_per_volume` crops each (1: the whole batch at once).
    pub(crate) fn with_micro_batches(mut self, parts: usize, crops_per_volume: usize) -> Self {
        self.micro_batching = MicroBatching::new(parts, crops_per_volume);
        self
    }

    /// The DiceCE loss of `batch` and its gradients, through the network in one piece or in
    /// micro-batches.
    pub(crate) fn batch_gradients(&self, batch: &SegBatch) -> Result<(f64, GradientsParams)> {
        self.micro_batching
            .gradients(&self.model, batch, |part| self.part_gradients(part))
    }

    /// The DiceCE loss of one (micro-)batch and its gradients.
    fn part_gradients(&self, batch: &SegBatch) -> (f64, GradientsParams) {
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
        let value = scalar(loss.clone().inner());
        (
            value,
            GradientsParams::from_grads(loss.backward(), &self.model),
        )
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
        let (mut value, mut grads) = self.batch_gradients(batch)?;
        if let Some(dp) = &self.parallel {
            value = dp.mean_value::<B::InnerBackend>(value, &self.device)?;
        }
        refuse_non_finite(value, || format!("the DiceCE loss ({value:e})"))?;
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

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;
    use ndarray::Array5;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::gradients::FlatGradients;
    use crate::networks::SegResNetConfig;

    type B = Autodiff<Flex>;

    /// `volumes` volumes of 2 random 8³ crops with labels in 0..3.
    fn batch(volumes: usize) -> SegBatch {
        let mut rng = StdRng::seed_from_u64(7);
        let shape = (2 * volumes, 1, 8, 8, 8);
        SegBatch {
            image: Array5::from_shape_simple_fn(shape, || rng.random_range(-1.0..1.0)),
            label: Array5::from_shape_simple_fn(shape, || rng.random_range(0..3) as f32),
        }
    }

    type Net = crate::networks::SegResNet<B>;

    /// A small SegResNet, its parameters drawn (Burn draws them lazily, once per copy).
    fn network() -> Net {
        let device = Default::default();
        let net = SegResNetConfig::new()
            .with_out_channels(3)
            .with_init_filters(4)
            .with_norm_groups(2)
            .with_blocks_down(vec![1, 1])
            .with_blocks_up(vec![1])
            .init::<B>(&device);
        let record = net.clone().into_record();
        net.load_record(record)
    }

    /// The loss and the flat gradients of `batch` through `model` in `micro_batches` parts.
    fn gradients(model: &Net, micro_batches: usize, batch: &SegBatch) -> (f64, Vec<f32>) {
        let device = Default::default();
        let t = SegTrainer::new(
            model.clone(),
            1e-3,
            0.0,
            DeepSupervisionWeights::Exp,
            &device,
        )
        .with_micro_batches(micro_batches, 2);
        let (value, grads) = t.batch_gradients(batch).unwrap();
        let flat = FlatGradients::<B>::of(&t.model, &grads).unwrap().flat;
        (value, flat.into_data().to_vec::<f32>().unwrap())
    }

    fn relative(a: &[f32], b: &[f32]) -> f64 {
        let diff: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
        let norm: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
        (diff / norm).sqrt()
    }

    /// Accumulating over micro-batches (equal ones, and an epoch's short last batch split
    /// unevenly) gives the whole batch's DiceCE and gradients up to f32 summation order.
    #[test]
    fn micro_batches_give_the_whole_batchs_loss_and_gradients() {
        let model = network();
        for volumes in [4, 3] {
            let b = batch(volumes);
            let (whole, g) = gradients(&model, 1, &b);
            let (parts, h) = gradients(&model, 2, &b);
            assert!(
                (whole - parts).abs() <= 1e-6 * whole.abs(),
                "{volumes} volumes: loss {whole} vs {parts}"
            );
            let d = relative(&g, &h);
            assert!(d <= 1e-5, "{volumes} volumes: gradients differ by {d:e}");
            assert!(g.iter().any(|x| *x != 0.0));
        }
    }
}
