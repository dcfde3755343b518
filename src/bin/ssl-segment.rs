//! `ssl-segment`: apply a fine-tuned UNETR to new CT scans.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use clap::Parser;
use ssl3d::cli::{DeviceArgs, run};
use ssl3d::device::OnBackend;
use ssl3d::inferers::{BlendMode, SlidingWindow, TestTimeAugmentation};
use ssl3d::segment::{ModelSource, SegmentOptions, list_scans, segment_all};

/// Segment CT scans with a fine-tuned UNETR: for each scan, `<name>_seg.nii.gz` (uint8 labels in
/// the scan's own grid: same shape, qform and sform, so it overlays in 3D Slicer or ITK-SNAP),
/// `<name>_qc.png`, optionally `<name>_prob.nii.gz`, and one `volumes.csv` over all scans (per
/// organ: voxels, volume in mL, mean intensity in HU).
///
/// Scans are prepared with the run's validation transforms and predicted with its sliding window
/// (docs/INFERENCE.md). A scan that cannot be read is reported and skipped (exit code 2 at the
/// end); a rerun into the same --out reuses the outputs already there (with other settings it is
/// refused: segment.json records them).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// An ssl-finetune run folder (its best_metric_model and config.json), an ssl3d .mpk with its
    /// .config.json beside it, or a MONAI state dict (best_metric_model.pth, .pt, .safetensors)
    /// with --config.
    #[arg(long)]
    model: PathBuf,
    /// A NIfTI scan (.nii, .nii.gz, .hdr/.img), a folder of them, or a MONAI datalist (.json).
    #[arg(long)]
    input: PathBuf,
    /// Folder for the label maps and volumes.csv (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// A fine-tuning config whose transforms and sliding window replace the run's (needed for
    /// preprocessing other than the tutorial's with a bare .mpk; with a state dict its `model`
    /// is the network too).
    #[arg(long)]
    config: Option<PathBuf>,
    /// With a datalist: which list (`test`, `validation`, `training` or any other key it holds).
    #[arg(long, default_value = "test")]
    split: String,
    /// With a datalist: the folder its paths are relative to (default: the datalist's folder).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Windows per forward pass (default: the run's, the tutorial's 4).
    #[arg(long)]
    sw_batch: Option<usize>,
    /// Window overlap, 0 ≤ F < 1 (default: the run's, the tutorial's 0.25).
    #[arg(long)]
    overlap: Option<f64>,
    /// How overlapping windows are blended (default: the run's, the tutorial's constant).
    #[arg(long, value_enum)]
    mode: Option<BlendMode>,
    /// Test-time augmentation: `flip` averages the class probabilities over the 8 mirrorings of
    /// the three axes (8 times the inference).
    #[arg(long, value_enum, default_value = "none")]
    tta: TestTimeAugmentation,
    /// Also write `<name>_prob.nii.gz`: float class probabilities, one channel per class
    /// (channels last, as MONAI saves them), in the scan's grid.
    #[arg(long)]
    probabilities: bool,
    /// Print one JSON line per scan (file, label map, seconds, organs).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

// Large buffers are allocated and freed every window and layer: mimalloc, told in `main` to keep
// freed memory (`ssl3d::allocator`), reuses them instead of faulting fresh pages in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Segmenting<'a> {
    args: &'a Args,
    source: ModelSource,
    window: SlidingWindow,
    scans: Vec<PathBuf>,
}

impl OnBackend for &Segmenting<'_> {
    type Output = ();
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> ssl3d::Result<()> {
        let results = segment_all::<B::InnerBackend>(
            &self.source,
            &self.window,
            &self.scans,
            &self.args.out,
            SegmentOptions {
                tta: self.args.tta,
                probabilities: self.args.probabilities,
            },
            device,
            |r| {
                if self.args.json {
                    println!("{}", serde_json::to_string(r).expect("results serialise"));
                }
            },
        )?;
        let reused = results.iter().filter(|r| r.reused).count();
        eprintln!(
            "segmented {} scan(s){} into {}; organ volumes in {}",
            results.len() - reused,
            if reused > 0 {
                format!(" ({reused} more already done)")
            } else {
                String::new()
            },
            self.args.out.display(),
            self.args.out.join("volumes.csv").display()
        );
        Ok(())
    }
}

fn main() {
    ssl3d::allocator::keep_freed_memory();
    let args = Args::parse();
    run(|| {
        let source = ModelSource::open(&args.model, args.config.as_deref())?;
        let mut window = source.run.sliding_window;
        window.sw_batch_size = args.sw_batch.unwrap_or(window.sw_batch_size);
        window.overlap = args.overlap.unwrap_or(window.overlap);
        window.mode = args.mode.unwrap_or(window.mode);
        window.check()?;
        let scans = list_scans(&args.input, &args.split, args.data_dir.as_deref())?;
        let job = Segmenting {
            args: &args,
            source,
            window,
            scans,
        };
        args.device.run(&job)
    });
}
