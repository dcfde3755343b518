//! MONAI's `sliding_window_inference` (docs/MONAI_COMPAT.md, "Sliding-window inference"): pad to
//! at least the window, tile with the given overlap (last window flush with the end), run the
//! predictor on batches of windows, blend with the importance map, divide by the accumulated
//! weights and crop the padding away.
//!
//! The predictor is any closure from a batch of windows `(n, C_in, rx, ry, rz)` to predictions
//! `(n, C_out, rx, ry, rz)`, so it can run any network on any device; stitching happens here on
//! the CPU in f32, like MONAI's accumulation.

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array5, ArrayView5, Axis, s};

use super::importance_map::{BlendMode, importance_map};
use crate::error::{Error, Result};

/// Sliding-window settings; defaults are the tutorial's call.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlidingWindow {
    pub roi_size: [usize; 3],
    pub sw_batch_size: usize,
    pub overlap: f64,
    pub mode: BlendMode,
    pub sigma_scale: f64,
    /// Padding value where the volume is smaller than a window.
    pub cval: f32,
    /// Show a progress bar (on a terminal) when there are more windows than this.
    pub progress_above: usize,
}

impl Default for SlidingWindow {
    fn default() -> Self {
        SlidingWindow {
            roi_size: [96, 96, 96],
            sw_batch_size: 4,
            overlap: 0.25,
            mode: BlendMode::Constant,
            sigma_scale: 0.125,
            cval: 0.0,
            progress_above: 64,
        }
    }
}

/// MONAI's `_get_scan_interval`.
pub fn scan_interval(image_size: [usize; 3], roi: [usize; 3], overlap: f64) -> [usize; 3] {
    std::array::from_fn(|d| {
        if roi[d] == image_size[d] {
            roi[d]
        } else {
            ((roi[d] as f64 * (1.0 - overlap)) as usize).max(1)
        }
    })
}

