//! `ssl-bench`: speed of the full-size tutorial networks — forward, forward+backward and one
//! training step (the tutorial's losses and optimisers) at 96³ — on the chosen device; and
//! `--model parity`, the device's agreement with the CPU on tiny models; `--model
//! checkpoint-parity`, the same for a saved checkpoint; `--model sliding-window`, fine-tuning's
//! validation inference over one preprocessed CT; `--model all-reduce --nproc N`, the
//! data-parallel run's gradient all-reduce.

use burn::backend::Flex;
use burn::tensor::backend::AutodiffBackend;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

use ssl3d::bench::all_reduce::{time_all_reduce, vit_autoenc_parameters};
use ssl3d::bench::checkpoint_parity::checkpoint_parity;
use ssl3d::bench::device_parity::device_parity;
use ssl3d::bench::networks::{Subject, time_network};
use ssl3d::bench::segmentation_inference::{
    BTCV_VOLUME, label_agreement, score_difference, unetr_sliding_window,
};
use ssl3d::cli::{DeviceArgs, run};
use ssl3d::device::OnBackend;
use ssl3d::distributed::{LaunchArgs, World};
use ssl3d::kernels::precision::precision;
use ssl3d::kernels::{generic_ops_only, is_cpu_backend};
use ssl3d::{Error, Result};

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
    /// UNETR's largest up-sampling (transposed convolution 32→16, kernel = stride = 2, 48³ →
    /// 96³): forward, and forward + backward through ssl3d's and through Burn's own.
    TransposedConv,
    /// The fine-tuning loss alone (DiceCE with softmax and one-hot labels, 14 classes at 96³):
    /// forward, and forward + backward to the logits.
    DiceCe,
    /// MONAI's DynUNet as nnU-Net plans it for --size³ crops (14 classes): step = DiceCE, AdamW.
    Dynunet,
    /// MONAI's SegResNet (16 filters, blocks 1, 2, 2, 4 / 1, 1, 1; 14 classes): step = DiceCE,
    /// AdamW.
    Segresnet,
    /// MONAI's SwinUNETR as the BTCV Swin UNETR tutorial builds it (feature size 48, 14 classes;
    /// --size a multiple of 32): step = DiceCE, AdamW.
    SwinUnetr,
    /// ConVIRT's training step (ResNet-50 on --size² RGB images, BERT-base on 24 tokens per
    /// image, layers 0-5 frozen, projections to 512, Adam); the reference's batch is 32.
    Convirt,
    /// Not a timing: tiny ViTAutoEnc and UNETR on --device against the CPU (same weights and
    /// inputs): outputs, losses and every gradient norm, as JSON. On `cpu` the device side runs
    /// Burn's generic ops, the code path CUDA takes.
    Parity,
    /// Not a timing: the native checkpoint --checkpoint (`model.mpk` with `model.config.json`
    /// beside it) loaded on the CPU and on --device, one forward pass each over the same crop,
    /// outputs compared, as JSON.
    CheckpointParity,
    /// Fine-tuning's validation: the tutorial's UNETR over one preprocessed CT (--volume) with the
    /// tutorial's sliding window (96³, 4 windows per batch, overlap 0.25), blended on the CPU.
    SlidingWindow,
    /// Data-parallel: the mean of the full-size ViTAutoEnc's gradients (one flat tensor of its
    /// parameter count) over --nproc processes on this machine with --all-reduce's strategy,
    /// seconds per all-reduce (CPU tensors; JSON from rank 0). Needs --features distributed.
    AllReduce,
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
    /// Timed repetitions after two warm-ups.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Crop edge in voxels, the sliding window's too (the tutorials: 96; a multiple of 16; small
    /// sizes for quick checks).
    #[arg(long, default_value_t = 96)]
    size: usize,
    /// `checkpoint-parity`: the `.mpk` file to load.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// `sliding-window`: the volume's size in voxels (default: a 512×512×120 CT of
    /// 0.76×0.76×3 mm after BTCV's 1.5×1.5×2 mm resampling).
    #[arg(long, value_delimiter = ',', default_values_t = BTCV_VOLUME)]
    volume: Vec<usize>,
    /// `sliding-window`: also run it once on the CPU with the same weights and report the share
    /// of voxels whose label (argmax) agrees.
    #[arg(long)]
    compare_cpu: bool,
    /// Print one JSON object instead of the sentence.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: DeviceArgs,
    /// `all-reduce`: the processes (--nproc) and how they sum (--all-reduce).
    #[command(flatten)]
    launch: LaunchArgs,
}

