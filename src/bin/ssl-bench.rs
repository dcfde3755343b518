//! `ssl-bench`: speed of the full-size tutorial networks — forward, forward+backward and one
//! training step (the tutorial's losses and optimisers) at 96³ — on the chosen device.

use burn::tensor::backend::AutodiffBackend;
use clap::{Parser, ValueEnum};
use ssl3d::Result;
use ssl3d::bench::networks::{Subject, time_network};
use ssl3d::cli::{DeviceArgs, run};
use ssl3d::device::OnBackend;

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
    #[command(flatten)]
    device: DeviceArgs,
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
        };
        let t = time_network::<B>(subject, self.batch, 96, self.repeat, device);
        let (batch, device, repeat) = (self.batch, self.device.device, self.repeat);
        let (fwd, fwd_bwd) = (t.forward, t.forward_backward);
        match (subject, t.step, t.burn_forward_backward) {
            (Subject::Conv, _, Some(burns)) => println!(
                "Conv3d 16->16 3^3 at 96^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (ssl3d) / {burns:.3} s (Burn's default){} (median of {repeat})",
                if t.own_backward {
                    ""
                } else {
                    " (same path on this backend)"
                },
            ),
            (Subject::TransposedConv, _, Some(burns)) => println!(
                "ConvTranspose3d 32->16 k2 s2 48^3->96^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (ssl3d) / {burns:.3} s (Burn's default) (median of {repeat})",
            ),
            (_, Some(step), _) => println!(
                "{:?} 96^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s, training step {step:.3} s (median of {repeat})",
                self.model
            ),
            _ => println!(
                "DiceCE 14x96^3 batch {batch} on {device}: forward {fwd:.3} s, forward+backward {fwd_bwd:.3} s (median of {repeat})"
            ),
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
    run(|| args.device.device.run(&args));
}
