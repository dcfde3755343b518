//! Test inputs drawn from their own seeded generator, not from the backend's global one: a test
//! that draws from Flex's generator while `networks::seeded_init`'s test seeds and draws it on
//! another thread changes that test's weights.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Uniform values in `[lo, hi)` from generator `seed`.
pub(crate) fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    (lo, hi): (f32, f32),
    seed: u64,
) -> Tensor<B, D> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    Tensor::from_data(TensorData::new(v, shape), &Default::default())
}
