//! `ssl-finetune`: UNETR fine-tuning on BTCV with a pretrained or random backbone.

use clap::Parser;
use ssl3d::cli::{RunArgs, run};
use ssl3d::networks::checkpoint::transfer_backbone;
use ssl3d::networks::pretrained::read_pretrained;
use ssl3d::train::{FinetuneConfig, FinetuneRun, Init, finetune, init_unetr};
use ssl3d::{DeviceSpec, Error};

/// Fine-tune a UNETR for 13-organ abdominal segmentation (BTCV) from a pretrained ViT backbone or
/// from random initialisation, and report Dice and HD95 per organ.
///
/// Writes to --logdir: config.json, metrics.jsonl, finetune_plots.png, best_metric_model.mpk (+
/// .config.json) and best_metric_model.safetensors (MONAI key names), report.json, report.md,
/// transfer_report.json (with --pretrained), predictions/ (with --save-predictions) and
/// checkpoints/ (resume with --resume). Collect runs into the tutorial's table with `ssl-report`.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
// Exactly one initialisation, so nobody fine-tunes from random weights by accident.
#[command(group(clap::ArgGroup::new("init").required(true).args(["pretrained", "random_init", "print_config"])))]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Pretrained backbone: ssl-pretrain's best_model.safetensors (or its run folder, or an .mpk
    /// checkpoint), or MONAI's best_model.pt.
    #[arg(long, conflicts_with = "random_init")]
    pretrained: Option<std::path::PathBuf>,
    /// Start from random weights (the tutorial's baseline).
    #[arg(long)]
    random_init: bool,
    /// Write the best model's validation predictions as label maps in each original image's grid
    /// (same shape and affine as the CT), under <logdir>/predictions/.
    #[arg(long)]
    save_predictions: bool,
    /// Print the effective configuration (defaults, --config, --set, --seed) as JSON and exit.
    #[arg(long)]
    print_config: bool,
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn job<B: burn::tensor::backend::AutodiffBackend>(
    args: &Args,
    cfg: &FinetuneConfig,
    run: &FinetuneRun,
    device: &B::Device,
) -> ssl3d::Result<ssl3d::train::FinetuneReport> {
    let mut model = init_unetr::<B>(&cfg.model, cfg.seed, device);
    let init = match &args.pretrained {
        None => Init::Random,
        Some(p) => {
            let (file, tensors) = read_pretrained(p)?;
            let report = transfer_backbone(&mut model, &tensors)
                .map_err(|e| Error::bad_file(&file, e.to_string()))?;
            eprintln!(
                "pretrained backbone from {}: {}",
                file.display(),
                report.summary()
            );
            Init::Pretrained { path: file, report }
        }
    };
    finetune::<B>(cfg, run, &init, model, device)
}

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        let cfg: FinetuneConfig = args.run.layered()?;
        if args.print_config {
            println!(
                "{}",
                serde_json::to_string_pretty(&cfg).expect("configs serialise")
            );
            return Ok(());
        }
        let device = args.run.device.device;
        let inputs = args.run.inputs(true)?;
        let logdir = inputs.logdir.clone();
        let run = FinetuneRun {
            train: inputs.train,
            validation: inputs.validation,
            logdir: inputs.logdir,
            resume: args.run.resume,
            device_name: device.to_string(),
            datalist: inputs.datalist,
            save_predictions: args.save_predictions,
        };
        let report = match device {
            DeviceSpec::Cpu => job::<burn::backend::Autodiff<burn::backend::Flex>>(
                &args,
                &cfg,
                &run,
                &Default::default(),
            )?,
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(n) => job::<burn::backend::Autodiff<burn::backend::Cuda>>(
                &args,
                &cfg,
                &run,
                &burn::backend::cuda::CudaDevice::new(n),
            )?,
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => unreachable!("check_available refuses CUDA in this build"),
        };
        let best = report.best.as_ref();
        eprintln!(
            "done: {} steps in {:.0} s; best Dice {} (tutorial) / {} (13 organs) at iteration {}; see {}/report.md",
            report.steps,
            report.wall_s,
            best.map_or("-".into(), |v| format!("{:.4}", v.tutorial_dice)),
            best.map_or("-".into(), |v| format!("{:.4}", v.foreground_dice)),
            report.best_iteration.map_or("-".into(), |i| i.to_string()),
            logdir.display()
        );
        Ok(())
    });
}
