//! `ssl-finetune`: UNETR fine-tuning on BTCV with a pretrained or random backbone.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use clap::Parser;
use ssl3d::cli::{RunArgs, run};
use ssl3d::device::OnBackend;
use ssl3d::networks::NetworkKind;
use ssl3d::report::FinetuneReport;
use ssl3d::train::{FinetuneConfig, RunSpec, finetune_network};

/// Fine-tune a UNETR for 13-organ abdominal segmentation (BTCV) from a pretrained ViT backbone or
/// from random initialisation, and report Dice and HD95 per organ.
///
/// Writes to --logdir: config.json, metrics.jsonl and events.out.tfevents.ssl3d (TensorBoard),
/// finetune_plots.png, best_metric_model.mpk (+ .config.json) and best_metric_model.safetensors
/// (MONAI key names), report.json, report.md, transfer_report.json (with --pretrained),
/// predictions/ (with --save-predictions) and checkpoints/ (resume with --resume). Collect runs
/// into the tutorial's table with `ssl-report`.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
// Exactly one initialisation, so nobody fine-tunes from random weights by accident.
#[command(group(clap::ArgGroup::new("init").required(true).args(["pretrained", "random_init", "print_config"])))]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Pretrained backbone: ssl-pretrain's best_model.safetensors (or its run folder, or an .mpk
    /// checkpoint), or MONAI's best_model.pt; for swin_unetr a Swin backbone in any published
    /// layout (model_swinvit.pt, an SSLHead or SwinUNETR state dict).
    #[arg(long, conflicts_with = "random_init")]
    pretrained: Option<PathBuf>,
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
    /// The network to fine-tune (the config's `network`): the tutorial's `unetr`, the CNN
    /// baselines `dynunet` (nnU-Net's plan for the crop unless the config's `dynunet` says
    /// otherwise) and `segresnet`, or `swin_unetr` (the BTCV Swin UNETR tutorial's, which takes
    /// the published self-supervised backbone, e.g. model_swinvit.pt, through --pretrained).
    #[arg(long, value_enum, alias = "model")]
    network: Option<NetworkKind>,
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Finetuning<'a> {
    args: &'a Args,
    cfg: FinetuneConfig,
    spec: RunSpec,
}

impl OnBackend for &Finetuning<'_> {
    type Output = FinetuneReport;
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> ssl3d::Result<FinetuneReport> {
        finetune_network::<B>(
            &self.cfg,
            &self.spec,
            self.args.pretrained.as_deref(),
            self.args.save_predictions,
            device,
        )
    }
}

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        let make = |cfg, spec| Finetuning {
            args: &args,
            cfg,
            spec,
        };
        let run_args = args.run.with_network(args.network);
        let Some(job) = run_args.job(args.print_config, true, make)? else {
            return Ok(());
        };
        if args.run.launch.launches() {
            std::process::exit(args.run.launch.launch()?);
        }
        let report = args.run.device.for_this_rank()?.run(&job)?;
        let best = report.best.as_ref();
        // Rank 0 speaks for a data-parallel run.
        if job.spec.writes() {
            eprintln!(
                "done: {} steps in {:.0} s; best Dice {} (tutorial) / {} (13 organs) at iteration {}; see {}/report.md",
                report.steps,
                report.wall_s,
                best.map_or("-".into(), |v| format!("{:.4}", v.tutorial_dice)),
                best.map_or("-".into(), |v| format!("{:.4}", v.foreground_dice)),
                report.best_iteration.map_or("-".into(), |i| i.to_string()),
                job.spec.logdir.display()
            );
        }
        Ok(())
    });
}
