//! `ssl-finetune`: UNETR fine-tuning on BTCV with a pretrained or random backbone.

use clap::Parser;
use ssl3d::Error;
use ssl3d::cli::{RunArgs, run};

/// Fine-tune a UNETR for 13-organ abdominal segmentation (BTCV) from a pretrained ViT backbone or
/// from random initialisation, and report Dice per organ.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
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

fn main() {
    let args = Args::parse();
    run(|| {
        args.run.device.device.check_available()?;
        Err(Error::NotImplemented(
            "ssl-finetune training (this build provides data I/O and synthetic CT; see README)"
                .into(),
        ))
    });
}
