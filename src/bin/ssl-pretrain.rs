//! `ssl-pretrain`: self-supervised ViTAutoEnc pretraining on unlabelled CT (MONAI's `ssl_train`).

use clap::Parser;
use ssl3d::DeviceSpec;
use ssl3d::cli::{RunArgs, run};
use ssl3d::train::{PretrainConfig, PretrainRun, pretrain};

/// Self-supervised pretraining of a ViT backbone (ViTAutoEnc) on unlabelled CT volumes, with
/// in-painting, out-painting and local pixel shuffling views, L1 reconstruction and contrastive loss.
///
/// Writes to --logdir: config.json (the effective configuration), metrics.jsonl, loss_plots.png,
/// best_model.mpk (+ .config.json) and best_model.safetensors (MONAI key names), summary.json and
/// checkpoints/ (resume with --resume).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Print the effective configuration (defaults, --config, --set, --seed) as JSON and exit.
    #[arg(long)]
    print_config: bool,
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        let cfg: PretrainConfig = args.run.layered()?;
        if args.print_config {
            println!(
                "{}",
                serde_json::to_string_pretty(&cfg).expect("configs serialise")
            );
            return Ok(());
        }
        let device = args.run.device.device;
        let inputs = args.run.inputs(false)?;
        let logdir = inputs.logdir.clone();
        let job = PretrainRun {
            train: inputs.train,
            validation: inputs.validation,
            logdir: inputs.logdir,
            resume: args.run.resume,
            device_name: device.to_string(),
        };
        let summary = match device {
            DeviceSpec::Cpu => pretrain::<burn::backend::Autodiff<burn::backend::Flex>>(
                &cfg,
                &job,
                &Default::default(),
            )?,
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(n) => pretrain::<burn::backend::Autodiff<burn::backend::Cuda>>(
                &cfg,
                &job,
                &burn::backend::cuda::CudaDevice::new(n),
            )?,
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => unreachable!("check_available refuses CUDA in this build"),
        };
        eprintln!(
            "done: {} epochs, {} steps in {:.1} s; best validation L1 {:.4} (epoch {}); see {}",
            summary.epochs,
            summary.steps,
            summary.wall_s,
            summary.best_val_l1,
            summary.best_epoch.map_or("-".into(), |e| e.to_string()),
            logdir.display()
        );
        Ok(())
    });
}
