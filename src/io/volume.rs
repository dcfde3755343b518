//! 3-D volumes as the rest of ssl3d uses them: a CT (or any intensity) volume in f32 and a label
//! map in u8, each with its affine. Loading checks what training would otherwise trip over later:
//! wrong dimensionality, RGB pictures, NaN voxels, labels that do not match their image.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayD};
use rayon::prelude::*;

use super::affine::{Affine, spacing_of};
use super::reader::{VoxelData, fortran_index, read_label_map, read_nifti};
use crate::error::{Error, Result};

/// An intensity volume (HU for CT) indexed `[i, j, k]` like nibabel, with its voxel-to-world affine.
#[derive(Debug, Clone)]
pub struct Volume {
    pub path: PathBuf,
    pub data: Array3<f32>,
    pub affine: Affine,
}

/// A label map indexed `[i, j, k]`, with its affine.
#[derive(Debug, Clone)]
pub struct LabelVolume {
    pub path: PathBuf,
    pub data: Array3<u8>,
    pub affine: Affine,
}

impl Volume {
    /// Voxel size in mm along the three array axes (affine column norms).
    pub fn spacing(&self) -> [f64; 3] {
        spacing_of(&self.affine)
    }
}

impl LabelVolume {
    pub fn spacing(&self) -> [f64; 3] {
        spacing_of(&self.affine)
    }
}

/// Drops trailing singleton dimensions beyond the third (e.g. `128×128×10×1`) and requires exactly
/// three spatial dimensions.
fn to_3d<T>(path: &Path, a: ArrayD<T>) -> Result<Array3<T>> {
    let shape = a.shape().to_vec();
    if shape.len() < 3 {
        return Err(Error::bad_file(
            path,
            format!(
                "wrong dimensions: {}-D image of shape {shape:?}, a volume must be 3-D",
                shape.len()
            ),
        ));
    }
    if shape[3..].iter().any(|&d| d != 1) {
        return Err(Error::bad_file(
            path,
            format!(
                "wrong dimensions: shape {shape:?} has more than one 3-D volume (4-D/5-D series)"
            ),
        ));
    }
    let s = [shape[0], shape[1], shape[2]];
    let a = a
        .into_shape_with_order(((s[0], s[1], s[2]), ndarray::Order::ColumnMajor))
        .map_err(|e| Error::bad_file(path, e.to_string()))?;
    Ok(a)
}

/// Loads a 3-D intensity volume (CT) as f32. RGB pictures, non-3-D data and NaN/infinite voxels
/// are errors naming the file.
pub fn load_volume(path: &Path) -> Result<Volume> {
    let img = read_nifti(path)?;
    let data = match img.data {
        VoxelData::Scalar(a) => a,
        VoxelData::Rgb24(_) => {
            return Err(Error::bad_file(
                path,
                "RGB24 picture (datatype 128), not a scalar CT volume",
            ));
        }
    };
    if let Some(idx) = data
        .as_slice_memory_order()
        .expect("reader returns contiguous arrays")
        .par_iter()
        .position_first(|v| !v.is_finite())
    {
        let bad_value = data.as_slice_memory_order().unwrap()[idx];
        let n_bad = data
            .as_slice_memory_order()
            .unwrap()
            .par_iter()
            .filter(|v| !v.is_finite())
            .count();
        return Err(Error::bad_file(
            path,
            format!(
                "{n_bad} voxel(s) are NaN or infinite (first: {bad_value} at {:?})",
                fortran_index(idx, data.shape())
            ),
        ));
    }
    Ok(Volume {
        path: path.to_path_buf(),
        data: to_3d(path, data)?,
        affine: img.header.affine,
    })
}

/// Loads a 3-D label map losslessly as u8 (see [`read_label_map`] for the value rules).
pub fn load_labels(path: &Path) -> Result<LabelVolume> {
    let (header, data) = read_label_map(path)?;
    Ok(LabelVolume {
        path: path.to_path_buf(),
        data: to_3d(path, data)?,
        affine: header.affine,
    })
}

/// Checks that a label map belongs to its image: same shape, same affine (within `1e-3` mm, the
/// tolerance MONAI-style pipelines tolerate for float32 header round-offs), and no label value
/// above `max_label` when given.
pub fn check_label_matches(
    image: &Volume,
    label: &LabelVolume,
    max_label: Option<u8>,
) -> Result<()> {
    if image.data.shape() != label.data.shape() {
        return Err(Error::bad_file(
            &label.path,
            format!(
                "label shape {:?} differs from its image {} of shape {:?}",
                label.data.shape(),
                image.path.display(),
                image.data.shape()
            ),
        ));
    }
    let max_diff = image
        .affine
        .iter()
        .flatten()
        .zip(label.affine.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if max_diff > 1e-3 {
        return Err(Error::bad_file(
            &label.path,
            format!(
                "label affine differs from its image {} by up to {max_diff:.4} (different grid)",
                image.path.display()
            ),
        ));
    }
    if let Some(max) = max_label {
        let found = label.data.iter().copied().max().unwrap_or(0);
        if found > max {
            let mut unknown: Vec<u8> = label.data.iter().copied().filter(|&v| v > max).collect();
            unknown.sort_unstable();
            unknown.dedup();
            return Err(Error::bad_file(
                &label.path,
                format!("unknown label values {unknown:?}: expected 0..={max}"),
            ));
        }
    }
    Ok(())
}
