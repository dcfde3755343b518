//! A prediction on the preprocessed grid (RAS, resampled, foreground-cropped) put back onto the
//! original image's grid, like MONAI's `Invertd` with nearest interpolation: every original voxel
//! takes the value of the preprocessed voxel nearest to the same world point, and background
//! outside the crop. The result has the original shape and affine, so it overlays on the CT in
//! 3D Slicer or ITK-SNAP. Labels and class probabilities use the same voxel correspondence, so a
//! probability map's argmax is the label map.

use ndarray::{Array3, Array4, ArrayView3, ArrayView4};
use rayon::prelude::*;

use super::linalg::{inverse, matmul};
use crate::error::{Error, Result};
use crate::io::Affine;

/// Target voxel → nearest source voxel (or `None` outside the source grid).
struct NearestVoxel {
    m: Affine,
    src: [usize; 3],
}

impl NearestVoxel {
    fn new(affine: &Affine, src: [usize; 3], target_affine: &Affine) -> Result<Self> {
        let world_to_src = inverse(affine).ok_or_else(|| {
            Error::InvalidArgument("the prediction's affine is singular; cannot invert it".into())
        })?;
        Ok(NearestVoxel {
            m: matmul(&world_to_src, target_affine),
            src,
        })
    }

    fn source(&self, i: usize, j: usize, k: usize) -> Option<[usize; 3]> {
        let p = [i as f64, j as f64, k as f64];
        let mut idx = [0usize; 3];
        for (r, row) in self.m.iter().take(3).enumerate() {
            let x = row[0] * p[0] + row[1] * p[1] + row[2] * p[2] + row[3];
            let n = (x + 0.5).floor();
            if n < 0.0 || n >= self.src[r] as f64 {
                return None;
            }
            idx[r] = n as usize;
        }
        Some(idx)
    }
}

fn spatial(shape: &[usize]) -> [usize; 3] {
    [shape[0], shape[1], shape[2]]
}

/// Calls `fill(source voxel, values)` for every voxel of a C-ordered `shape` grid whose values are
/// `per_voxel` consecutive elements of `out`, in parallel over the first axis.
fn fill_grid<T: Send>(
    out: &mut [T],
    shape: [usize; 3],
    per_voxel: usize,
    nearest: &NearestVoxel,
    fill: impl Fn(Option<[usize; 3]>, &mut [T]) + Sync,
) {
    let plane = shape[1] * shape[2] * per_voxel;
    out.par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(i, chunk)| {
            for j in 0..shape[1] {
                for k in 0..shape[2] {
                    let at = (j * shape[2] + k) * per_voxel;
                    fill(nearest.source(i, j, k), &mut chunk[at..at + per_voxel]);
                }
            }
        });
}

/// `labels` (with voxel-to-world `affine`) resampled onto a grid of `shape` and `target_affine`.
pub fn labels_to_grid(
    labels: ArrayView3<u8>,
    affine: &Affine,
    shape: [usize; 3],
    target_affine: &Affine,
) -> Result<Array3<u8>> {
    let nearest = NearestVoxel::new(affine, spatial(labels.shape()), target_affine)?;
    let mut out = Array3::<u8>::zeros(shape);
    let slice = out.as_slice_mut().expect("fresh arrays are contiguous");
    fill_grid(slice, shape, 1, &nearest, |source, voxel| {
        if let Some(idx) = source {
            voxel[0] = labels[idx];
        }
    });
    Ok(out)
}

/// Class probabilities `(C, X', Y', Z')` (with voxel-to-world `affine`) resampled like
/// [`labels_to_grid`] onto a grid of `shape` and `target_affine`, channels last `(X, Y, Z, C)`
/// as MONAI writes them; outside the prediction, certain background (1 for class 0, 0 others).
pub(crate) fn probabilities_to_grid(
    probs: ArrayView4<f32>,
    affine: &Affine,
    shape: [usize; 3],
    target_affine: &Affine,
) -> Result<Array4<f32>> {
    let channels = probs.shape()[0];
    let nearest = NearestVoxel::new(affine, spatial(&probs.shape()[1..]), target_affine)?;
    let mut out = Array4::<f32>::zeros((shape[0], shape[1], shape[2], channels));
    let slice = out.as_slice_mut().expect("fresh arrays are contiguous");
    fill_grid(
        slice,
        shape,
        channels,
        &nearest,
        |source, voxel| match source {
            Some([x, y, z]) => {
                for (c, v) in voxel.iter_mut().enumerate() {
                    *v = probs[[c, x, y, z]];
                }
            }
            None => {
                if let Some(background) = voxel.first_mut() {
                    *background = 1.0;
                }
            }
        },
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::affine::identity;

    #[test]
    fn probabilities_follow_the_labels_voxel_correspondence() {
        // The prediction covers voxels 1..4 × 0..3 × 0..2 of a 5×3×2 scan, flipped along x.
        let labels = Array3::from_shape_fn((3, 3, 2), |(i, j, k)| ((i + 2 * j + k) % 3) as u8);
        let probs = Array4::from_shape_fn((3, 3, 3, 2), |(c, i, j, k)| {
            if labels[[i, j, k]] as usize == c {
                0.8
            } else {
                0.1
            }
        });
        let mut affine = identity();
        affine[0][0] = -1.0;
        affine[0][3] = 3.0;
        let target = identity();
        let l = labels_to_grid(labels.view(), &affine, [5, 3, 2], &target).unwrap();
        let p = probabilities_to_grid(probs.view(), &affine, [5, 3, 2], &target).unwrap();
        assert_eq!(p.dim(), (5, 3, 2, 3));
        for ((i, j, k), &label) in l.indexed_iter() {
            let v = p.slice(ndarray::s![i, j, k, ..]);
            if i == 0 || i == 4 {
                assert_eq!(label, 0);
                assert_eq!(v.to_vec(), vec![1.0, 0.0, 0.0], "outside: background");
            } else {
                assert_eq!(label, labels[[3 - i, j, k]]);
                assert_eq!(v[label as usize], 0.8, "({i}, {j}, {k})");
            }
        }
    }
}
