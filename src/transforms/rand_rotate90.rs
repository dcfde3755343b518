//! `RandRotate90d(prob, max_k, spatial_axes=(0, 1))`: draws `k` first, then the prob, and rotates
//! every key by k·90° like `torch.rot90` (docs/MONAI_COMPAT.md, "RandRotate90").

use ndarray::{Array4, Axis};

use super::compose::Transform;
use super::meta::Sample;
use super::rng::RandomState;
use crate::error::Result;

pub(crate) struct RandRotate90d {
    pub keys: Vec<String>,
    pub prob: f64,
    pub max_k: usize,
    /// Spatial axes of the rotation plane (0-based, channel excluded).
    pub spatial_axes: (usize, usize),
    rng: RandomState,
}

impl RandRotate90d {
    pub fn new(keys: Vec<String>, prob: f64, max_k: usize, spatial_axes: (usize, usize)) -> Self {
        RandRotate90d {
            keys,
            prob,
            max_k,
            spatial_axes,
            rng: RandomState::new(0),
        }
    }
}

/// `torch.rot90(x, k, dims=(a, b))` on a `(C, X, Y, Z)` array (`a`, `b` are array dims).
pub(crate) fn rot90(x: &Array4<f32>, k: usize, a: usize, b: usize) -> Array4<f32> {
    let mut v = x.view();
    match k % 4 {
        0 => {}
        1 => {
            // flip(b) then transpose(a, b)
            v.invert_axis(Axis(b));
            v.swap_axes(a, b);
        }
        2 => {
            v.invert_axis(Axis(a));
            v.invert_axis(Axis(b));
        }
        _ => {
            // transpose(a, b) then flip(b)
            v.swap_axes(a, b);
            v.invert_axis(Axis(b));
        }
    }
    v.as_standard_layout().into_owned()
}

impl Transform for RandRotate90d {
    fn name(&self) -> &'static str {
        "RandRotate90d"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let k = self.rng.randint(0, self.max_k as i64) as usize + 1;
        if self.rng.random_sample() >= self.prob {
            return Ok(vec![sample]);
        }
        let (a, b) = (self.spatial_axes.0 + 1, self.spatial_axes.1 + 1);
        for key in &self.keys {
            let img = sample.get_mut(key)?;
            let shape = img.spatial_shape();
            img.data = rot90(&img.data, k, a, b);
            img.affine = rotated_affine(&img.affine, k, a - 1, b - 1, shape);
        }
        Ok(vec![sample])
    }

    fn is_random(&self) -> bool {
        true
    }

    fn set_random_state(&mut self, seed: u32) {
        self.rng = RandomState::new(seed);
    }
}

/// The affine of the rotated grid: output voxel → input voxel → world.
fn rotated_affine(
    affine: &crate::io::Affine,
    k: usize,
    a: usize,
    b: usize,
    shape: [usize; 3],
) -> crate::io::Affine {
    // One quarter turn maps output (i_a, i_b) to input (n_a − 1 − i_b... ) per torch.rot90 k = 1:
    // y[i, j] = x[j, B − 1 − i] with (A, B) the input plane shape.
    let mut m = crate::io::affine::identity();
    let (mut na, mut nb) = (shape[a] as f64, shape[b] as f64);
    for _ in 0..k % 4 {
        // input index along a = output index along b; along b = nb − 1 − output index along a
        let mut step = crate::io::affine::identity();
        step[a][a] = 0.0;
        step[a][b] = 1.0;
        step[b][b] = 0.0;
        step[b][a] = -1.0;
        step[b][3] = nb - 1.0;
        m = super::linalg::matmul(&m, &step);
        std::mem::swap(&mut na, &mut nb);
    }
    super::linalg::matmul(affine, &m)
}
