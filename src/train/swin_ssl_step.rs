//! One step of Swin UNETR's self-supervised pretraining (MONAI's research code, `main.py`'s
//! `train`): from the batch's clean crops, two rotated and corrupted views
//! ([`crate::transforms::swin_ssl_views`], drawn from a generator seeded by the run seed and the
//! step, so a resumed run draws the same), both through the SSL head as one batch of 2·B crops
//! (every layer treats each crop on its own), the research code's loss, AdamW with its schedule.

use std::path::Path;

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::batch_tensors::{array_to_tensor, scalar};
use super::driver::{Trainer, refuse_non_finite};
use super::lr_schedule::LrSchedule;
use super::pretrain_trainer::PretrainTrainer;
use crate::data::SslBatch;
use crate::data::seeding::mix;
use crate::error::Result;
use crate::losses::l1_loss;
use crate::losses::swin_ssl::{SwinSslLoss, swin_ssl_loss};
use crate::networks::SwinSslHead;
use crate::networks::checkpoint::save_best_model_tensors;
use crate::networks::state_dict::{Arch, export_state_dict};
use crate::report::records::SslLosses;
use crate::transforms::swin_ssl_views::{SwinSslViews, swin_ssl_views};
use ssl3d_kernels::fused_adam::FusedAdamW;

/// AdamW over the SSL head.
pub(crate) type SwinSslOptimizer<B> = OptimizerAdaptor<FusedAdamW, SwinSslHead<B>, B>;
/// Its state, saved in every run checkpoint.
pub(crate) type SwinSslOptimizerRecord<B> =
    <SwinSslOptimizer<B> as Optimizer<SwinSslHead<B>, B>>::Record;

/// The research code's loss for given views (`x1_augment`, `x2_augment` in, `x1`, `x2` the
/// reconstruction targets, `rot1`, `rot2` the rotation labels).
pub fn swin_ssl_step_loss<B: Backend>(
    model: &SwinSslHead<B>,
    views: &SwinSslViews,
    temperature: f64,
    device: &B::Device,
) -> SwinSslLoss<B> {
    let b = views.x1.shape()[0];
    let input = Tensor::cat(
        vec![
            array_to_tensor::<B, 5, _>(&views.x1_augment, device),
            array_to_tensor(&views.x2_augment, device),
        ],
        0,
    );
    let out = model.forward(input);
    let labels: Vec<i64> = (views.rot1.iter().chain(&views.rot2))
        .map(|&k| k as i64)
        .collect();
    let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [2 * b]), device);
    let rotated = Tensor::cat(
        vec![
            array_to_tensor(&views.x1, device),
            array_to_tensor(&views.x2, device),
        ],
        0,
    );
    let c = out.contrastive;
    swin_ssl_loss(
        out.rotation,
        labels,
        [c.clone().narrow(0, 0, b), c.narrow(0, b, b)],
        out.reconstruction,
        rotated,
        temperature,
    )
}

/// The SSL head, its AdamW state and schedule, and what seeds each step's views.
pub(crate) struct SwinSslTrainer<B: AutodiffBackend> {
    pub model: SwinSslHead<B>,
    optim: SwinSslOptimizer<B>,
    base_lr: f64,
    schedule: LrSchedule,
    total_steps: u64,
    done: u64,
    temperature: f64,
    seed: u64,
    device: B::Device,
}

impl<B: AutodiffBackend> SwinSslTrainer<B> {
    /// AdamW like torch's (betas 0.9/0.999, eps 1e-8, decoupled `weight_decay`) at peak rate
    /// `lr` following `schedule`; views seeded from `seed`.
    pub fn new(
        model: SwinSslHead<B>,
        lr: f64,
        weight_decay: f64,
        schedule: LrSchedule,
        temperature: f64,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        SwinSslTrainer {
            model,
            optim: FusedAdamW::new(1e-8, weight_decay as f32).init(),
            base_lr: lr,
            schedule,
            total_steps: 0,
            done: 0,
            temperature,
            seed,
            device: device.clone(),
        }
    }

    /// The generator of the views of the step that follows `done` steps.
    fn views_rng(&self) -> StdRng {
        StdRng::seed_from_u64(mix(mix(self.seed ^ 0x5317_55A1) ^ self.done))
    }
}

impl<B: AutodiffBackend> Trainer<B> for SwinSslTrainer<B> {
    type Model = SwinSslHead<B>;
    type OptimizerRecord = SwinSslOptimizerRecord<B>;
    type Batch = SslBatch;
    type Losses = SslLosses;

    fn step(&mut self, batch: &SslBatch) -> Result<SslLosses> {
        let views = swin_ssl_views(&batch.clean, &mut self.views_rng());
        let loss = swin_ssl_step_loss(&self.model, &views, self.temperature, &self.device);
        let losses = SslLosses {
            total: scalar(loss.total.clone().inner()),
            recon: scalar(loss.recon.inner()),
            contrastive: scalar(loss.contrastive.inner()),
            rotation: Some(scalar(loss.rotation.inner())),
        };
        refuse_non_finite(losses.total, || format!("the loss ({losses:?})"))?;
        let grads = GradientsParams::from_grads(loss.total.backward(), &self.model);
        self.model = self.optim.step(self.lr(), self.model.clone(), grads);
        Ok(losses)
    }

    fn begin_step(&mut self, done: u64) {
        self.done = done;
    }

    /// The schedule spans the run (`max_epochs` of batches).
    fn plan_steps(&mut self, total: u64) {
        self.total_steps = total;
    }

    fn lr(&self) -> f64 {
        self.schedule.lr(self.base_lr, self.done, self.total_steps)
    }

    fn model(&self) -> &SwinSslHead<B> {
        &self.model
    }

    fn optimizer_record(&self) -> SwinSslOptimizerRecord<B> {
        self.optim.to_record()
    }

    fn restore(&mut self, model: SwinSslHead<B>, optimizer: SwinSslOptimizerRecord<B>) {
        self.model = model;
        self.optim = self.optim.clone().load_record(optimizer);
    }
}

impl<B: AutodiffBackend> PretrainTrainer<B> for SwinSslTrainer<B> {
    /// The reconstruction of view 1 (the tutorial's in-/out-painted, shuffled crop) against the
    /// clean crop: the validation every network's pretraining reports.
    fn validation_l1(&self, batch: &SslBatch) -> Result<f64> {
        let model = self.model.valid();
        let out = model.forward(array_to_tensor(&batch.view1, &self.device));
        Ok(scalar(l1_loss(
            out.reconstruction,
            array_to_tensor(&batch.clean, &self.device),
        )))
    }

    /// The research code's keys (`swinViT.…` with the index buffers, the three heads), which a
    /// fine-tuning SwinUNETR reads like the published backbone.
    fn save_model<C: Config>(&self, config: &C, dir: &Path, name: &str) -> Result<()> {
        let model = self.model.valid();
        let mut tensors = export_state_dict(&model, Arch::SwinSslHead)?;
        tensors.extend(model.relative_position_indices());
        save_best_model_tensors(model, config, &tensors, dir, name)
    }
}
