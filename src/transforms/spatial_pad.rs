//! `SpatialPadd(spatial_size, method="symmetric", mode="constant")`: pad each dim up to at least
//! the target with zeros, `floor(d/2)` before and the rest after (docs/MONAI_COMPAT.md,
//! "SpatialPad").

use ndarray::{Array4, s};

use super::meta::{MetaImage, Sample};
use crate::error::Result;

pub fn pad_to(img: &MetaImage, target: [usize; 3]) -> MetaImage {
    let shape = img.spatial_shape();
    if (0..3).all(|d| shape[d] >= target[d]) {
        return img.clone();
    }
    let before: Vec<usize> = (0..3)
        .map(|d| target[d].saturating_sub(shape[d]) / 2)
        .collect();
    let out_shape: Vec<usize> = (0..3).map(|d| shape[d].max(target[d])).collect();
    let mut data = Array4::<f32>::zeros((
        img.data.shape()[0],
        out_shape[0],
        out_shape[1],
        out_shape[2],
    ));
    data.slice_mut(s![
        ..,
        before[0]..before[0] + shape[0],
        before[1]..before[1] + shape[1],
        before[2]..before[2] + shape[2]
    ])
    .assign(&img.data);
    let mut affine = img.affine;
    for r in 0..3 {
        affine[r][3] -= (0..3)
            .map(|c| img.affine[r][c] * before[c] as f64)
            .sum::<f64>();
    }
    MetaImage { data, affine }
}

pub(crate) struct SpatialPadd {
    pub keys: Vec<String>,
    pub spatial_size: [usize; 3],
}

impl super::compose::Transform for SpatialPadd {
    fn name(&self) -> &'static str {
        "SpatialPadd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        for k in &self.keys {
            let img = sample.take(k)?;
            sample
                .images
                .insert(k.clone(), pad_to(&img, self.spatial_size));
        }
        Ok(vec![sample])
    }
}
