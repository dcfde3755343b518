//! Fine-tuning's validation inference at full size: the tutorial's UNETR (random weights) over
//! one preprocessed CT with the tutorial's sliding window (96³ windows, 4 per batch, overlap
//! 0.25), windows predicted on the device and blended on the CPU, as `ssl-finetune` validates.
//! `scripts/bench/monai_networks.py sliding-window` times MONAI's `sliding_window_inference`
//! over the same volume.

use burn::tensor::backend::Backend;
use ndarray::Array5;

use super::timing::time_steady;
use crate::error::Result;
use crate::inferers::SlidingWindow;
use crate::networks::UnetrConfig;
use crate::train::batch_tensors::{array_to_tensor, tensor_to_array};

/// One 512×512×120 CT of 0.76 × 0.76 × 3 mm voxels after BTCV's `Spacingd(1.5, 1.5, 2.0)`
/// (`round((S − 1)·orig/pixdim + 1)` per axis), before the foreground crop: the largest such
/// volume, so the time is an upper bound for a typical BTCV scan.
pub const BTCV_VOLUME: [usize; 3] = [260, 260, 180];

/// Windows per volume and median seconds of `repeat` sliding-window inferences over a smooth
/// deterministic `volume` (two untimed warm-ups, as every benchmark here), with `window³`
/// windows (the tutorial: 96; smaller for quick checks) and a UNETR built for them.
pub fn time_unetr_sliding_window<B: Backend>(
    volume: [usize; 3],
    window: usize,
    repeat: usize,
    device: &B::Device,
) -> Result<(usize, f64)> {
    let mut cfg = UnetrConfig::tutorial();
    cfg.vit.img_size = [window; 3];
    let model = cfg.init::<B>(device);
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
    let mut failure = None;
    let seconds = time_steady(repeat, || {
        windows = 0;
        let out = sw.infer(input.view(), |w| {
            windows += w.shape()[0];
            Ok(tensor_to_array(model.forward(array_to_tensor(&w, device))))
        });
        if let Err(e) = out {
            failure.get_or_insert(e);
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok((windows, seconds)),
    }
}
