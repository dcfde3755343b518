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

// Large volume buffers are allocated and freed every item: mimalloc keeps freed pages for reuse
// where the system allocator returns them to the OS and faults them in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = Args::parse();
    run(|| {
        args.run.device.device.check_available()?;
        // Everything a run would check before its first step is checked now.
        let cfg: ssl3d::train::PretrainConfig =
            ssl3d::train::layered_config(args.run.config.as_deref(), &args.run.overrides)?;
        let _ = cfg;
        if let Some(list) = &args.run.datalist {
            for split in [ssl3d::data::Split::Training, ssl3d::data::Split::Validation] {
                let items =
                    ssl3d::data::load_datalist(list, split, args.run.data_dir.as_deref(), false)?;
                ssl3d::data::validate_items(&items, false)?;
            }
            eprintln!("configuration and data check passed");
        }
        Err(Error::NotImplemented(
            "ssl-pretrain training (this build provides data I/O and synthetic CT; see README)"
                .into(),
        ))
    });
}
