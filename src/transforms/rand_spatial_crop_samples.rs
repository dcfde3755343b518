//! `RandSpatialCropSamplesd(roi_size, random_size=False, num_samples)`: several fixed-size crops at
//! uniform random positions. One 32-bit sub-seed per call; every key's cropper restarts from it, so
//! all keys get the same boxes (docs/MONAI_COMPAT.md, "RandSpatialCropSamples").

use super::coarse_holes::random_patch_start;
use super::compose::Transform;
use super::crop_foreground::crop;
use super::meta::Sample;
use super::rng::RandomState;
use crate::error::Result;

pub struct RandSpatialCropSamplesd {
    pub keys: Vec<String>,
    pub roi_size: [usize; 3],
    pub num_samples: usize,
    rng: RandomState,
}

impl RandSpatialCropSamplesd {
    pub fn new(keys: Vec<String>, roi_size: [usize; 3], num_samples: usize) -> Self {
        RandSpatialCropSamplesd {
            keys,
            roi_size,
            num_samples,
            rng: RandomState::new(0),
        }
    }

    /// The crop starts of one call for an image of `shape` (advances the generator).
    pub fn draw_starts(&mut self, shape: [usize; 3]) -> Vec<[usize; 3]> {
        let mut cropper = RandomState::new(self.rng.randint_u32());
        let valid = [
            self.roi_size[0].min(shape[0]),
            self.roi_size[1].min(shape[1]),
            self.roi_size[2].min(shape[2]),
        ];
        (0..self.num_samples)
            .map(|_| random_patch_start(&mut cropper, shape, valid))
            .collect()
    }
}

impl Transform for RandSpatialCropSamplesd {
    fn name(&self) -> &'static str {
        "RandSpatialCropSamplesd"
    }

    fn apply(&mut self, sample: Sample) -> Result<Vec<Sample>> {
        self.apply_ref(&sample)
    }

    fn apply_ref(&mut self, sample: &Sample) -> Result<Vec<Sample>> {
        let Some(first) = self.keys.first() else {
            return Ok(vec![sample.clone()]);
        };
        let shape = sample.get(first)?.spatial_shape();
        for k in &self.keys[1..] {
            if sample.get(k)?.spatial_shape() != shape {
                return Err(sample.error(format!(
                    "RandSpatialCropSamplesd: \"{k}\" and \"{first}\" differ in shape"
                )));
            }
        }
        let starts = self.draw_starts(shape);
        let mut out = Vec::with_capacity(starts.len());
        for start in starts {
            let mut s = sample.without(&self.keys);
            for k in &self.keys {
                let img = sample.get(k)?;
                let size = img.spatial_shape();
                let end = [
                    start[0] + self.roi_size[0].min(size[0]),
                    start[1] + self.roi_size[1].min(size[1]),
                    start[2] + self.roi_size[2].min(size[2]),
                ];
                s.images.insert(k.clone(), crop(img, start, end));
            }
            out.push(s);
        }
        Ok(out)
    }

    fn is_random(&self) -> bool {
        true
    }

    fn set_random_state(&mut self, seed: u32) {
        self.rng = RandomState::new(seed);
    }
}
