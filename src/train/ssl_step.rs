//! One step of the SSL tutorial (SPEC §1.4): reconstruct both views, L1 of view 1 against the clean
//! crop, contrastive loss between the two flattened reconstructions, `total = r + c·r`, Adam.

use std::collections::BTreeMap;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ndarray::Array5;

use super::batch_tensors::{scalar, to_tensor};
use super::fused_adam::FusedAdam;
use crate::error::{Error, Result};
use crate::losses::{contrastive_loss, l1_loss, ssl_total_loss};
use crate::networks::VitAutoEnc;

/// The three numbers the tutorial logs per step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SslLosses {
    pub total: f64,
    pub recon: f64,
    pub contrastive: f64,
}

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
pub type SslOptimizer<B> = OptimizerAdaptor<FusedAdam, VitAutoEnc<B>, B>;
/// Its state (moments and step count per parameter), saved in every run checkpoint.
pub type SslOptimizerRecord<B> = <SslOptimizer<B> as Optimizer<VitAutoEnc<B>, B>>::Record;

/// The model and its Adam state (betas 0.9/0.999, eps 1e-8, no weight decay, like torch's Adam;
/// Burn's Adam arithmetic, fused on the CPU backend).
pub struct SslTrainer<B: AutodiffBackend> {
    pub model: VitAutoEnc<B>,
    optim: SslOptimizer<B>,
    pub lr: f64,
    pub temperature: f64,
}

impl<B: AutodiffBackend> SslTrainer<B> {
    pub fn new(model: VitAutoEnc<B>, lr: f64, temperature: f64) -> Self {
        SslTrainer {
            model,
            optim: FusedAdam::new(1e-8).init(),
            lr,
            temperature,
        }
    }

    /// The optimiser state, for a checkpoint.
    pub fn optimizer_record(&self) -> SslOptimizerRecord<B> {
        self.optim.to_record()
    }

    /// Restores the optimiser state of a checkpoint (the model must hold the same checkpoint's
    /// weights: the state is keyed by parameter id, which the model record carries).
    pub fn load_optimizer_record(&mut self, record: SslOptimizerRecord<B>) {
        self.optim = self.optim.clone().load_record(record);
    }

    /// One optimisation step; a NaN or infinite loss is an error and leaves the model unchanged.
    pub fn step(&mut self, batch: &BTreeMap<String, Array5<f32>>) -> Result<SslLosses> {
        let device = self.model.vit.norm.gamma.val().device();
        let (total, recon, contrastive) = ssl_losses(
            &self.model,
            to_tensor(batch, "image", &device)?,
            to_tensor(batch, "image_2", &device)?,
            to_tensor(batch, "gt_image", &device)?,
            self.temperature,
        );
        let losses = SslLosses {
            total: scalar(total.clone().inner()),
            recon: scalar(recon.inner()),
            contrastive: scalar(contrastive.inner()),
        };
        if !losses.total.is_finite() {
            return Err(Error::Training(format!(
                "the loss is not finite (total {:e}, reconstruction {:e}, contrastive {:e}); the model is \
                 left at its last good state",
                losses.total, losses.recon, losses.contrastive
            )));
        }
        let grads = GradientsParams::from_grads(total.backward(), &self.model);
        self.model = self.optim.step(self.lr, self.model.clone(), grads);
        Ok(losses)
    }

    /// Validation L1 of view 1 against the clean crop, without gradients.
    pub fn validate(&self, batch: &BTreeMap<String, Array5<f32>>) -> Result<f64> {
        let model = self.model.valid();
        let device = model.vit.norm.gamma.val().device();
        let (out, _) = model.forward(to_tensor(batch, "image", &device)?);
        Ok(scalar(l1_loss(out, to_tensor(batch, "gt_image", &device)?)))
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::Param;
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::networks::{VitAutoEncConfig, VitConfig};

    type A = Autodiff<Flex>;

    /// The tutorial's form: one network call per view.
    fn two_calls(
        model: &VitAutoEnc<A>,
        view1: Tensor<A, 5>,
        view2: Tensor<A, 5>,
        gt: Tensor<A, 5>,
    ) -> Tensor<A, 1> {
        let (out1, _) = model.forward(view1);
        let (out2, _) = model.forward(view2);
        let recon = l1_loss(out1.clone(), gt);
        let contrastive = contrastive_loss(out1.flatten::<2>(1, 4), out2.flatten::<2>(1, 4), 0.05);
        ssl_total_loss(recon, contrastive)
    }

    fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn both_views_in_one_pass_give_the_tutorials_losses_and_gradients() {
        let dev = Default::default();
        let vit = VitConfig::new()
            .with_img_size([16, 16, 16])
            .with_patch_size([4, 4, 4])
            .with_hidden_size(24)
            .with_mlp_dim(48)
            .with_num_layers(2)
            .with_num_heads(4);
        let model = VitAutoEncConfig::new(vit)
            .with_deconv_chns(4)
            .init::<A>(&dev);
        let crops = || Tensor::<A, 5>::random([3, 1, 16, 16, 16], Distribution::Default, &dev);
        let (view1, view2, gt) = (crops(), crops(), crops());

        let (ours, _, _) = ssl_losses(&model, view1.clone(), view2.clone(), gt.clone(), 0.05);
        let theirs = two_calls(&model, view1, view2, gt);
        let loss_diff = max_rel_diff(
            &values(ours.clone().inner()),
            &values(theirs.clone().inner()),
        );
        assert!(loss_diff < 1e-6, "loss: {loss_diff:e}");

        let (ours, theirs) = (ours.backward(), theirs.backward());
        let weights: [(&str, &Param<Tensor<A, 5>>); 2] = [
            (
                "patch embedding",
                &model.vit.patch_embedding.patch_embeddings.weight,
            ),
            ("last transposed conv", &model.conv3d_transpose_1.weight),
        ];
        for (name, w) in weights {
            let diff = max_rel_diff(
                &values(w.grad(&ours).expect("tracked")),
                &values(w.grad(&theirs).expect("tracked")),
            );
            assert!(diff < 1e-5, "{name}: {diff:e}");
        }
        let mlp = &model.vit.blocks[1].mlp.linear1.weight;
        let diff = max_rel_diff(
            &values(mlp.grad(&ours).expect("tracked")),
            &values(mlp.grad(&theirs).expect("tracked")),
        );
        assert!(diff < 1e-5, "block 2 MLP: {diff:e}");
    }
}
