//! What `ssl-data inspect` reports about a file: a contract other fixture sets are checked through,
//! so its JSON keys and meanings stay fixed.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::reader::{VoxelData, read_nifti};
use crate::error::{Error, Result};

/// One requested voxel: its index and value after scaling (`[r, g, b]` for RGB24).
#[derive(Debug, Serialize)]
pub struct VoxelValue {
    pub index: Vec<usize>,
    pub value: Value,
}

/// `{"file", "shape", "dtype", "spacing", "affine", "min", "max", "mean", "nan_count", "voxels"}`.
/// Statistics ignore NaNs (numpy's nanmin/nanmax/nanmean) and are `null` for RGB24 data.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub file: String,
    pub shape: Vec<usize>,
    /// Stored type as numpy names it (`int16`, `float32`, `RGB24`, ...).
    pub dtype: String,
    /// Header voxel sizes per dimension (nibabel's `get_zooms()`).
    pub spacing: Vec<f64>,
    pub affine: [[f64; 4]; 4],
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub nan_count: usize,
    pub voxels: Vec<VoxelValue>,
}

/// Reads `path` and summarises it, with the values at `voxels` (each index must have one entry
/// per dimension and lie inside the shape).
pub fn inspect(path: &Path, voxels: &[Vec<usize>]) -> Result<InspectReport> {
    let img = read_nifti(path)?;
    let shape = img.header.shape.clone();
    for idx in voxels {
        if idx.len() != shape.len() || idx.iter().zip(&shape).any(|(i, d)| i >= d) {
            return Err(Error::InvalidArgument(format!(
                "voxel index {idx:?} is outside the image shape {shape:?}"
            )));
        }
    }
    let (min, max, mean, nan_count, values) = match &img.data {
        VoxelData::Scalar(a) => {
            let flat = a.as_slice_memory_order().expect("contiguous");
            let (min, max, sum, n, nans) = flat
                .par_chunks(1 << 16)
                .map(|c| {
                    let mut acc = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0usize, 0usize);
                    for &v in c {
                        if v.is_nan() {
                            acc.4 += 1;
                        } else {
                            let v = v as f64;
                            acc.0 = acc.0.min(v);
                            acc.1 = acc.1.max(v);
                            acc.2 += v;
                            acc.3 += 1;
                        }
                    }
                    acc
                })
                .reduce(
                    || (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0, 0),
                    |a, b| (a.0.min(b.0), a.1.max(b.1), a.2 + b.2, a.3 + b.3, a.4 + b.4),
                );
            let values = voxels
                .iter()
                .map(|i| json_f32(a[i.as_slice()]))
                .collect::<Vec<_>>();
            if n == 0 {
                (None, None, None, nans, values)
            } else {
                (Some(min), Some(max), Some(sum / n as f64), nans, values)
            }
        }
        VoxelData::Rgb24(a) => {
            let values = voxels
                .iter()
                .map(|i| Value::from(a[i.as_slice()].to_vec()))
                .collect();
            (None, None, None, 0, values)
        }
    };
    Ok(InspectReport {
        file: path.display().to_string(),
        shape,
        dtype: img.header.stored_type.name().to_string(),
        spacing: img.header.zooms.clone(),
        affine: img.header.affine,
        min,
        max,
        mean,
        nan_count,
        voxels: voxels
            .iter()
            .cloned()
            .zip(values)
            .map(|(index, value)| VoxelValue { index, value })
            .collect(),
    })
}

/// A voxel value as JSON: a number, or `null` for NaN (JSON has no NaN).
fn json_f32(v: f32) -> Value {
    serde_json::Number::from_f64(v as f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}
