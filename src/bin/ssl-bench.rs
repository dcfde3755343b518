//! `ssl-bench`: speed of the full-size tutorial networks — forward, forward+backward and one
//! training step (the tutorial's losses and optimisers) at 96³ — on the chosen device.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use clap::{Parser, ValueEnum};
use ssl3d::cli::{DeviceArgs, run};
use ssl3d::losses::DiceCeLossConfig;
use ssl3d::networks::{UnetrConfig, VitAutoEncConfig};
use ssl3d::train::fused_adam::{FusedAdam, FusedAdamW};
use ssl3d::train::ssl_step::ssl_losses;
use ssl3d::{DeviceSpec, Result};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Model {
    /// The SSL tutorial's ViTAutoEnc: step = two views (one pass of 2·batch crops, as the trainer
    /// runs them), L1 + contrastive·L1, Adam.
    Vitautoenc,
    /// The fine-tuning tutorial's UNETR (14 classes): step = DiceCE, AdamW.
    Unetr,
    /// One of UNETR's full-resolution convolutions (16→16, 3³, 96³): forward, and forward +
    /// backward through ssl3d's convolution and through Burn's own.
    Conv,
    /// The fine-tuning loss alone (DiceCE with softmax and one-hot labels, 14 classes at 96³):
    /// forward, and forward + backward to the logits.
    DiceCe,
}

/// Time the full-size tutorial networks at 96³.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[arg(long, value_enum)]
    model: Model,
    /// Crops per step (the tutorials: 8 for ViTAutoEnc, 4 for UNETR; 1 for the CPU anchors).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed repetitions after one warm-up.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

/// The median; the mean of the two middle values for an even count (as Python's `statistics`).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `f` twice to warm up and `repeat` times timed; `f` must block until its work is done.
/// Two warm-ups, because a training step only reaches its steady state on the second run: the
/// first creates the optimiser's moments, the second is the first to hold them and the
/// activations together, and pays for growing the process's memory to that peak.
fn time(repeat: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    median(
        (0..repeat.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn bench<B: AutodiffBackend>(args: &Args, device: &B::Device) -> Result<()> {
    let shape = [args.batch, 1, 96, 96, 96];
    let x = || Tensor::<B, 5>::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let sync = |t: Tensor<B, 1>| {
        let _ = t.into_data();
    };
    let (fwd, fwd_bwd, step) = match args.model {
        Model::Conv => return bench_conv::<B>(args, device),
        Model::DiceCe => return bench_dice_ce::<B>(args, device),
        Model::Vitautoenc => {
            let mut model = VitAutoEncConfig::tutorial().init::<B>(device);
            let mut optim = FusedAdam::new(1e-8).init();
            let inference = model.valid();
            let fwd = time(args.repeat, || {
                let (y, _) = inference.forward(x().inner());
                let _ = y.sum().into_data();
            });
            // The trainer's own losses: both views in one pass (`ssl3d::train::ssl_step`).
            let loss = |m: &ssl3d::networks::VitAutoEnc<B>| ssl_losses(m, x(), x(), x(), 0.05).0;
            let fwd_bwd = time(args.repeat, || {
                let g = loss(&model).backward();
                drop(g);
            });
            let step = time(args.repeat, || {
                let l = loss(&model);
                let grads = GradientsParams::from_grads(l.clone().backward(), &model);
                model = optim.step(1e-4, model.clone(), grads);
                sync(l);
            });
            (fwd, fwd_bwd, step)
        }
        Model::Unetr => {
            let mut model = UnetrConfig::tutorial().init::<B>(device);
            let mut optim = FusedAdamW::new(1e-8, 1e-5).init();
            let labels =
                || Tensor::<B, 5>::random(shape, Distribution::Uniform(0.0, 14.0), device).floor();
            let inference = model.valid();
            let fwd = time(args.repeat, || {
                let _ = inference.forward(x().inner()).sum().into_data();
            });
            let loss_fn = DiceCeLossConfig::tutorial();
            let fwd_bwd = time(args.repeat, || {
                let g = loss_fn.forward(model.forward(x()), labels()).backward();
                drop(g);
            });
            let step = time(args.repeat, || {
                let l = loss_fn.forward(model.forward(x()), labels());
                let grads = GradientsParams::from_grads(l.clone().backward(), &model);
                model = optim.step(1e-4, model.clone(), grads);
                sync(l);
            });
            (fwd, fwd_bwd, step)
        }
    };
    println!(
        "{:?} 96^3 batch {} on {}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s, training step {step:.3} s (median of {})",
        args.model, args.batch, args.device.device, args.repeat
    );
    Ok(())
}

fn bench_dice_ce<B: AutodiffBackend>(args: &Args, device: &B::Device) -> Result<()> {
    let shape = [args.batch, 14, 96, 96, 96];
    let logits = Tensor::<B, 5>::random(shape, Distribution::Uniform(-3.0, 3.0), device);
    let labels = Tensor::<B, 5>::random(
        [args.batch, 1, 96, 96, 96],
        Distribution::Uniform(0.0, 14.0),
        device,
    )
    .floor();
    let loss_fn = DiceCeLossConfig::tutorial();
    let fwd = time(args.repeat, || {
        let _ = loss_fn
            .forward(logits.clone().inner(), labels.clone().inner())
            .into_data();
    });
    let fwd_bwd = time(args.repeat, || {
        let g = loss_fn
            .forward(logits.clone().require_grad(), labels.clone())
            .backward();
        drop(g);
    });
    println!(
        "DiceCE 14x96^3 batch {} on {}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (median of {})",
        args.batch, args.device.device, args.repeat
    );
    Ok(())
}

fn bench_conv<B: AutodiffBackend>(args: &Args, device: &B::Device) -> Result<()> {
    let conv =
        ssl3d::networks::blocks::dynunet_block::Convolution::<B>::new([16, 16], 3, false, device);
    // One input for every repetition, so the timings hold the convolution and not the sampling.
    let input = Tensor::<B, 5>::random(
        [args.batch, 16, 96, 96, 96],
        Distribution::Uniform(-1.0, 1.0),
        device,
    );
    let x = || input.clone();
    let fwd = time(args.repeat, || {
        let _ = conv.forward(x()).sum().into_data();
    });
    let ours = time(args.repeat, || {
        let g = conv.forward(x().require_grad()).sum().backward();
        drop(g);
    });
    let burns = time(args.repeat, || {
        let g = conv.conv.forward(x().require_grad()).sum().backward();
        drop(g);
    });
    println!(
        "Conv3d 16->16 3^3 at 96^3 batch {} on {}: forward {fwd:.3} s, forward+backward {ours:.3} s (ssl3d) / {burns:.3} s (Burn's default){} (median of {})",
        args.batch,
        args.device.device,
        if ssl3d::networks::conv::uses_fast_backward::<B>() {
            ""
        } else {
            " (same path on this backend)"
        },
        args.repeat
    );
    Ok(())
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        args.device.device.check_available()?;
        match args.device.device {
            DeviceSpec::Cpu => {
                bench::<burn::backend::Autodiff<burn::backend::Flex>>(&args, &Default::default())
            }
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(n) => bench::<burn::backend::Autodiff<burn::backend::Cuda>>(
                &args,
                &burn::backend::cuda::CudaDevice::new(n),
            ),
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => Err(ssl3d::Error::NotImplemented("CUDA in this build".into())),
        }
    });
}
