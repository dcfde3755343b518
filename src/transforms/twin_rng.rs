//! The generator pair of MONAI's dict wrappers that hold an inner array transform
//! (RandCoarseDropoutd, RandCoarseShuffled, RandShiftIntensityd): `set_random_state(seed)` seeds
//! both with the same seed, giving two independent streams; the wrapper draws its prob, then the
//! inner transform draws its own (always passing, prob 1.0) prob before its parameters
//! (docs/MONAI_COMPAT.md, "Compose and OneOf seeding").

use super::rng::RandomState;

#[derive(Debug, Clone)]
pub(crate) struct TwinRandomState {
    wrapper: RandomState,
    /// The inner transform's stream, for its parameters.
    pub inner: RandomState,
}

impl Default for TwinRandomState {
    fn default() -> Self {
        TwinRandomState::new(0)
    }
}

impl TwinRandomState {
    pub fn new(seed: u32) -> Self {
        TwinRandomState {
            wrapper: RandomState::new(seed),
            inner: RandomState::new(seed),
        }
    }

    /// The wrapper's `rand() < prob`; when it passes, also the inner transform's own prob draw.
    pub(crate) fn fires(&mut self, prob: f64) -> bool {
        if self.wrapper.random_sample() >= prob {
            return false;
        }
        self.inner.random_sample();
        true
    }
}
