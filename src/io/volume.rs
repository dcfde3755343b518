//! 3-D volumes as the rest of ssl3d uses them: a CT (or any intensity) volume in f32 and a label
//! map in u8, each with its affine. Loading checks what training would otherwise trip over later:
//! wrong dimensionality, RGB pictures, NaN voxels, labels that do not match their image.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayD, ShapeBuilder};
use rayon::prelude::*;

use super::affine::{Affine, spacing_of};
use super::header::HeaderInfo;
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
pub(crate) fn to_3d<T: Clone>(path: &Path, a: ArrayD<T>) -> Result<Array3<T>> {
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
    let s = (shape[0], shape[1], shape[2]);
    let reshaped = if a.t().is_standard_layout() {
        // Fortran-contiguous, as the reader returns it: reuse the buffer (dynamic-dimension
        // reshaping would copy element by element).
        let (v, offset) = a.into_raw_vec_and_offset();
        debug_assert_eq!(offset.unwrap_or(0), 0);
        Array3::from_shape_vec(s.f(), v)
    } else {
        a.into_shape_clone((s, ndarray::Order::RowMajor))
    };
    reshaped.map_err(|e| Error::bad_file(path, e.to_string()))
}

/// Loads a 3-D intensity volume (CT) as f32. RGB pictures, non-3-D data and NaN/infinite voxels
/// are errors naming the file.
pub fn load_volume(path: &Path) -> Result<Volume> {
    load_volume_with_header(path).map(|(volume, _)| volume)
}

/// [`load_volume`], with the header the volume was read with (for writing outputs that keep its
/// exact geometry).
pub fn load_volume_with_header(path: &Path) -> Result<(Volume, HeaderInfo)> {
    let img = read_nifti(path)?;
    let header = img.header;
    let data = match img.data {
        VoxelData::Scalar(a) => a,
        VoxelData::Rgb24(_) => {
            return Err(Error::bad_file(
                path,
                "RGB24 picture (datatype 128), not a scalar CT volume",
            ));
        }
    };
    let flat = data
        .as_slice_memory_order()
        .expect("reader returns contiguous arrays");
    // Integers whose scaled range fits in f32 cannot be NaN or infinite: only float data (or
    // extreme scaling) needs the scan. Chunked: a per-element parallel search costs more than the read itself.
    let (slope, inter) = header.scaling.unwrap_or((1.0, 0.0));
    let may_be_non_finite =
        header.stored_type.max_abs() * slope.abs() + inter.abs() >= f32::MAX as f64;
    if may_be_non_finite
        && flat
            .par_chunks(1 << 16)
            .any(|c| c.iter().any(|v| !v.is_finite()))
    {
        let idx = flat.iter().position(|v| !v.is_finite()).unwrap();
        let n_bad = flat.par_iter().filter(|v| !v.is_finite()).count();
        return Err(Error::bad_file(
            path,
            format!(
                "{n_bad} voxel(s) are NaN or infinite (first: {} at {:?})",
                flat[idx],
                fortran_index(idx, data.shape())
            ),
        ));
    }
    let volume = Volume {
        path: path.to_path_buf(),
        data: to_3d(path, data)?,
        affine: header.affine,
    };
    Ok((volume, header))
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
    check_label_grid(
        &image.path,
        image.data.shape(),
        &image.affine,
        &label.path,
        label.data.shape(),
        &label.affine,
    )?;
    if let Some(max) = max_label {
        let found = label.data.iter().copied().max().unwrap_or(0);
        check_label_values(&label.path, found, max, label.data.iter().copied())?;
    }
    Ok(())
}

/// Shape and affine of a label map against its image.
pub(crate) fn check_label_grid(
    image_path: &Path,
    image_shape: &[usize],
    image_affine: &Affine,
    label_path: &Path,
    label_shape: &[usize],
    label_affine: &Affine,
) -> Result<()> {
    if image_shape != label_shape {
        return Err(Error::bad_file(
            label_path,
            format!(
                "label shape {label_shape:?} differs from its image {} of shape {image_shape:?}",
                image_path.display(),
            ),
        ));
    }
    let max_diff = image_affine
        .iter()
        .flatten()
        .zip(label_affine.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if max_diff > 1e-3 {
        return Err(Error::bad_file(
            label_path,
            format!(
                "label affine differs from its image {} by up to {max_diff:.4} (different grid)",
                image_path.display()
            ),
        ));
    }
    Ok(())
}

/// Label values must not exceed `max`; the error lists every unknown value.
pub(crate) fn check_label_values(
    label_path: &Path,
    found_max: u8,
    max: u8,
    values: impl Iterator<Item = u8>,
) -> Result<()> {
    if found_max <= max {
        return Ok(());
    }
    let mut seen = [false; 256];
    values.for_each(|v| seen[v as usize] = true);
    let unknown: Vec<usize> = (max as usize + 1..256).filter(|&v| seen[v]).collect();
    Err(Error::bad_file(
        label_path,
        format!("unknown label values {unknown:?}: expected 0..={max}"),
    ))
}
