//! Test-time augmentation by mirroring, as nnU-Net does at inference: the image is flipped along
//! every subset of its three spatial axes (8 passes of the sliding window), each prediction is
//! flipped back and turned into class probabilities, and the 8 are averaged. Averaging
//! probabilities rather than raw scores keeps one very confident pass from outvoting the others.
//! It costs 8 times the inference and usually smooths organ borders a little.

use ndarray::{Array5, ArrayView5, Axis, Slice};
use serde::{Deserialize, Serialize};

use super::sliding_window::SlidingWindow;
use crate::error::Result;
use crate::metrics::softmax_channels;

/// Test-time augmentation at inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TestTimeAugmentation {
    /// One pass on the image as it is.
    #[default]
    None,
    /// The mean of the class probabilities over the 8 mirrorings of the three spatial axes.
    Flip,
}

impl TestTimeAugmentation {
    /// Which spatial axes each pass mirrors (`[x, y, z]`); the first pass is the image itself.
    pub fn flips(self) -> Vec<[bool; 3]> {
        match self {
            TestTimeAugmentation::None => vec![[false; 3]],
            TestTimeAugmentation::Flip => (0..8)
                .map(|m| [m & 1 != 0, m & 2 != 0, m & 4 != 0])
                .collect(),
        }
    }
}

/// A `(B, C, X, Y, Z)` view mirrored along the spatial axes `flip` marks.
fn mirrored(mut view: ArrayView5<f32>, flip: [bool; 3]) -> ArrayView5<f32> {
    for (d, &f) in flip.iter().enumerate() {
        if f {
            view.slice_axis_inplace(Axis(2 + d), Slice::new(0, None, -1));
        }
    }
    view
}

/// Class probabilities `(B, C, X, Y, Z)` for `input` `(B, 1, X, Y, Z)`: the softmax of `window`'s
/// prediction, averaged over the passes `tta` asks for (each mirrored back first).
pub fn predict_probabilities(
    window: &SlidingWindow,
    input: ArrayView5<f32>,
    tta: TestTimeAugmentation,
    mut predictor: impl FnMut(Array5<f32>) -> Result<Array5<f32>>,
) -> Result<Array5<f32>> {
    let flips = tta.flips();
    let mut mean: Option<Array5<f32>> = None;
    for &flip in &flips {
        let mut probs = window.infer(mirrored(input.view(), flip), &mut predictor)?;
        for b in 0..probs.len_of(Axis(0)) {
            softmax_channels(probs.index_axis_mut(Axis(0), b).into_dyn());
        }
        let back = mirrored(probs.view(), flip);
        match &mut mean {
            None => mean = Some(back.to_owned()),
            Some(m) => ndarray::Zip::from(m)
                .and(back)
                .par_for_each(|m, &p| *m += p),
        }
    }
    let mut mean = mean.expect("at least one pass");
    let n = flips.len() as f32;
    if n > 1.0 {
        mean.par_mapv_inplace(|v| v / n);
    }
    Ok(mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inferers::BlendMode;

    fn window() -> SlidingWindow {
        SlidingWindow {
            roi_size: [4, 4, 4],
            sw_batch_size: 2,
            overlap: 0.25,
            mode: BlendMode::Constant,
            ..SlidingWindow::default()
        }
    }

    /// A "network" that sees which way its window is mirrored: class 1 scores the voxel's value
    /// plus a ramp along x, so only mirroring that is undone correctly gives the mean of the
    /// ramp's two directions.
    fn ramp(w: Array5<f32>) -> Result<Array5<f32>> {
        let (b, _, x, y, z) = w.dim();
        Ok(Array5::from_shape_fn((b, 2, x, y, z), |(n, c, i, j, k)| {
            if c == 0 {
                0.0
            } else {
                w[[n, 0, i, j, k]] + i as f32 * 0.1
            }
        }))
    }

    #[test]
    fn one_pass_is_the_softmax_of_the_window_and_flips_are_undone() {
        let input = Array5::from_shape_fn((1, 1, 7, 5, 6), |(_, _, i, j, k)| {
            ((i * 31 + j * 7 + k * 3) % 11) as f32 / 11.0
        });
        let w = window();
        let plain =
            predict_probabilities(&w, input.view(), TestTimeAugmentation::None, ramp).unwrap();
        let scores = w.infer(input.view(), ramp).unwrap();
        for (p, s) in plain
            .index_axis(Axis(1), 1)
            .iter()
            .zip(scores.index_axis(Axis(1), 1))
        {
            assert!((p - 1.0 / (1.0 + (-s).exp())).abs() < 1e-6);
        }
        let tta =
            predict_probabilities(&w, input.view(), TestTimeAugmentation::Flip, ramp).unwrap();
        assert_eq!(tta.dim(), plain.dim());
        // Each pass's ramp runs along its own window's x; mirrored back, a voxel's class-1 score
        // averages the value with ramps from both ends, so it differs from the plain pass but
        // every voxel's two probabilities still sum to one and depend on the voxel's value.
        for (a, b) in tta
            .index_axis(Axis(1), 0)
            .iter()
            .zip(tta.index_axis(Axis(1), 1))
        {
            assert!((a + b - 1.0).abs() < 1e-6);
        }
        assert!(
            tta.iter().zip(&plain).any(|(a, b)| (a - b).abs() > 1e-3),
            "the mirrored passes change the result"
        );
        // A network that ignores position gives the same probabilities with or without
        // mirroring: the flips are undone voxel for voxel.
        let pointwise = |w: Array5<f32>| -> Result<Array5<f32>> {
            let (b, _, x, y, z) = w.dim();
            Ok(Array5::from_shape_fn((b, 2, x, y, z), |(n, c, i, j, k)| {
                c as f32 * w[[n, 0, i, j, k]] * 3.0
            }))
        };
        let a =
            predict_probabilities(&w, input.view(), TestTimeAugmentation::None, pointwise).unwrap();
        let b =
            predict_probabilities(&w, input.view(), TestTimeAugmentation::Flip, pointwise).unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
