//! `Compose` and `OneOf` with MONAI's seeding chain (docs/MONAI_COMPAT.md, "Compose and OneOf
//! seeding"): a composed transform seeded with `s` draws one 32-bit seed per random child, in
//! order; each transform runs on every sample of the list before the next transform starts.

use super::meta::Sample;
use super::rng::RandomState;
use crate::error::Result;

/// Wall time of each transform of a run, in order (for benchmarks).
pub type StageTimes = Vec<(&'static str, std::time::Duration)>;

/// A dict transform. Most map one sample to one; multi-sample croppers return several.
pub trait Transform: Send {
    /// MONAI's class name, for messages.
    fn name(&self) -> &'static str;

    /// Applies the transform to one sample.
    fn apply(&mut self, sample: Sample) -> Result<Vec<Sample>>;

    /// Applies the transform to a borrowed sample. Croppers override this to read the (large)
    /// input without copying it; the default copies and calls [`Transform::apply`].
    fn apply_ref(&mut self, sample: &Sample) -> Result<Vec<Sample>> {
        self.apply(sample.clone())
    }

    /// Applies the transform to a list: by default item by item (MONAI's `Compose` maps over lists).
    fn apply_list(&mut self, samples: Vec<Sample>) -> Result<Vec<Sample>> {
        let mut out = Vec::with_capacity(samples.len());
        for s in samples {
            out.extend(self.apply(s)?);
        }
        Ok(out)
    }

    /// Whether MONAI would treat it as `Randomizable` (and so give it a seed).
    fn is_random(&self) -> bool {
        false
    }

    /// `set_random_state(seed)`.
    fn set_random_state(&mut self, _seed: u32) {}
}

/// MONAI's `Compose`.
pub struct Compose {
    pub transforms: Vec<Box<dyn Transform>>,
}

impl Compose {
    pub fn new(transforms: Vec<Box<dyn Transform>>) -> Self {
        Compose { transforms }
    }

    /// Runs the whole chain on one input sample.
    pub fn run(&mut self, sample: Sample) -> Result<Vec<Sample>> {
        self.apply_list(vec![sample])
    }

    /// Like [`Compose::run`] on a borrowed sample: the first transform reads it in place (a
    /// cached volume is not copied when that transform is a cropper).
    pub(crate) fn run_ref(&mut self, sample: &Sample) -> Result<Vec<Sample>> {
        let Some((first, rest)) = self.transforms.split_first_mut() else {
            return Ok(vec![sample.clone()]);
        };
        let mut samples = first.apply_ref(sample)?;
        for t in rest {
            samples = t.apply_list(samples)?;
        }
        Ok(samples)
    }

    /// Like [`Compose::run`], also returning each transform's wall time (for benchmarks).
    pub(crate) fn run_timed(&mut self, sample: Sample) -> Result<(Vec<Sample>, StageTimes)> {
        let mut samples = vec![sample];
        let mut times = Vec::with_capacity(self.transforms.len());
        for t in &mut self.transforms {
            let start = std::time::Instant::now();
            samples = t.apply_list(samples)?;
            times.push((t.name(), start.elapsed()));
        }
        Ok((samples, times))
    }
}

/// Seeds `children` in order from a fresh `RandomState(seed)`; returns that state (OneOf keeps
/// using it for its choices).
fn seed_children(children: &mut [Box<dyn Transform>], seed: u32) -> RandomState {
    let mut r = RandomState::new(seed);
    for c in children.iter_mut().filter(|c| c.is_random()) {
        c.set_random_state(r.randint_u32());
    }
    r
}

impl Transform for Compose {
    fn name(&self) -> &'static str {
        "Compose"
    }

    fn apply(&mut self, sample: Sample) -> Result<Vec<Sample>> {
        self.apply_list(vec![sample])
    }

    fn apply_list(&mut self, mut samples: Vec<Sample>) -> Result<Vec<Sample>> {
        for t in &mut self.transforms {
            samples = t.apply_list(samples)?;
        }
        Ok(samples)
    }

    fn is_random(&self) -> bool {
        self.transforms.iter().any(|t| t.is_random())
    }

    fn set_random_state(&mut self, seed: u32) {
        seed_children(&mut self.transforms, seed);
    }
}

/// MONAI's `OneOf`: picks one child per call with `multinomial(1, weights)`.
pub struct OneOf {
    children: Vec<Box<dyn Transform>>,
    weights: Vec<f64>,
    rng: RandomState,
    /// MONAI ≤ 1.5 draws a choice per sample of a list; 1.6 draws once per list.
    per_sample: bool,
}

impl OneOf {
    pub fn new(children: Vec<Box<dyn Transform>>, weights: Vec<f64>, per_sample: bool) -> Self {
        assert_eq!(children.len(), weights.len());
        OneOf {
            children,
            weights,
            rng: RandomState::new(0),
            per_sample,
        }
    }

    fn choose(&mut self) -> usize {
        self.rng.choice_multinomial(&self.weights)
    }
}

impl Transform for OneOf {
    fn name(&self) -> &'static str {
        "OneOf"
    }

    fn apply(&mut self, sample: Sample) -> Result<Vec<Sample>> {
        let i = self.choose();
        self.children[i].apply(sample)
    }

    fn apply_list(&mut self, samples: Vec<Sample>) -> Result<Vec<Sample>> {
        if self.per_sample {
            let mut out = Vec::with_capacity(samples.len());
            for s in samples {
                out.extend(self.apply(s)?);
            }
            Ok(out)
        } else {
            let i = self.choose();
            self.children[i].apply_list(samples)
        }
    }

    fn is_random(&self) -> bool {
        true
    }

    fn set_random_state(&mut self, seed: u32) {
        self.rng = seed_children(&mut self.children, seed);
    }
}
