//! The views of Swin UNETR's self-supervised pretraining (Tang et al. 2022; MONAI's research code,
//! `utils/ops.py`), made from a batch of clean crops: each crop turned by a random number of
//! quarter turns in its last two spatial axes (`rot_rand`, the rotation head's labels), then
//! corrupted (`aug_rand`): random boxes filled with min–max-normalised Gaussian noise, then, when
//! another crop of the batch is drawn, boxes copied from it (in-painting / local patch swapping).
//! Randomness comes from the caller's generator, seeded per step, so a resumed run draws the same.

use ndarray::{Array4, Array5, ArrayViewMut4, Axis, s};
use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::StandardNormal;

use super::rand_rotate90::rot90;

/// Turns `rot_rand` draws from (its labels are 0…3).
pub const QUARTER_TURNS: usize = 4;

/// The two rotated crops (the reconstruction targets), their corrupted inputs and rotation labels.
pub struct SwinSslViews {
    pub x1: Array5<f32>,
    pub x2: Array5<f32>,
    pub x1_augment: Array5<f32>,
    pub x2_augment: Array5<f32>,
    pub rot1: Vec<usize>,
    pub rot2: Vec<usize>,
}

/// `rot_rand` twice, then `aug_rand` of each, in the research code's order.
pub fn swin_ssl_views(clean: &Array5<f32>, rng: &mut StdRng) -> SwinSslViews {
    let (x1, rot1) = rot_rand(clean, rng);
    let (x2, rot2) = rot_rand(clean, rng);
    let x1_augment = aug_rand(&x1, rng);
    let x2_augment = aug_rand(&x2, rng);
    SwinSslViews {
        x1,
        x2,
        x1_augment,
        x2_augment,
        rot1,
        rot2,
    }
}

/// Each crop `(C, X, Y, Z)` turned `k ∈ {0, 1, 2, 3}` quarter turns like `x.rot90(k, (2, 3))`;
/// the batch's Y and Z sides must be equal. Returns the turned batch and each `k`.
pub fn rot_rand(x: &Array5<f32>, rng: &mut StdRng) -> (Array5<f32>, Vec<usize>) {
    let mut out = x.clone();
    let mut labels = Vec::with_capacity(x.shape()[0]);
    for (i, crop) in x.outer_iter().enumerate() {
        let k = rng.random_range(0..QUARTER_TURNS);
        out.index_axis_mut(Axis(0), i)
            .assign(&turn(&crop.to_owned(), k));
        labels.push(k);
    }
    (out, labels)
}

/// One crop `(C, X, Y, Z)` turned like `crop.rot90(k, (2, 3))` in torch.
pub fn turn(crop: &Array4<f32>, k: usize) -> Array4<f32> {
    rot90(crop, k, 2, 3)
}

/// `aug_rand`: every crop gets noise boxes, then boxes from a randomly drawn crop of the batch
/// (as that crop is at that moment: already corrupted when it comes earlier) unless it drew
/// itself.
pub fn aug_rand(samples: &Array5<f32>, rng: &mut StdRng) -> Array5<f32> {
    let n = samples.shape()[0];
    let mut aug = samples.clone();
    for i in 0..n {
        patch_rand_drop(aug.index_axis_mut(Axis(0), i), None, rng);
        let other = rng.random_range(0..n);
        if other != i {
            let source = aug.index_axis(Axis(0), other).to_owned();
            patch_rand_drop(aug.index_axis_mut(Axis(0), i), Some(&source), rng);
        }
    }
    aug
}

/// `patch_rand_drop(max_drop=0.3, max_block_sz=0.25, tolr=0.05)` on one crop `(C, H, W, Z)`:
/// boxes (each side from 5 % to 25 % of the crop's, clipped at its far edge) until their summed
/// volume reaches a uniform draw in [0, 0.3) of the crop's, filled from `source` or with Gaussian
/// noise scaled to [0, 1] (a one-voxel box, where that is 0/0 in the research code, gets 0).
pub fn patch_rand_drop(mut x: ArrayViewMut4<f32>, source: Option<&Array4<f32>>, rng: &mut StdRng) {
    let [c, h, w, z] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let target = rng.random_range(0.0..0.3) * (h * w * z) as f64;
    let frac = |n: usize, f: f64| (n as f64 * f) as usize;
    let sides = [h, w, z];
    let max_block = sides.map(|n| frac(n, 0.25));
    let tol = sides.map(|n| frac(n, 0.05));
    let mut total = 0usize;
    while (total as f64) < target {
        let start: [usize; 3] = std::array::from_fn(|a| rng.random_range(0..sides[a] - tol[a]));
        let end: [usize; 3] = std::array::from_fn(|a| {
            let size = rng.random_range(tol[a]..max_block[a].max(tol[a] + 1));
            (start[a] + size).min(sides[a])
        });
        let region = s![.., start[0]..end[0], start[1]..end[1], start[2]..end[2]];
        match source {
            Some(src) => x.slice_mut(region).assign(&src.slice(region)),
            None => {
                let dims = (c, end[0] - start[0], end[1] - start[1], end[2] - start[2]);
                let noise =
                    Array4::from_shape_simple_fn(dims, || rng.sample::<f32, _>(StandardNormal));
                let lo = noise.fold(f32::INFINITY, |m, &v| m.min(v));
                let hi = noise.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let span = hi - lo;
                x.slice_mut(region)
                    .assign(&noise.mapv(|v| if span > 0.0 { (v - lo) / span } else { 0.0 }));
            }
        }
        total += (end[0] - start[0]) * (end[1] - start[1]) * (end[2] - start[2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp(shape: (usize, usize, usize, usize, usize)) -> Array5<f32> {
        Array5::from_shape_fn(shape, |(b, _, x, y, z)| {
            (b * 1000 + x * 100 + y * 10 + z) as f32
        })
    }

    #[test]
    fn rotations_turn_the_last_two_axes_and_label_them() {
        let x = ramp((6, 1, 2, 4, 4));
        let mut rng = StdRng::seed_from_u64(3);
        let (turned, labels) = rot_rand(&x, &mut rng);
        assert!(labels.iter().all(|&k| k < 4));
        for (i, &k) in labels.iter().enumerate() {
            let crop = x.index_axis(Axis(0), i).to_owned();
            // x.rot90(1, (2, 3)) moves (y, z) to (W − 1 − z, y): value at [.., y', z'] = x[.., z', W−1−y'].
            let mut want = crop.clone();
            for _ in 0..k {
                let prev = want.clone();
                for ((ch, a, y, zz), v) in want.indexed_iter_mut() {
                    *v = prev[[ch, a, zz, 3 - y]];
                }
            }
            assert_eq!(
                turned.index_axis(Axis(0), i),
                want.view(),
                "crop {i}, k {k}"
            );
        }
    }

    #[test]
    fn corruption_changes_a_bounded_share_in_boxes_with_values_from_noise_or_the_batch() {
        let x = Array5::<f32>::from_elem((2, 1, 32, 32, 32), -7.0);
        let mut rng = StdRng::seed_from_u64(11);
        let mut changed = 0usize;
        for _ in 0..20 {
            let aug = aug_rand(&x, &mut rng);
            for v in aug.iter() {
                assert!(*v == -7.0 || (0.0..=1.0).contains(v), "{v}");
            }
            changed += aug.iter().filter(|&&v| v != -7.0).count();
        }
        let share = changed as f64 / (20 * x.len()) as f64;
        // Two passes of up to 30 % (and their last box's overshoot), overlapping.
        assert!(share > 0.05 && share < 0.6, "share {share}");
    }
}
