//! Backward is trusted because it is checked: for every block type, the autodiff gradient of a
//! fixed random projection of the output equals central finite differences, in f64 on the CPU.
//!
//! Its own test binary (not a module of `tests/it`): it makes f64 the device's default float
//! type, which only works before any tensor exists in the process and then holds for every test
//! in it.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::{Distribution, Tensor, TensorData};
use ssl3d::networks::blocks::dynunet_block::{UnetOutBlock, UnetResBlockConfig};
use ssl3d::networks::blocks::mlp::MlpConfig;
use ssl3d::networks::blocks::patch_embedding::PatchEmbeddingConfig;
use ssl3d::networks::blocks::selfattention::SelfAttentionConfig;
use ssl3d::networks::blocks::transformerblock::TransformerBlockConfig;
use ssl3d::networks::blocks::unetr_block::{UnetrPrUpBlock, UnetrUpBlock};

type F = Flex;
type A = Autodiff<F>;

/// All float tensors of these tests are f64 (set before any tensor exists on the device).
fn use_f64() {
    let dev = Default::default();
    let _ = burn::tensor::set_default_dtypes::<F>(
        &dev,
        burn::tensor::DType::F64,
        burn::tensor::DType::I64,
    );
}

/// Checks d(Σ w·f(x))/dx at a few coordinates against central differences. `f` runs after
/// `f_ad`, so lazily initialised parameters exist before the inner-backend copy is taken.
fn check<const DI: usize, const DO: usize>(
    name: &str,
    shape: [usize; DI],
    f_ad: impl Fn(Tensor<A, DI>) -> Tensor<A, DO>,
    f: impl Fn(Tensor<F, DI>) -> Tensor<F, DO>,
) {
    use_f64();
    let dev = Default::default();
    let n: usize = shape.iter().product();
    let xs: Vec<f64> = (0..n).map(|j| (0.37 * j as f64 + 0.2).sin()).collect();
    let x = Tensor::<A, DI>::from_data(TensorData::new(xs.clone(), shape), &dev).require_grad();
    let out = f_ad(x.clone());
    let w = Tensor::<A, DO>::random(out.dims(), Distribution::Uniform(-1.0, 1.0), &dev);
    let w_plain = Tensor::<F, DO>::from_data(w.to_data(), &dev);
    let grads = (out * w).sum().backward();
    let g: Vec<f64> = x.grad(&grads).unwrap().into_data().to_vec().unwrap();
    let loss = |xs: Vec<f64>| -> f64 {
        let x = Tensor::<F, DI>::from_data(TensorData::new(xs, shape), &dev);
        (f(x) * w_plain.clone())
            .sum()
            .into_data()
            .to_vec::<f64>()
            .unwrap()[0]
    };
    let eps = 1e-5;
    for j in [0, n / 3, n / 2, n - 1] {
        let (mut p, mut m) = (xs.clone(), xs.clone());
        p[j] += eps;
        m[j] -= eps;
        let fd = (loss(p) - loss(m)) / (2.0 * eps);
        assert!(
            (g[j] - fd).abs() <= 1e-6 * fd.abs().max(1.0),
            "{name}: d/dx[{j}] autodiff {} vs finite difference {fd}",
            g[j]
        );
    }
}

#[test]
fn transformer_blocks_backpropagate_correctly() {
    use_f64();
    let dev = Default::default();
    let mlp = MlpConfig::new(6, 10).init::<A>(&dev);
    check(
        "MLPBlock",
        [2, 5, 6],
        |x| mlp.forward(x),
        |x| mlp.valid().forward(x),
    );
    let sa = SelfAttentionConfig::new(6, 3).init::<A>(&dev);
    check(
        "SABlock",
        [2, 5, 6],
        |x| sa.forward(x),
        |x| sa.valid().forward(x),
    );
    let tb = TransformerBlockConfig::new(6, 10, 2).init::<A>(&dev);
    check(
        "TransformerBlock",
        [1, 4, 6],
        |x| tb.forward(x),
        |x| tb.valid().forward(x),
    );
    let pe = PatchEmbeddingConfig::new(1, [8, 8, 8], [4, 4, 4], 6).init::<A>(&dev);
    check(
        "PatchEmbeddingBlock",
        [1, 1, 8, 8, 8],
        |x| pe.forward(x),
        |x| pe.valid().forward(x),
    );
}

#[test]
fn unetr_blocks_backpropagate_correctly() {
    use_f64();
    let dev = Default::default();
    let res = UnetResBlockConfig::new(2, 3).init::<A>(&dev);
    check(
        "UnetResBlock",
        [1, 2, 4, 4, 4],
        |x| res.forward(x),
        |x| res.valid().forward(x),
    );
    let prup = UnetrPrUpBlock::<A>::new(3, 2, 1, &dev);
    check(
        "UnetrPrUpBlock",
        [1, 3, 2, 2, 2],
        |x| prup.forward(x),
        |x| prup.valid().forward(x),
    );
    let up = UnetrUpBlock::<A>::new(3, 2, &dev);
    let skip: Vec<f64> = (0..2 * 64).map(|j| (0.11 * j as f64).cos()).collect();
    let skip_a = Tensor::<A, 5>::from_data(TensorData::new(skip.clone(), [1, 2, 4, 4, 4]), &dev);
    let skip_f = Tensor::<F, 5>::from_data(TensorData::new(skip, [1, 2, 4, 4, 4]), &dev);
    check(
        "UnetrUpBlock",
        [1, 3, 2, 2, 2],
        |x| up.forward(x, skip_a.clone()),
        |x| up.valid().forward(x, skip_f.clone()),
    );
    let out = UnetOutBlock::<A>::new(3, 4, &dev);
    check(
        "UnetOutBlock",
        [1, 3, 3, 3, 3],
        |x| out.forward(x),
        |x| out.valid().forward(x),
    );
}
