//! The data transforms work on: channel-first images with their affine (MONAI's `MetaTensor`),
//! gathered in named dicts (MONAI's dict samples).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::Array4;

use crate::error::{Error, Result};
use crate::io::Affine;

/// A `(C, X, Y, Z)` f32 image and its voxel-to-world affine. The array may have any memory layout
/// (a freshly loaded NIfTI is Fortran-ordered; orientation flips are strided views); transforms
/// that produce new arrays write them in C order.
#[derive(Debug, Clone)]
pub struct MetaImage {
    pub data: Array4<f32>,
    pub affine: Affine,
}

impl MetaImage {
    pub fn spatial_shape(&self) -> [usize; 3] {
        let s = self.data.shape();
        [s[1], s[2], s[3]]
    }
}

/// Foreground and background voxels of a sample as flat C-order spatial indices (MONAI's
/// `map_binary_to_indices`): foreground where the label is non-zero in any channel; background
/// where it is zero and the image (when given) is above `threshold` in any channel.
#[derive(Debug, Clone, PartialEq)]
pub struct FgBgIndices {
    pub fg: Vec<u32>,
    pub bg: Vec<u32>,
    pub shape: [usize; 3],
    pub threshold: f32,
}

/// One item flowing through a pipeline: images by key (`image`, `label`, `gt_image`, `image_2`)
/// and the integer metadata transforms record (`foreground_start_coord`, `crop_center`, ...).
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub images: BTreeMap<String, MetaImage>,
    pub meta: BTreeMap<String, Vec<i64>>,
    /// The file this sample came from, for error messages.
    pub source: Option<PathBuf>,
    /// Foreground/background index lists of these images, when `FgBgToIndicesd` computed them.
    pub fg_bg: Option<std::sync::Arc<FgBgIndices>>,
}

impl Sample {
    pub fn get(&self, key: &str) -> Result<&MetaImage> {
        self.images.get(key).ok_or_else(|| self.missing(key))
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Result<&mut MetaImage> {
        if !self.images.contains_key(key) {
            return Err(self.missing(key));
        }
        Ok(self.images.get_mut(key).unwrap())
    }

    pub fn take(&mut self, key: &str) -> Result<MetaImage> {
        self.images.remove(key).ok_or_else(|| self.missing(key))
    }

    fn missing(&self, key: &str) -> Error {
        let what = format!(
            "no \"{key}\" in the sample (keys: {:?})",
            self.images.keys().collect::<Vec<_>>()
        );
        match &self.source {
            Some(p) => Error::bad_file(p, what),
            None => Error::InvalidArgument(what),
        }
    }

    /// A copy with every image except `keys` (which a cropper is about to replace).
    pub fn without(&self, keys: &[String]) -> Sample {
        Sample {
            images: self
                .images
                .iter()
                .filter(|(k, _)| !keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            meta: self.meta.clone(),
            source: self.source.clone(),
            // The index lists describe the images being replaced.
            fg_bg: None,
        }
    }

    /// An error about this sample's data, naming its source file when known.
    pub fn error(&self, problem: impl Into<String>) -> Error {
        match &self.source {
            Some(p) => Error::bad_file(p, problem),
            None => Error::InvalidArgument(problem.into()),
        }
    }
}

/// The fixtures' position-weighted checksum `Σ_j ((j mod 1009) + 1)·a_j` over the C-order
/// flattening, in f64 (docs/MONAI_COMPAT.md, "Checksums used by the fixtures"). It detects
/// permutations that a plain sum misses.
pub fn wsum(data: &Array4<f32>) -> f64 {
    data.iter()
        .enumerate()
        .map(|(j, &v)| ((j % 1009) + 1) as f64 * v as f64)
        .sum()
}

/// Plain f64 sum over all elements.
pub fn sum(data: &Array4<f32>) -> f64 {
    data.iter().map(|&v| v as f64).sum()
}