impl OnBackend for &Args {
    type Output = ();
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> Result<()> {
        let subject = match self.model {
            Model::Vitautoenc => Subject::VitAutoEnc,
            Model::Unetr => Subject::Unetr,
            Model::Conv => Subject::Conv,
            Model::TransposedConv => Subject::TransposedConv,
            Model::DiceCe => Subject::DiceCe,
            Model::Dynunet => Subject::DynUnet,
            Model::Segresnet => Subject::SegResNet,
            Model::SwinUnetr => Subject::SwinUnetr,
            Model::Convirt => Subject::Convirt,
            Model::Parity => {
                let report = device_parity::<B>(device, &self.device.device.to_string())?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("numbers and strings serialise")
                );
                return Ok(());
            }
            Model::CheckpointParity => {
                let Some(path) = &self.checkpoint else {
                    return Err(Error::InvalidArgument(
                        "--model checkpoint-parity needs --checkpoint FILE.mpk".into(),
                    ));
                };
                let name = self.device.device.to_string();
                let report = checkpoint_parity::<B::InnerBackend>(path, device, &name)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("numbers and strings serialise")
                );
                return Ok(());
            }
            Model::SlidingWindow => {
                self.check_size()?;
                return self.sliding_window::<B>(device);
            }
            Model::AllReduce => return self.all_reduce(),
        };
        self.check_size()?;
        let (batch, size, repeat) = (self.batch, self.size, self.repeat);
        let t = time_network::<B>(subject, batch, size, repeat, device);
        let device = self.device.device;
        if self.json {
            let line = serde_json::json!({
                "model": format!("{:?}", self.model).to_lowercase(),
                "batch": batch,
                "size": size,
                "repeat": repeat,
                "device": device.to_string(),
                "generic_ops": generic_ops_only() || !is_cpu_backend::<B>(),
                "precision": precision().to_string(),
                "forward_s": t.forward,
                "forward_backward_s": t.forward_backward,
                "step_s": t.step,
                "burn_forward_backward_s": t.burn_forward_backward,
            });
            println!("{line}");
            return Ok(());
        }
        let (fwd, fwd_bwd) = (t.forward, t.forward_backward);
        match (subject, t.step, t.burn_forward_backward) {
            (Subject::Conv, _, Some(burns)) => println!(
                "Conv3d 16->16 3^3 at {size}^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (ssl3d) / {burns:.3} s (Burn's default){} (median of {repeat})",
                if t.own_backward {
                    ""
                } else {
                    " (same path on this backend)"
                },
            ),
            (Subject::TransposedConv, _, Some(burns)) => println!(
                "ConvTranspose3d 32->16 k2 s2 {}^3->{size}^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (ssl3d) / {burns:.3} s (Burn's default) (median of {repeat})",
                size / 2
            ),
            (Subject::Convirt, Some(step), _) => println!(
                "ConVIRT (ResNet-50 {size}^2, BERT-base {} tokens) batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s, training step {step:.3} s (median of {repeat})",
                ssl3d::bench::convirt::TOKENS
            ),
            (_, Some(step), _) => println!(
                "{:?} {size}^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s, training step {step:.3} s (median of {repeat})",
                self.model
            ),
            _ => println!(
                "DiceCE 14x{size}^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (median of {repeat})"
            ),
        }
        Ok(())
    }
}

impl Args {
    /// `--model all-reduce`: started by the launcher, each process times the all-reduce; rank 0
    /// prints.
    fn all_reduce(&self) -> Result<()> {
        let Some(world) = World::from_env()? else {
            return Err(Error::InvalidArgument(
                "--model all-reduce needs --nproc 2 or more (and --features distributed)".into(),
            ));
        };
        let writes = world.writes();
        let floats = vit_autoenc_parameters();
        let t = time_all_reduce(world, floats, self.repeat)?;
        if writes && self.json {
            println!("{}", serde_json::to_string(&t).expect("numbers serialise"));
        } else if writes {
            println!(
                "all-reduce of {} floats ({:.0} MB, the ViTAutoEnc's gradients) over {} processes, {}: {:.3} s (median of {}), {:.2} GB/s",
                t.floats,
                t.megabytes,
                t.processes,
                t.strategy,
                t.median_s,
                self.repeat,
                t.gigabytes_per_s
            );
        }
        Ok(())
    }

    fn check_size(&self) -> Result<()> {
        if self.size == 0 || !self.size.is_multiple_of(16) {
            return Err(Error::InvalidArgument(format!(
                "--size {}: the networks need a positive multiple of 16 (their patches are 16³)",
                self.size
            )));
        }
        Ok(())
    }

    /// `--model sliding-window`: times it and prints the sentence or the JSON line.
    fn sliding_window<B: AutodiffBackend>(&self, device: &B::Device) -> Result<()> {
        let volume: [usize; 3] = self
            .volume
            .clone()
            .try_into()
            .map_err(|_| Error::InvalidArgument("--volume takes three sizes: X,Y,Z".into()))?;
        if volume.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "--volume {volume:?}: every size must be positive"
            )));
        }
        let run = unetr_sliding_window::<B::InnerBackend>(volume, self.size, self.repeat, device)?;
        // The same network on the CPU, once: which share of the voxels gets the same label.
        let (agreement, score_diff) = if self.compare_cpu {
            let cpu = unetr_sliding_window::<Flex>(volume, self.size, 1, &Default::default())?;
            let (diff, scale) = score_difference(&cpu, &run);
            (
                Some(label_agreement(&run.labels(), &cpu.labels())),
                Some(serde_json::json!({"max_abs_diff": diff, "scale": scale})),
            )
        } else {
            (None, None)
        };
        let (windows, seconds) = (run.windows, run.seconds);
        let device = self.device.device;
        if self.json {
            let line = serde_json::json!({
                "model": "sliding-window",
                "volume": volume,
                "window": self.size,
                "windows": windows,
                "repeat": self.repeat,
                "device": device.to_string(),
                "precision": precision().to_string(),
                "seconds": seconds,
                "cpu_label_agreement": agreement,
                "cpu_scores": score_diff,
            });
            println!("{line}");
        } else {
            println!(
                "UNETR sliding window over {volume:?} ({windows} windows of {}^3, sw batch 4, overlap 0.25) on {device}: {seconds:.3} s (median of {}){}",
                self.size,
                self.repeat,
                agreement.map_or(String::new(), |a| format!(
                    "; labels equal the CPU's on {:.4} % of voxels",
                    100.0 * a
                ))
            );
        }
        Ok(())
    }
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        if matches!(args.model, Model::AllReduce) && args.launch.launches() {
            std::process::exit(args.launch.launch()?);
        }
        args.device.run(&args)
    });
}
