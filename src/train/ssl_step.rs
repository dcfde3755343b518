//! One step of the SSL tutorial (docs/MONAI_COMPAT.md, "Pretraining step"): reconstruct both views,
//! L1 of view 1 against the clean crop, contrastive loss between the two flattened reconstructions,
//! `total = r + c·r`, Adam.

use std::path::Path;
use std::sync::Arc;

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::batch_tensors::{array_to_tensor, scalar};
use super::driver::{Trainer, refuse_non_finite};
use super::pretrain_trainer::PretrainTrainer;
use super::ssl_parallel_loss::{Negatives, parallel_ssl_losses};
use crate::data::SslBatch;
use crate::distributed::DataParallel;
use crate::error::Result;
use crate::losses::{contrastive_loss, l1_loss, ssl_total_loss};
use crate::networks::VitAutoEnc;
use crate::networks::checkpoint::save_best_model;
use crate::networks::state_dict::Arch;
use crate::report::records::SslLosses;
use ssl3d_kernels::fused_adam::FusedAdam;

/// The tutorial's losses for one batch (`image` = view 1, `image_2` = view 2, `gt_image` = clean).
///
/// The tutorial calls the network once per view; here both views go through it as one batch of
/// 2·B crops. The ViTAutoEnc treats every crop on its own (no batch statistics), so the outputs,
/// losses and gradients are the tutorial's; one pass computes each weight gradient once over
/// both views instead of twice and summing, with matrix products twice as tall.
pub fn ssl_losses<B: Backend>(
    model: &VitAutoEnc<B>,
    view1: Tensor<B, 5>,
    view2: Tensor<B, 5>,
    gt: Tensor<B, 5>,
    temperature: f64,
) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
    let batch = view1.dims()[0];
    let (out, _) = model.forward(Tensor::cat(vec![view1, view2], 0));
    let out1 = out.clone().narrow(0, 0, batch);
    let out2 = out.narrow(0, batch, batch);
    let recon = l1_loss(out1.clone(), gt);
    let contrastive = contrastive_loss(
        out1.flatten::<2>(1, 4),
        out2.flatten::<2>(1, 4),
        temperature,
    );
    let total = ssl_total_loss(recon.clone(), contrastive.clone());
    (total, recon, contrastive)
}

/// The tutorial's optimiser over a ViTAutoEnc.
pub(crate) type SslOptimizer<B> = OptimizerAdaptor<FusedAdam, VitAutoEnc<B>, B>;
/// Its state (moments and step count per parameter), saved in every run checkpoint.
pub(crate) type SslOptimizerRecord<B> = <SslOptimizer<B> as Optimizer<VitAutoEnc<B>, B>>::Record;

/// The model and its Adam state (betas 0.9/0.999, eps 1e-8, no weight decay, like torch's Adam;
/// Burn's Adam arithmetic, fused on the CPU backend).
pub struct SslTrainer<B: AutodiffBackend> {
    pub model: VitAutoEnc<B>,
    optim: SslOptimizer<B>,
    pub lr: f64,
    pub temperature: f64,
    /// In a data-parallel run: this process's membership, and whose crops are the negatives.
    parallel: Option<(Arc<DataParallel>, Negatives)>,
}

impl<B: AutodiffBackend> SslTrainer<B> {
    pub fn new(model: VitAutoEnc<B>, lr: f64, temperature: f64) -> Self {
        SslTrainer {
            model,
            optim: FusedAdam::new(1e-8).init(),
            lr,
            temperature,
            parallel: None,
        }
    }

    /// This trainer as one process of a data-parallel run (its loss and gradients then those of
    /// the whole run's batch; `ssl_parallel_loss`).
    pub(crate) fn in_parallel(mut self, dp: Arc<DataParallel>, negatives: Negatives) -> Self {
        self.parallel = Some((dp, negatives));
        self
    }
}

impl<B: AutodiffBackend> PretrainTrainer<B> for SslTrainer<B> {
    fn validation_l1(&self, batch: &SslBatch) -> Result<f64> {
        let model = self.model.valid();
        let device = model.vit.norm.gamma.val().device();
        let (out, _) = model.forward(array_to_tensor(&batch.view1, &device));
        Ok(scalar(l1_loss(out, array_to_tensor(&batch.clean, &device))))
    }

    fn save_model<C: Config>(&self, config: &C, dir: &Path, name: &str) -> Result<()> {
        save_best_model(self.model.valid(), config, Arch::VitAutoEnc, dir, name)
    }

    fn data_parallel(&self) -> Option<(&DataParallel, B::Device)> {
        let device = self.model.vit.norm.gamma.val().device();
        self.parallel.as_ref().map(|(dp, _)| (dp.as_ref(), device))
    }
}

impl<B: AutodiffBackend> Trainer<B> for SslTrainer<B> {
    type Model = VitAutoEnc<B>;
    type OptimizerRecord = SslOptimizerRecord<B>;
    type Batch = SslBatch;
    type Losses = SslLosses;

    fn step(&mut self, batch: &SslBatch) -> Result<SslLosses> {
        let device = self.model.vit.norm.gamma.val().device();
        let views = [&batch.view1, &batch.view2, &batch.clean].map(|a| array_to_tensor(a, &device));
        let (total, losses) = match &self.parallel {
            Some((dp, negatives)) => {
                parallel_ssl_losses(&self.model, views, self.temperature, (dp, *negatives))?
            }
            None => {
                let [view1, view2, clean] = views;
                let (total, recon, contrastive) =
                    ssl_losses(&self.model, view1, view2, clean, self.temperature);
                let losses = SslLosses {
                    total: scalar(total.clone().inner()),
                    recon: scalar(recon.inner()),
                    contrastive: scalar(contrastive.inner()),
                    rotation: None,
                };
                (total, losses)
            }
        };
        refuse_non_finite(losses.total, || {
            format!(
                "the loss (total {:e}, reconstruction {:e}, contrastive {:e})",
                losses.total, losses.recon, losses.contrastive
            )
        })?;
        let mut grads = GradientsParams::from_grads(total.backward(), &self.model);
        if let Some((dp, _)) = &self.parallel {
            grads = dp.mean_gradients(&self.model, grads)?;
        }
        self.model = self.optim.step(self.lr, self.model.clone(), grads);
        Ok(losses)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn model(&self) -> &VitAutoEnc<B> {
        &self.model
    }

    fn optimizer_record(&self) -> SslOptimizerRecord<B> {
        self.optim.to_record()
    }

    /// The optimiser state is keyed by parameter id, which the restored model record carries.
    fn restore(&mut self, model: VitAutoEnc<B>, optimizer: SslOptimizerRecord<B>) {
        self.model = model;
        self.optim = self.optim.clone().load_record(optimizer);
    }
}
