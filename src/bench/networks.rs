//! The full-size tutorial networks (and the CNN baselines) at 96³ on any backend: forward, forward + backward and one
//! training step with the tutorials' losses and optimisers (what `ssl-bench` prints;
//! `scripts/bench/monai_networks.py` times the same in PyTorch + MONAI).

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};

use super::timing::{Times, time_steady};
use crate::losses::DiceCeLossConfig;
use crate::networks::blocks::dynunet_block::{Convolution, TransposedConvolution};
use crate::networks::{
    DynUnetConfig, SegResNetConfig, SwinUnetrConfig, UnetrConfig, VitAutoEnc, VitAutoEncConfig,
};
use crate::train::ssl_step::ssl_losses;
use ssl3d_kernels::conv::uses_fast_backward;
use ssl3d_kernels::fused_adam::{FusedAdam, FusedAdamW};

/// What to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The SSL tutorial's ViTAutoEnc: step = two views (one pass of 2·batch crops, as the trainer
    /// runs them), L1 + contrastive·L1, Adam.
    VitAutoEnc,
    /// The fine-tuning tutorial's UNETR (14 classes): step = DiceCE, AdamW.
    Unetr,
    /// One of UNETR's full-resolution convolutions (16→16, 3³, 96³): forward, and forward +
    /// backward through ssl3d's convolution and through Burn's own.
    Conv,
    /// UNETR's largest up-sampling (a transposed convolution 32→16, kernel = stride = 2, 48³ →
    /// 96³, no bias): forward, and forward + backward through ssl3d's and through Burn's own.
    TransposedConv,
    /// The fine-tuning loss alone (DiceCE with softmax and one-hot labels, 14 classes at 96³).
    DiceCe,
    /// MONAI's DynUNet as nnU-Net plans it for the crop (14 classes, plain blocks, no deep
    /// supervision): step = DiceCE, AdamW, as UNETR's.
    DynUnet,
    /// MONAI's SegResNet (16 filters, blocks 1, 2, 2, 4 / 1, 1, 1, 14 classes): step = DiceCE,
    /// AdamW, as UNETR's.
    SegResNet,
    /// MONAI's SwinUNETR as the BTCV Swin UNETR tutorial builds it (feature size 48, 14 classes,
    /// v1): step = DiceCE, AdamW, as UNETR's.
    SwinUnetr,
    /// ConVIRT's two towers (ResNet-50 on `size²` RGB images, BERT-base on one sentence each):
    /// step = the ConVIRT loss, Adam (`super::convirt`).
    Convirt,
}

/// Times `subject` at `batch` crops of `size³` (the tutorials: 96) with `repeat` timed runs.
pub fn time_network<B: AutodiffBackend>(
    subject: Subject,
    batch: usize,
    size: usize,
    repeat: usize,
    device: &B::Device,
) -> Times {
    let shape = [batch, 1, size, size, size];
    let x = || Tensor::<B, 5>::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let labels = || Tensor::<B, 5>::random(shape, Distribution::Uniform(0.0, 14.0), device).floor();
    // Reading the loss, then waiting for the device: a backward pass and an optimiser step only
    // queue their kernels on an asynchronous device.
    let sync = |t: Tensor<B, 1>| {
        let _ = t.into_data();
        let _ = B::sync(device);
    };
    let mut times = Times {
        forward: 0.0,
        forward_backward: 0.0,
        step: None,
        burn_forward_backward: None,
        own_backward: false,
    };
    // The three segmentation networks share one timing; only their types differ.
    macro_rules! time_segmentation {
        ($model:expr) => {
            time_segmentation(
                &mut times,
                repeat,
                $model,
                |m, x| m.forward(x),
                |m, x| m.forward(x),
                x,
                labels,
                sync,
            )
        };
    }
    match subject {
        Subject::Convirt => return super::convirt::time_convirt::<B>(batch, size, repeat, device),
        Subject::VitAutoEnc => {
            let mut cfg = VitAutoEncConfig::tutorial();
            cfg.vit.img_size = [size; 3];
            let mut model = cfg.init::<B>(device);
            let mut optim = FusedAdam::new(1e-8).init();
            let inference = model.valid();
            times.forward = time_steady(repeat, || {
                let (y, _) = inference.forward(x().inner());
                let _ = y.sum().into_data();
            });
            // The trainer's own losses: both views in one pass (`train::ssl_step`).
            let loss = |m: &VitAutoEnc<B>| ssl_losses(m, x(), x(), x(), 0.05).0;
            times.forward_backward = time_steady(repeat, || {
                let l = loss(&model);
                drop(l.clone().backward());
                sync(l);
            });
            times.step = Some(time_steady(repeat, || {
                let l = loss(&model);
                let grads = GradientsParams::from_grads(l.clone().backward(), &model);
                model = optim.step(1e-4, model.clone(), grads);
                sync(l);
            }));
        }
        Subject::Unetr => {
            let mut cfg = UnetrConfig::tutorial();
            cfg.vit.img_size = [size; 3];
            let model = cfg.init::<B>(device);
            time_segmentation!(model);
        }
        Subject::DynUnet => {
            let model = DynUnetConfig::nnunet_plan([size; 3], 14).init::<B>(device);
            time_segmentation!(model);
        }
        Subject::SegResNet => {
            let model = SegResNetConfig::new().init::<B>(device);
            time_segmentation!(model);
        }
        Subject::SwinUnetr => {
            let model = SwinUnetrConfig::new().init::<B>(device);
            time_segmentation!(model);
        }
        Subject::DiceCe => {
            let logits = Tensor::<B, 5>::random(
                [batch, 14, size, size, size],
                Distribution::Uniform(-3.0, 3.0),
                device,
            );
            let labels = labels();
            let loss_fn = DiceCeLossConfig::tutorial();
            times.forward = time_steady(repeat, || {
                let l = loss_fn.forward(logits.clone().inner(), labels.clone().inner());
                let _ = l.into_data();
            });
            times.forward_backward = time_steady(repeat, || {
                let l = loss_fn.forward(logits.clone().require_grad(), labels.clone());
                drop(l.clone().backward());
                sync(l);
            });
        }
        Subject::Conv => {
            let conv = Convolution::<B>::new([16, 16], 3, false, device);
            let input = [batch, 16, size, size, size];
            time_layer(
                &mut times,
                repeat,
                input,
                device,
                |x| conv.forward(x),
                |x| conv.conv.forward(x),
            );
            times.own_backward = uses_fast_backward::<B>();
        }
        Subject::TransposedConv => {
            let up = TransposedConvolution::<B>::new([32, 16], device);
            let half = size / 2;
            let input = [batch, 32, half, half, half];
            time_layer(
                &mut times,
                repeat,
                input,
                device,
                |x| up.forward(x),
                |x| up.conv.forward(x),
            );
            times.own_backward = true;
        }
    }
    times
}

