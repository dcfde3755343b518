//! One step of restoration pretraining for a CNN (Models Genesis' idea, Zhou et al. 2019, on the
//! tutorial's views): the network restores the clean crop from each in-/out-painted, locally
//! shuffled view, L1 over both views, Adam as the tutorial's pretraining. No contrastive term: a
//! U-Net's output is the restored volume, and the tutorial's contrastive loss compares whole
//! reconstructions, which the L1 already pulls together.

use std::path::Path;
use std::sync::Arc;

use burn::config::Config;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::batch_tensors::{array_to_tensor, scalar};
use super::driver::{Trainer, refuse_non_finite};
use super::pretrain_trainer::PretrainTrainer;
use super::seg_step::TrainableSegmentation;
use crate::data::SslBatch;
use crate::distributed::DataParallel;
use crate::error::Result;
use crate::gradients::MicroBatching;
use crate::losses::l1_loss;
use crate::networks::SegmentationModel;
use crate::networks::checkpoint::save_best_model_tensors;
use crate::report::records::SslLosses;
use ssl3d_kernels::fused_adam::FusedAdam;

/// Adam over a restoration network.
pub(crate) type RestorationOptimizer<B, M> = OptimizerAdaptor<FusedAdam, M, B>;
/// Its state, saved in every run checkpoint.
pub(crate) type RestorationOptimizerRecord<B, M> =
    <RestorationOptimizer<B, M> as Optimizer<M, B>>::Record;

/// A one-channel-out CNN (DynUNet, SegResNet) and its Adam state (betas 0.9/0.999, eps 1e-8, no
/// weight decay: the tutorial's pretraining optimiser).
pub(crate) struct RestorationTrainer<B: AutodiffBackend, M: TrainableSegmentation<B>> {
    pub model: M,
    optim: RestorationOptimizer<B, M>,
    lr: f64,
    device: B::Device,
    /// In a data-parallel run, this process's membership: the loss and gradients are then the
    /// means over the processes (the L1 is a mean over crops, so that is the whole batch's).
    parallel: Option<Arc<DataParallel>>,
    /// Gradient accumulation, when the batch goes through in parts.
    micro_batching: MicroBatching,
}

impl<B: AutodiffBackend, M: TrainableSegmentation<B>> RestorationTrainer<B, M> {
    pub fn new(model: M, lr: f64, device: &B::Device) -> Self {
        RestorationTrainer {
            model,
            optim: FusedAdam::new(1e-8).init(),
            lr,
            device: device.clone(),
            parallel: None,
            micro_batching: MicroBatching::default(),
        }
    }

    /// Accumulates gradients over `parts` micro-batches of each batch, whose volumes give
    /// `crops_per_volume` crops each (1: the whole batch at once).
    pub(crate) fn with_micro_batches(mut self, parts: usize, crops_per_volume: usize) -> Self {
        self.micro_batching = MicroBatching::new(parts, crops_per_volume);
        self
    }

    /// The restoration L1 of `batch` and its gradients, in one piece or in micro-batches.
    fn batch_gradients(&self, batch: &SslBatch) -> Result<(f64, GradientsParams)> {
        self.micro_batching.gradients(&self.model, batch, |part| {
            let loss = restoration_loss(&self.model, part, &self.device);
            let l1 = scalar(loss.clone().inner());
            (
                l1,
                GradientsParams::from_grads(loss.backward(), &self.model),
            )
        })
    }

    /// This trainer as one process of a data-parallel run `dp` (when given).
    pub(crate) fn in_parallel(mut self, dp: Option<Arc<DataParallel>>) -> Self {
        self.parallel = dp;
        self
    }
}

/// The restoration loss of one batch: both views through the network as one batch of 2·B crops
/// (instance and group norms treat every crop on its own), L1 against the clean crop, which is
/// the mean of the two views' L1s.
pub(crate) fn restoration_loss<B: Backend, M: SegmentationModel<B>>(
    model: &M,
    batch: &SslBatch,
    device: &B::Device,
) -> Tensor<B, 1> {
    let clean = array_to_tensor::<B, 5, _>(&batch.clean, device);
    let views = Tensor::cat(
        vec![
            array_to_tensor(&batch.view1, device),
            array_to_tensor(&batch.view2, device),
        ],
        0,
    );
    l1_loss(
        model.logits(views),
        Tensor::cat(vec![clean.clone(), clean], 0),
    )
}

impl<B: AutodiffBackend, M: TrainableSegmentation<B>> Trainer<B> for RestorationTrainer<B, M> {
    type Model = M;
    type OptimizerRecord = RestorationOptimizerRecord<B, M>;
    type Batch = SslBatch;
    type Losses = SslLosses;

    fn step(&mut self, batch: &SslBatch) -> Result<SslLosses> {
        let (mut l1, mut grads) = self.batch_gradients(batch)?;
        if let Some(dp) = &self.parallel {
            l1 = dp.mean_value::<B::InnerBackend>(l1, &self.device)?;
        }
        refuse_non_finite(l1, || format!("the restoration loss ({l1:e})"))?;
        if let Some(dp) = &self.parallel {
            grads = dp.mean_gradients(&self.model, grads)?;
        }
        self.model = self.optim.step(self.lr, self.model.clone(), grads);
        Ok(SslLosses {
            total: l1,
            recon: l1,
            contrastive: 0.0,
            rotation: None,
        })
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn model(&self) -> &M {
        &self.model
    }

    fn optimizer_record(&self) -> RestorationOptimizerRecord<B, M> {
        self.optim.to_record()
    }

    fn restore(&mut self, model: M, optimizer: RestorationOptimizerRecord<B, M>) {
        self.model = model;
        self.optim = self.optim.clone().load_record(optimizer);
    }
}

impl<B: AutodiffBackend, M: TrainableSegmentation<B>> PretrainTrainer<B>
    for RestorationTrainer<B, M>
{
    fn validation_l1(&self, batch: &SslBatch) -> Result<f64> {
        let model = self.model.valid();
        let device = &self.device;
        let out = model.logits(array_to_tensor(&batch.view1, device));
        Ok(scalar(l1_loss(out, array_to_tensor(&batch.clean, device))))
    }

    fn save_model<C: Config>(&self, config: &C, dir: &Path, name: &str) -> Result<()> {
        let model = self.model.valid();
        let tensors = model.monai_tensors()?;
        save_best_model_tensors(model, config, &tensors, dir, name)
    }

    fn data_parallel(&self) -> Option<(&DataParallel, B::Device)> {
        let device = self.device.clone();
        self.parallel.as_deref().map(|dp| (dp, device))
    }
}
