//! A label map predicted on the preprocessed grid (RAS, resampled, foreground-cropped) put back
//! onto the original image's grid, like MONAI's `Invertd` with nearest interpolation: every
//! original voxel takes the label of the preprocessed voxel nearest to the same world point, and
//! background outside the crop. The result has the original shape and affine, so it overlays on
//! the CT in 3D Slicer or ITK-SNAP.

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

use super::linalg::{inverse, matmul};
use crate::error::{Error, Result};
use crate::io::Affine;

/// `labels` (with voxel-to-world `affine`) resampled onto a grid of `shape` and `target_affine`.
pub fn labels_to_grid(
    labels: ArrayView3<u8>,
    affine: &Affine,
    shape: [usize; 3],
    target_affine: &Affine,
) -> Result<Array3<u8>> {
    let world_to_src = inverse(affine).ok_or_else(|| {
        Error::InvalidArgument("the prediction's affine is singular; cannot invert it".into())
    })?;
    // Target voxel -> source voxel, one matrix.
    let m = matmul(&world_to_src, target_affine);
    let src = labels.shape().to_vec();
    let mut out = Array3::<u8>::zeros(shape);
    let plane = shape[1] * shape[2];
    out.as_slice_mut()
        .expect("fresh arrays are contiguous")
        .par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(i, chunk)| {
            for j in 0..shape[1] {
                for k in 0..shape[2] {
                    let p = [i as f64, j as f64, k as f64];
                    let mut idx = [0usize; 3];
                    let mut inside = true;
                    for r in 0..3 {
                        let x = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
                        let n = (x + 0.5).floor();
                        if n < 0.0 || n >= src[r] as f64 {
                            inside = false;
                            break;
                        }
                        idx[r] = n as usize;
                    }
                    if inside {
                        chunk[j * shape[2] + k] = labels[idx];
                    }
                }
            }
        });
    Ok(out)
}