/// Window starts in MONAI's order (`dense_patch_slices`: meshgrid "ij", last dim fastest) for a
/// (padded) image at least as large as the window.
pub fn window_starts(
    image_size: [usize; 3],
    roi: [usize; 3],
    interval: [usize; 3],
) -> Vec<[usize; 3]> {
    let per_dim: Vec<Vec<usize>> = (0..3)
        .map(|d| {
            let num = image_size[d].div_ceil(interval[d]);
            let count = (0..num)
                .find(|&i| i * interval[d] + roi[d] >= image_size[d])
                .map_or(1, |i| i + 1);
            (0..count)
                .map(|i| {
                    let start = i * interval[d];
                    start - (start + roi[d]).saturating_sub(image_size[d])
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for &a in &per_dim[0] {
        for &b in &per_dim[1] {
            for &c in &per_dim[2] {
                out.push([a, b, c]);
            }
        }
    }
    out
}

impl SlidingWindow {
    /// Refuses settings that cannot be right: an overlap outside [0, 1) (1 or more never advances
    /// the window, below 0 leaves gaps), no windows per batch, an empty window.
    pub fn check(&self) -> Result<()> {
        if !(self.overlap.is_finite() && (0.0..1.0).contains(&self.overlap)) {
            return Err(Error::InvalidArgument(format!(
                "sliding_window.overlap {} must be at least 0 and below 1",
                self.overlap
            )));
        }
        if self.sw_batch_size == 0 || self.roi_size.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "sliding_window: sw_batch_size {} and roi_size {:?} must be positive",
                self.sw_batch_size, self.roi_size
            )));
        }
        Ok(())
    }

    /// Runs `predictor` over `input` `(B, C, X, Y, Z)` and returns the blended `(B, C_out, X, Y, Z)`.
    pub fn infer(
        &self,
        input: ArrayView5<f32>,
        mut predictor: impl FnMut(Array5<f32>) -> Result<Array5<f32>>,
    ) -> Result<Array5<f32>> {
        self.check()?;
        let roi = self.roi_size;
        let (b, c) = (input.shape()[0], input.shape()[1]);
        let size = [input.shape()[2], input.shape()[3], input.shape()[4]];
        // Symmetric padding up to the window size.
        let pad: [(usize, usize); 3] = std::array::from_fn(|d| {
            let diff = roi[d].saturating_sub(size[d]);
            (diff / 2, diff - diff / 2)
        });
        let padded = [0, 1, 2].map(|d| size[d].max(roi[d]));
        let mut image = Array5::from_elem((b, c, padded[0], padded[1], padded[2]), self.cval);
        image
            .slice_mut(s![
                ..,
                ..,
                pad[0].0..pad[0].0 + size[0],
                pad[1].0..pad[1].0 + size[1],
                pad[2].0..pad[2].0 + size[2]
            ])
            .assign(&input);
        let interval = scan_interval(padded, roi, self.overlap);
        let starts = window_starts(padded, roi, interval);
        let weights = importance_map(&roi, self.mode, self.sigma_scale)
            .into_dimensionality::<ndarray::Ix3>()
            .expect("3-D window");
        let total = starts.len() * b;
        let bar = (starts.len() > self.progress_above).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "sliding window [{bar:30}] {pos}/{len} windows, ETA {eta}",
                )
                .expect("valid template"),
            );
            bar
        });
        let mut output: Option<Array5<f32>> = None;
        let mut count = ndarray::Array3::<f32>::zeros((padded[0], padded[1], padded[2]));
        for st in &starts {
            count
                .slice_mut(s![
                    st[0]..st[0] + roi[0],
                    st[1]..st[1] + roi[1],
                    st[2]..st[2] + roi[2]
                ])
                .zip_mut_with(&weights, |c, &w| *c += w);
        }
        let batch = self.sw_batch_size.max(1);
        for group in (0..total).step_by(batch) {
            let ids: Vec<usize> = (group..(group + batch).min(total)).collect();
            let mut windows = Array5::<f32>::zeros((ids.len(), c, roi[0], roi[1], roi[2]));
            for (n, &id) in ids.iter().enumerate() {
                let (item, st) = (id / starts.len(), starts[id % starts.len()]);
                windows.index_axis_mut(Axis(0), n).assign(&image.slice(s![
                    item,
                    ..,
                    st[0]..st[0] + roi[0],
                    st[1]..st[1] + roi[1],
                    st[2]..st[2] + roi[2]
                ]));
            }
            let pred = predictor(windows)?;
            let ps = pred.shape();
            if ps[0] != ids.len() || ps[2..] != roi {
                return Err(Error::InvalidArgument(format!(
                    "sliding window: the predictor returned shape {ps:?} for {} windows of {roi:?}",
                    ids.len()
                )));
            }
            let out = output
                .get_or_insert_with(|| Array5::zeros((b, ps[1], padded[0], padded[1], padded[2])));
            for (n, &id) in ids.iter().enumerate() {
                let (item, st) = (id / starts.len(), starts[id % starts.len()]);
                let mut dst = out.slice_mut(s![
                    item,
                    ..,
                    st[0]..st[0] + roi[0],
                    st[1]..st[1] + roi[1],
                    st[2]..st[2] + roi[2]
                ]);
                for (mut d, p) in dst
                    .outer_iter_mut()
                    .zip(pred.index_axis(Axis(0), n).outer_iter())
                {
                    ndarray::Zip::from(&mut d)
                        .and(&p)
                        .and(&weights)
                        .for_each(|d, &p, &w| *d += p * w);
                }
            }
            if let Some(bar) = &bar {
                bar.inc(ids.len() as u64);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let mut out = output.expect("at least one window");
        for mut item in out.outer_iter_mut() {
            for mut ch in item.outer_iter_mut() {
                ch.zip_mut_with(&count, |o, &c| *o /= c);
            }
        }
        Ok(out
            .slice(s![
                ..,
                ..,
                pad[0].0..pad[0].0 + size[0],
                pad[1].0..pad[1].0 + size[1],
                pad[2].0..pad[2].0 + size[2]
            ])
            .to_owned())
    }
}
