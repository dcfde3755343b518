//! `ScaleIntensityRanged(a_min, a_max, b_min, b_max, clip)`: the HU window, computed in f32 like
//! MONAI (docs/MONAI_COMPAT.md, "ScaleIntensityRange").

use rayon::prelude::*;

use super::meta::Sample;
use crate::error::Result;

#[derive(Debug, Clone, Copy)]
pub struct ScaleIntensityRange {
    pub a_min: f64,
    pub a_max: f64,
    pub b_min: f64,
    pub b_max: f64,
    pub clip: bool,
}

impl ScaleIntensityRange {
    /// One value, with MONAI's f32 operation order.
    pub fn scale(&self, x: f32) -> f32 {
        let width = (self.a_max - self.a_min) as f32;
        let mut y = (x - self.a_min as f32) / width;
        y = y * (self.b_max - self.b_min) as f32 + self.b_min as f32;
        if self.clip {
            y = y.clamp(self.b_min as f32, self.b_max as f32);
        }
        y
    }
}

/// Dict version on `keys`.
pub(crate) struct ScaleIntensityRanged {
    pub keys: Vec<String>,
    pub params: ScaleIntensityRange,
}

impl super::compose::Transform for ScaleIntensityRanged {
    fn name(&self) -> &'static str {
        "ScaleIntensityRanged"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let p = self.params;
        if p.a_max == p.a_min {
            return Err(sample.error("ScaleIntensityRange: a_min equals a_max"));
        }
        for k in &self.keys {
            let img = sample.get_mut(k)?;
            if let Some(s) = img.data.as_slice_memory_order_mut() {
                s.par_iter_mut().for_each(|v| *v = p.scale(*v));
            } else {
                img.data.mapv_inplace(|v| p.scale(v));
            }
        }
        Ok(vec![sample])
    }
}
