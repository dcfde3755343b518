//! `RandCoarseShuffled`: local pixel shuffling. Inside each hole, every channel's voxels are
//! permuted with numpy's legacy shuffle; holes run in order, so overlaps reshuffle
//! (docs/MONAI_COMPAT.md, "RandCoarseShuffle").

use ndarray::s;

use super::coarse_holes::{HoleSpec, holes_for};
use super::compose::Transform;
use super::meta::Sample;
use super::twin_rng::TwinRandomState;
use crate::error::Result;

pub struct RandCoarseShuffled {
    pub keys: Vec<String>,
    pub prob: f64,
    pub spec: HoleSpec,
    rng: TwinRandomState,
}

impl RandCoarseShuffled {
    pub fn new(keys: Vec<String>, prob: f64, spec: HoleSpec) -> Self {
        RandCoarseShuffled {
            keys,
            prob,
            spec,
            rng: TwinRandomState::default(),
        }
    }
}

impl Transform for RandCoarseShuffled {
    fn name(&self) -> &'static str {
        "RandCoarseShuffled"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let Some(holes) = holes_for(&mut self.rng, self.prob, &sample, &self.keys, &self.spec)?
        else {
            return Ok(vec![sample]);
        };
        for k in &self.keys {
            let img = sample.get_mut(k)?;
            let mut patch = Vec::new();
            for (start, size) in &holes {
                for c in 0..img.data.shape()[0] {
                    let mut view = img.data.slice_mut(s![
                        c,
                        start[0]..start[0] + size[0],
                        start[1]..start[1] + size[1],
                        start[2]..start[2] + size[2]
                    ]);
                    patch.clear();
                    patch.extend(view.iter().copied());
                    self.rng.inner.shuffle(&mut patch);
                    view.iter_mut().zip(&patch).for_each(|(v, p)| *v = *p);
                }
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
