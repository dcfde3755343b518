//! Window weights for blending overlapping predictions (MONAI's `compute_importance_map`).

use ndarray::{ArrayD, IxDyn};

/// How overlapping windows are blended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum BlendMode {
    /// Plain average (the tutorial's choice).
    Constant,
    /// Gaussian centre weighting, σ = sigma_scale · roi per dim, clamped below at max(min, 1e-3).
    Gaussian,
}

/// The weight map over a window of `roi` (any number of dims), in f32 like MONAI.
pub fn importance_map(roi: &[usize], mode: BlendMode, sigma_scale: f64) -> ArrayD<f32> {
    match mode {
        BlendMode::Constant => ArrayD::ones(IxDyn(roi)),
        BlendMode::Gaussian => {
            // Separable unnormalised Gaussians, multiplied in f32 in dim order.
            let axes: Vec<Vec<f32>> = roi
                .iter()
                .map(|&r| {
                    let sigma = (r as f64 * sigma_scale) as f32;
                    (0..r)
                        .map(|i| {
                            let x = -(r as f32 - 1.0) / 2.0 + i as f32;
                            (x * x / (-2.0 * sigma * sigma)).exp()
                        })
                        .collect()
                })
                .collect();
            let mut map = ArrayD::from_shape_fn(IxDyn(roi), |idx| {
                let mut v = axes[0][idx[0]];
                for d in 1..roi.len() {
                    v *= axes[d][idx[d]];
                }
                v
            });
            let min = map.iter().copied().fold(f32::INFINITY, f32::min);
            let floor = min.max(1e-3);
            map.mapv_inplace(|v| v.max(floor));
            map
        }
    }
}
