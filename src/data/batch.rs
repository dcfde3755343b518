//! Typed batches: the loader collates MONAI-style keyed samples (`image`, `image_2`, `gt_image`,
//! `label`), and each training job takes them as a struct with named fields, so a renamed key
//! is one clear error at the border instead of a lookup deep inside a step.

use std::collections::BTreeMap;

use ndarray::Array5;

use crate::error::{Error, Result};

/// What a job's step takes, built from a collated batch (for volumes: its keyed arrays).
pub trait FromCollated<T = BTreeMap<String, Array5<f32>>>: Sized {
    fn from_collated(arrays: T) -> Result<Self>;
}

fn take(arrays: &mut BTreeMap<String, Array5<f32>>, key: &str) -> Result<Array5<f32>> {
    arrays.remove(key).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "the batch has no \"{key}\" (it has {:?}); the transform pipeline does not match the job",
            arrays.keys().collect::<Vec<_>>()
        ))
    })
}

/// A self-supervised batch `(B, 1, X, Y, Z)`: two augmented views of each crop and the clean crop.
#[derive(Debug, Clone)]
pub struct SslBatch {
    pub view1: Array5<f32>,
    pub view2: Array5<f32>,
    pub clean: Array5<f32>,
}

impl FromCollated for SslBatch {
    fn from_collated(mut arrays: BTreeMap<String, Array5<f32>>) -> Result<Self> {
        Ok(SslBatch {
            view1: take(&mut arrays, "image")?,
            view2: take(&mut arrays, "image_2")?,
            clean: take(&mut arrays, "gt_image")?,
        })
    }
}

/// A segmentation batch: CT crops `(B, 1, X, Y, Z)` and their label maps (values 0..classes).
#[derive(Debug, Clone)]
pub struct SegBatch {
    pub image: Array5<f32>,
    pub label: Array5<f32>,
}

impl FromCollated for SegBatch {
    fn from_collated(mut arrays: BTreeMap<String, Array5<f32>>) -> Result<Self> {
        Ok(SegBatch {
            image: take(&mut arrays, "image")?,
            label: take(&mut arrays, "label")?,
        })
    }
}
