//! `ssl-pretrain`: self-supervised pretraining on unlabelled CT: the tutorial's ViTAutoEnc
//! (MONAI's `ssl_train`), or a CNN's restoration.

use burn::tensor::backend::AutodiffBackend;
use clap::Parser;
use ssl3d::cli::{RunArgs, run};
use ssl3d::device::OnBackend;
use ssl3d::networks::NetworkKind;
use ssl3d::report::PretrainSummary;
use ssl3d::train::{PretrainConfig, RunSpec, pretrain};

/// Self-supervised pretraining of a ViT backbone (ViTAutoEnc) on unlabelled CT volumes, with
/// in-painting, out-painting and local pixel shuffling views, L1 reconstruction and contrastive loss;
/// or, with --network dynunet|segresnet, of a CNN that restores the clean crop from the same views
/// (L1); or, with --network swin_unetr (alias --model swin), of Swin UNETR's encoder with the
/// rotation, contrastive and in-painting reconstruction heads of Tang et al. (CVPR 2022).
///
/// Writes to --logdir: config.json (the effective configuration), metrics.jsonl and
/// events.out.tfevents.ssl3d (TensorBoard), loss_plots.png, best_model.mpk (+ .config.json) and
/// best_model.safetensors (MONAI key names), summary.json and checkpoints/ (resume with --resume).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Print the effective configuration (defaults, --config, --set, --seed) as JSON and exit.
    #[arg(long)]
    print_config: bool,
    /// What to pretrain (the config's `network`): `unetr`, the tutorial's ViTAutoEnc whose
    /// backbone UNETR fine-tunes from, a CNN restoring the crop, `dynunet` (nnU-Net's plan
    /// for the crop unless the config's `dynunet` says otherwise) or `segresnet`, which the same
    /// network fine-tunes from, or `swin_unetr`: Swin UNETR's encoder with the rotation,
    /// contrastive and reconstruction heads of Tang et al. (the config's `swin_ssl`).
    #[arg(long, value_enum, alias = "model")]
    network: Option<NetworkKind>,
}

// Large buffers are allocated and freed every item and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Pretraining {
    cfg: PretrainConfig,
    spec: RunSpec,
}

impl OnBackend for &Pretraining {
    type Output = PretrainSummary;
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> ssl3d::Result<PretrainSummary> {
        pretrain::<B>(&self.cfg, &self.spec, device)
    }
}

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        let make = |cfg, spec| Pretraining { cfg, spec };
        let run_args = args.run.with_network(args.network);
        let Some(job) = run_args.job(args.print_config, false, make)? else {
            return Ok(());
        };
        if args.run.launch.launches() {
            std::process::exit(args.run.launch.launch()?);
        }
        let summary = args.run.device.for_this_rank()?.run(&job)?;
        let best = match (summary.best_val_l1, summary.best_epoch) {
            (Some(l1), Some(epoch)) => format!("best validation L1 {l1:.4} (epoch {epoch})"),
            _ => "no best model: no validation went below the tutorial's starting value of 1000"
                .to_string(),
        };
        // Rank 0 speaks for a data-parallel run.
        if job.spec.writes() {
            eprintln!(
                "done: {} epochs, {} steps in {:.1} s; {best}; see {}",
                summary.epochs,
                summary.steps,
                summary.wall_s,
                job.spec.logdir.display()
            );
        }
        Ok(())
    });
}
