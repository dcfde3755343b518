//! ssl3d's CPU kernels for the ViT's transformer blocks give what the same maths in Burn's ops
//! gives (the attention to rounding, the GELU bit for bit), forward on `Flex` and forward + gradient on `Autodiff<Flex>`, in f64
//! (tight) and f32. The full models are also checked against MONAI's numbers in tests/networks.rs.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Tensor, activation};
use common::max_rel_diff;
use ssl3d::networks::attention::{packed_attention, reference};
use ssl3d::networks::gelu::gelu;

type A = Autodiff<Flex>;

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().unwrap()
}

/// `(batch, tokens, heads, head_dim)`: several items and heads, and one with odd sizes.
const SHAPES: [(usize, usize, usize, usize); 3] = [(2, 5, 3, 4), (1, 7, 2, 8), (3, 1, 1, 3)];

#[test]
fn packed_attention_equals_burn_ops_forward_and_backward() {
    let dev = Default::default();
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        for (b, n, heads, d) in SHAPES {
            let qkv = Tensor::<Flex, 2>::random(
                [b * n, 3 * heads * d],
                Distribution::Normal(0.0, 2.0),
                &dev,
            )
            .cast(dtype);
            let ours = packed_attention(qkv.clone(), b, heads);
            let theirs = reference(qkv.clone(), b, heads);
            assert_eq!(ours.dims(), [b * n, heads * d]);
            let diff = max_rel_diff(&values(ours), &values(theirs));
            assert!(
                diff <= tol,
                "{dtype:?} {b}×{n}×{heads}×{d} forward: {diff:e}"
            );

            // The gradient of ⟨w, out⟩ for a random w exercises every output entry's backward.
            let w =
                Tensor::<A, 2>::random([b * n, heads * d], Distribution::Uniform(-1.0, 1.0), &dev)
                    .cast(dtype);
            let gradient = |f: fn(Tensor<A, 2>, usize, usize) -> Tensor<A, 2>| {
                let x = Tensor::<A, 2>::from_inner(qkv.clone()).require_grad();
                let grads = (f(x.clone(), b, heads) * w.clone()).sum().backward();
                values(x.grad(&grads).expect("qkv is tracked"))
            };
            let diff = max_rel_diff(&gradient(packed_attention), &gradient(reference));
            assert!(
                diff <= tol,
                "{dtype:?} {b}×{n}×{heads}×{d} gradient: {diff:e}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "do not split into q, k, v of 4 heads")]
fn packed_attention_rejects_features_that_are_not_three_heads_wide() {
    let qkv = Tensor::<Flex, 2>::zeros([6, 30], &Default::default());
    packed_attention(qkv, 2, 4);
}

/// Values spanning GELU's regimes: far negative (underflow), around zero, far positive.
fn gelu_input(dtype: DType) -> Tensor<Flex, 3> {
    let dev = Default::default();
    let random = Tensor::<Flex, 1>::random([209_993], Distribution::Normal(0.0, 3.0), &dev);
    let edges = Tensor::<Flex, 1>::from_floats([-40.0, -9.0, -1e-8, 0.0, 1e-8, 9.0, 40.0], &dev);
    Tensor::cat(vec![random, edges], 0)
        .reshape([3, 70, 1000])
        .cast(dtype)
}

#[test]
fn parallel_gelu_is_bit_identical_to_burns() {
    let dev = Default::default();
    for dtype in [DType::F64, DType::F32] {
        let x = gelu_input(dtype);
        assert_eq!(
            values(gelu(x.clone())),
            values(activation::gelu(x.clone())),
            "{dtype:?} forward"
        );
        let w = Tensor::<A, 3>::random([3, 70, 1000], Distribution::Uniform(-1.0, 1.0), &dev)
            .cast(dtype);
        let gradient = |f: fn(Tensor<A, 3>) -> Tensor<A, 3>| {
            let x = Tensor::<A, 3>::from_inner(x.clone()).require_grad();
            let grads = (f(x.clone()) * w.clone()).sum().backward();
            values(x.grad(&grads).expect("x is tracked"))
        };
        assert_eq!(
            gradient(gelu),
            gradient(activation::gelu),
            "{dtype:?} gradient"
        );
    }
}
