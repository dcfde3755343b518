//! `ssl-pretrain`: self-supervised ViTAutoEnc pretraining on unlabelled CT (MONAI's `ssl_train`).

use clap::Parser;
use ssl3d::Error;
use ssl3d::cli::{RunArgs, run};

/// Self-supervised pretraining of a ViT backbone (ViTAutoEnc) on unlabelled CT volumes, with
/// in-painting, out-painting and local pixel shuffling views, L1 reconstruction and contrastive loss.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    let args = Args::parse();
    run(|| {
        args.run.device.device.check_available()?;
        Err(Error::NotImplemented(
            "ssl-pretrain training (this build provides data I/O and synthetic CT; see README)"
                .into(),
        ))
    });
}
