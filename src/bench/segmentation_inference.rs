//! Fine-tuning's validation inference at full size: the tutorial's UNETR (random weights) over
//! one preprocessed CT with the tutorial's sliding window (96³ windows, 4 per batch, overlap
//! 0.25), windows predicted on the device and blended on the CPU, as `ssl-finetune` validates.
//! `scripts/bench/monai_networks.py sliding-window` times MONAI's `sliding_window_inference`
//! over the same volume.

use burn::tensor::backend::Backend;
use ndarray::{Array5, ArrayD, Axis};

use super::timing::time_steady;
use crate::error::Result;
use crate::inferers::SlidingWindow;
use crate::metrics::as_discrete::argmax_channels;
use crate::networks::seeded_init::init_seeded;
use crate::networks::{Unetr, UnetrConfig};
use crate::train::batch_tensors::{array_to_tensor, tensor_to_array};

/// One 512×512×120 CT of 0.76 × 0.76 × 3 mm voxels after BTCV's `Spacingd(1.5, 1.5, 2.0)`
/// (`round((S − 1)·orig/pixdim + 1)` per axis), before the foreground crop: the largest such
/// volume, so the time is an upper bound for a typical BTCV scan.
pub const BTCV_VOLUME: [usize; 3] = [260, 260, 180];

/// What one sliding-window benchmark gave.
pub struct SlidingWindowRun {
    /// Windows per inference.
    pub windows: usize,
    /// Median seconds of the timed inferences.
    pub seconds: f64,
    /// The last inference's class scores, `(C, X, Y, Z)`.
    pub scores: ArrayD<f32>,
}

impl SlidingWindowRun {
    /// The labels (argmax over classes), `(X, Y, Z)`.
    pub fn labels(&self) -> ArrayD<u8> {
        argmax_channels(self.scores.view())
    }
}

/// The tutorial's UNETR for `window³` windows with fixed weights (the same on every backend:
/// `networks::seeded_init`), so every backend runs the same network.
fn fixed_unetr<B: Backend>(window: usize, device: &B::Device) -> Result<Unetr<B>> {
    let mut cfg = UnetrConfig::tutorial();
    cfg.vit.img_size = [window; 3];
    init_seeded::<B, _>(&cfg, 20261204, device)
}

/// Windows per volume, median seconds and labels of `repeat` sliding-window inferences over a
/// smooth deterministic `volume` (two untimed warm-ups, as every benchmark here), with `window³`
/// windows (the tutorial: 96; smaller for quick checks) and a UNETR built for them.
pub fn unetr_sliding_window<B: Backend>(
    volume: [usize; 3],
    window: usize,
    repeat: usize,
    device: &B::Device,
) -> Result<SlidingWindowRun> {
    let model = fixed_unetr::<B>(window, device)?;
    let input = Array5::<f32>::from_shape_fn(
        (1, 1, volume[0], volume[1], volume[2]),
        |(_, _, i, j, k)| {
            ((i as f32 * 0.031 + j as f32 * 0.017 + k as f32 * 0.023).sin() + 1.0) / 2.0
        },
    );
    let sw = SlidingWindow {
        roi_size: [window; 3],
        progress_above: usize::MAX,
        ..SlidingWindow::default()
    };
    let mut windows = 0;
    let mut last = Ok(None);
    let seconds = time_steady(repeat, || {
        windows = 0;
        let out = sw.infer(input.view(), |w| {
            windows += w.shape()[0];
            Ok(tensor_to_array(model.forward(array_to_tensor(&w, device))))
        });
        if last.is_ok() {
            last = out.map(Some);
        }
    });
    let scores = last?.expect("time_steady runs at least once");
    Ok(SlidingWindowRun {
        windows,
        seconds,
        scores: scores.index_axis_move(Axis(0), 0).into_dyn(),
    })
}

/// The largest |a − b| between two runs' scores, and the largest |a|.
pub fn score_difference(a: &SlidingWindowRun, b: &SlidingWindowRun) -> (f64, f64) {
    let diff = ndarray::Zip::from(&a.scores)
        .and(&b.scores)
        .fold(0f32, |m, x, y| m.max((x - y).abs()));
    let scale = a.scores.iter().fold(0f32, |m, x| m.max(x.abs()));
    (diff as f64, scale as f64)
}

/// The share of voxels where two label maps agree.
pub fn label_agreement(a: &ArrayD<u8>, b: &ArrayD<u8>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "label maps of one volume");
    let same = ndarray::Zip::from(a)
        .and(b)
        .fold(0usize, |n, x, y| n + usize::from(x == y));
    same as f64 / a.len().max(1) as f64
}
