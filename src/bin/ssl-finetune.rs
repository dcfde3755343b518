//! `ssl-finetune`: UNETR fine-tuning on BTCV with a pretrained or random backbone.

use clap::Parser;
use ssl3d::Error;
use ssl3d::cli::{RunArgs, run};

/// Fine-tune a UNETR for 13-organ abdominal segmentation (BTCV) from a pretrained ViT backbone or
/// from random initialisation, and report Dice per organ.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
// Exactly one initialisation, so nobody fine-tunes from random weights by accident.
#[command(group(clap::ArgGroup::new("init").required(true).args(["pretrained", "random_init"])))]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Pretrained backbone: an ssl3d checkpoint, its safetensors export, or MONAI's best_model.pt.
    #[arg(long, conflicts_with = "random_init")]
    pretrained: Option<std::path::PathBuf>,
    /// Start from random weights (the tutorial's baseline).
    #[arg(long)]
    random_init: bool,
}

// Large volume buffers are allocated and freed every item: mimalloc keeps freed pages for reuse
// where the system allocator returns them to the OS and faults them in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = Args::parse();
    run(|| {
        args.run.device.device.check_available()?;
        // Everything a run would check before its first step is checked now.
        let cfg: ssl3d::train::FinetuneConfig =
            ssl3d::train::layered_config(args.run.config.as_deref(), &args.run.overrides)?;
        let _ = cfg;
        if let Some(list) = &args.run.datalist {
            for split in [ssl3d::data::Split::Training, ssl3d::data::Split::Validation] {
                let items =
                    ssl3d::data::load_datalist(list, split, args.run.data_dir.as_deref(), true)?;
                ssl3d::data::validate_items(&items, true)?;
            }
            eprintln!("configuration and data check passed");
        }
        Err(Error::NotImplemented(
            "ssl-finetune training (this build provides data I/O and synthetic CT; see README)"
                .into(),
        ))
    });
}
