//! `RandFlipd(spatial_axis, prob)`: one draw, then every key flipped along the axis
//! (docs/MONAI_COMPAT.md, "RandFlip").

use ndarray::Axis;

use super::compose::Transform;
use super::meta::Sample;
use super::rng::RandomState;
use crate::error::Result;

pub(crate) struct RandFlipd {
    pub keys: Vec<String>,
    pub spatial_axis: usize,
    pub prob: f64,
    rng: RandomState,
}

impl RandFlipd {
    pub fn new(keys: Vec<String>, spatial_axis: usize, prob: f64) -> Self {
        RandFlipd {
            keys,
            spatial_axis,
            prob,
            rng: RandomState::new(0),
        }
    }
}

impl Transform for RandFlipd {
    fn name(&self) -> &'static str {
        "RandFlipd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        if self.rng.random_sample() >= self.prob {
            return Ok(vec![sample]);
        }
        for k in &self.keys {
            let img = sample.get_mut(k)?;
            let n = img.data.shape()[self.spatial_axis + 1];
            let mut data = img.data.view();
            data.invert_axis(Axis(self.spatial_axis + 1));
            img.data = data.as_standard_layout().into_owned();
            // The flipped grid's first voxel is the old last one.
            let a = img.affine;
            for r in 0..3 {
                img.affine[r][3] += a[r][self.spatial_axis] * (n as f64 - 1.0);
                img.affine[r][self.spatial_axis] = -a[r][self.spatial_axis];
            }
        }
        Ok(vec![sample])
    }

    fn is_random(&self) -> bool {
        true
    }

    fn set_random_state(&mut self, seed: u32) {
        self.rng = RandomState::new(seed);
    }
}
