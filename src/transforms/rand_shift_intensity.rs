//! `RandShiftIntensityd(offsets, prob)`: add one random offset to the whole image. The wrapper draws
//! the prob; its inner shifter (same seed, own stream) draws its own prob and then the offset
//! (docs/MONAI_COMPAT.md, "RandShiftIntensity"). The add is in f32, as torch does for a float
//! tensor plus a Python float.

use super::compose::Transform;
use super::meta::Sample;
use super::twin_rng::TwinRandomState;
use crate::error::Result;

pub(crate) struct RandShiftIntensityd {
    pub keys: Vec<String>,
    pub offsets: (f64, f64),
    pub prob: f64,
    rng: TwinRandomState,
}

impl RandShiftIntensityd {
    pub fn new(keys: Vec<String>, offset: f64, prob: f64) -> Self {
        RandShiftIntensityd {
            keys,
            offsets: (-offset.abs(), offset.abs()),
            prob,
            rng: TwinRandomState::default(),
        }
    }
}

impl Transform for RandShiftIntensityd {
    fn name(&self) -> &'static str {
        "RandShiftIntensityd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        if !self.rng.fires(self.prob) {
            return Ok(vec![sample]);
        }
        let offset = self.rng.inner.uniform(self.offsets.0, self.offsets.1) as f32;
        for k in &self.keys {
            sample.get_mut(k)?.data.mapv_inplace(|v| v + offset);
        }
        Ok(vec![sample])
    }

    fn is_random(&self) -> bool {
        true
    }

    fn set_random_state(&mut self, seed: u32) {
        self.rng = TwinRandomState::new(seed);
    }
}
