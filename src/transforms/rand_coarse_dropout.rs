//! `RandCoarseDropoutd`: in-painting (`dropout_holes=True`: holes filled with noise) and out-painting
//! (`False`: everything but the holes replaced by noise). Noise is uniform in `[min, max)` of the
//! whole crop, computed once before filling (docs/MONAI_COMPAT.md, "RandCoarseDropout").

use ndarray::{Array4, s};

use super::coarse_holes::{HoleSpec, holes_for};
use super::compose::Transform;
use super::meta::Sample;
use super::twin_rng::TwinRandomState;
use crate::error::Result;

pub struct RandCoarseDropoutd {
    pub keys: Vec<String>,
    pub prob: f64,
    pub spec: HoleSpec,
    pub dropout_holes: bool,
    rng: TwinRandomState,
}

impl RandCoarseDropoutd {
    pub fn new(keys: Vec<String>, prob: f64, spec: HoleSpec, dropout_holes: bool) -> Self {
        RandCoarseDropoutd {
            keys,
            prob,
            spec,
            dropout_holes,
            rng: TwinRandomState::default(),
        }
    }
}

fn min_max(a: &Array4<f32>) -> (f32, f32) {
    a.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

impl Transform for RandCoarseDropoutd {
    fn name(&self) -> &'static str {
        "RandCoarseDropoutd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let Some(holes) = holes_for(&mut self.rng, self.prob, &sample, &self.keys, &self.spec)?
        else {
            return Ok(vec![sample]);
        };
        for k in &self.keys {
            let img = sample.get_mut(k)?;
            let (lo, hi) = min_max(&img.data);
            let (lo, hi) = (lo as f64, hi as f64);
            let r = &mut self.rng.inner;
            if self.dropout_holes {
                let data = &mut img.data;
                for (start, size) in &holes {
                    let mut view = data.slice_mut(s![
                        ..,
                        start[0]..start[0] + size[0],
                        start[1]..start[1] + size[1],
                        start[2]..start[2] + size[2]
                    ]);
                    // C-order over (C, x, y, z), one double per voxel.
                    view.iter_mut().for_each(|v| *v = r.uniform(lo, hi) as f32);
                }
            } else {
                let mut noise = Array4::<f32>::zeros(img.data.raw_dim());
                noise.iter_mut().for_each(|v| *v = r.uniform(lo, hi) as f32);
                for (start, size) in &holes {
                    let region = s![
                        ..,
                        start[0]..start[0] + size[0],
                        start[1]..start[1] + size[1],
                        start[2]..start[2] + size[2]
                    ];
                    noise.slice_mut(region).assign(&img.data.slice(region));
                }
                img.data = noise;
            }
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