/// Times a segmentation network: forward (no autodiff), forward + backward through DiceCE, and
/// one training step with the tutorial's AdamW (lr 1e-4, weight decay 1e-5).
#[allow(clippy::too_many_arguments)]
fn time_segmentation<B: AutodiffBackend, M: AutodiffModule<B>>(
    times: &mut Times,
    repeat: usize,
    mut model: M,
    forward: impl Fn(&M, Tensor<B, 5>) -> Tensor<B, 5>,
    forward_inference: impl Fn(
        &M::InnerModule,
        Tensor<B::InnerBackend, 5>,
    ) -> Tensor<B::InnerBackend, 5>,
    x: impl Fn() -> Tensor<B, 5>,
    labels: impl Fn() -> Tensor<B, 5>,
    sync: impl Fn(Tensor<B, 1>),
) {
    let mut optim = FusedAdamW::new(1e-8, 1e-5).init();
    let inference = model.valid();
    times.forward = time_steady(repeat, || {
        let _ = forward_inference(&inference, x().inner()).sum().into_data();
    });
    let loss_fn = DiceCeLossConfig::tutorial();
    times.forward_backward = time_steady(repeat, || {
        let l = loss_fn.forward(forward(&model, x()), labels());
        drop(l.clone().backward());
        sync(l);
    });
    times.step = Some(time_steady(repeat, || {
        let l = loss_fn.forward(forward(&model, x()), labels());
        let grads = GradientsParams::from_grads(l.clone().backward(), &model);
        model = optim.step(1e-4, model.clone(), grads);
        sync(l);
    }));
}

/// Times one layer on one random input of `shape` (the same for every repetition, so the timings
/// hold the layer, not sampling): forward and forward + backward through ssl3d's call `ours`, and
/// forward + backward through Burn's own `burns`.
fn time_layer<B: AutodiffBackend>(
    times: &mut Times,
    repeat: usize,
    shape: [usize; 5],
    device: &B::Device,
    ours: impl Fn(Tensor<B, 5>) -> Tensor<B, 5>,
    burns: impl Fn(Tensor<B, 5>) -> Tensor<B, 5>,
) {
    let input = Tensor::<B, 5>::random(shape, Distribution::Uniform(-1.0, 1.0), device);
    let x = || input.clone();
    times.forward = time_steady(repeat, || {
        let _ = ours(x()).sum().into_data();
    });
    // A backward pass only queues its kernels on an asynchronous device: wait for them.
    let backward = |y: Tensor<B, 5>| {
        drop(y.sum().backward());
        let _ = B::sync(device);
    };
    times.forward_backward = time_steady(repeat, || backward(ours(x().require_grad())));
    times.burn_forward_backward = Some(time_steady(repeat, || backward(burns(x().require_grad()))));
}
