//! ssl3d's CPU kernels for the ViT's blocks (patch embedding, attention, linear layers, GELU) give what the same maths in Burn's ops
//! gives (attention and linear layers to rounding; the GELU bit for bit in f64, within its erf
//! approximation in f32), forward on `Flex` and forward + gradient on `Autodiff<Flex>`, in f64
//! (tight) and f32. The full models are also checked against MONAI's numbers in tests/networks.rs.

use crate::common;

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Param};
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Tensor, activation};
use common::max_rel_diff;
use ssl3d::kernels::attention::{packed_attention, reference};
use ssl3d::kernels::gelu::gelu;
use ssl3d::kernels::linear::linear;
use ssl3d::networks::blocks::patch_embedding::{PatchEmbeddingBlock, PatchEmbeddingConfig};

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

/// ⟨w, gelu(x)⟩'s gradient for `x`, through `f`.
fn gelu_gradient(
    f: fn(Tensor<A, 3>) -> Tensor<A, 3>,
    x: &Tensor<Flex, 3>,
    w: &Tensor<A, 3>,
) -> Vec<f64> {
    let x = Tensor::<A, 3>::from_inner(x.clone()).require_grad();
    let grads = (f(x.clone()) * w.clone()).sum().backward();
    values(x.grad(&grads).expect("x is tracked"))
}

#[test]
fn parallel_gelu_in_f64_is_bit_identical_to_burns() {
    let dev = Default::default();
    let x = gelu_input(DType::F64);
    assert_eq!(values(gelu(x.clone())), values(activation::gelu(x.clone())));
    let w = Tensor::<A, 3>::random([3, 70, 1000], Distribution::Uniform(-1.0, 1.0), &dev)
        .cast(DType::F64);
    assert_eq!(
        gelu_gradient(gelu, &x, &w),
        gelu_gradient(activation::gelu, &x, &w)
    );
}

/// f32 runs PyTorch's vectorised formulas (erf within 1.5e-7): within that of the exact GELU
/// and gradient, computed by Burn in f64 on the same values.
#[test]
fn vectorised_gelu_in_f32_is_within_its_erf_bound_of_the_exact_values() {
    let dev = Default::default();
    let x32 = gelu_input(DType::F32);
    let x64 = x32.clone().cast(DType::F64);
    let w32 = Tensor::<A, 3>::random([3, 70, 1000], Distribution::Uniform(-1.0, 1.0), &dev);
    let w64 = w32.clone().cast(DType::F64);
    let xs = values(x32.clone());
    let check = |ours: Vec<f64>, exact: Vec<f64>, what: &str| {
        for ((o, e), x) in ours.iter().zip(&exact).zip(&xs) {
            assert!(
                (o - e).abs() <= 3e-7 * (1.0 + x.abs()),
                "{what} at x = {x:e}: {o:e} vs exact {e:e}"
            );
        }
    };
    check(
        values(gelu(x32.clone())),
        values(activation::gelu(x64.clone())),
        "forward",
    );
    check(
        gelu_gradient(gelu, &x32, &w32),
        gelu_gradient(activation::gelu, &x64, &w64),
        "gradient",
    );
}

/// A linear layer of `dtype` with random weights, as a tracked (trainable) module.
fn random_linear(d_in: usize, d_out: usize, bias: bool, dtype: DType) -> Linear<A> {
    let dev = Default::default();
    let random = |shape: Vec<usize>| {
        Tensor::<A, 1>::random(
            [shape.iter().product::<usize>()],
            Distribution::Normal(0.0, 1.0),
            &dev,
        )
        .cast(dtype)
    };
    Linear {
        weight: Param::from_tensor(random(vec![d_in, d_out]).reshape([d_in, d_out])),
        bias: bias.then(|| Param::from_tensor(random(vec![d_out]))),
    }
}

#[test]
fn cpu_linear_equals_burns_forward_and_gradients() {
    let dev = Default::default();
    // Small, single-threaded, and large enough for the parallel GEMM (rows·in·out ≥ 192³).
    for (rows, d_in, d_out) in [(5, 7, 3), (1, 1, 1), (300, 200, 250)] {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            for bias in [true, false] {
                let layer = random_linear(d_in, d_out, bias, dtype);
                let x = Tensor::<A, 2>::random([rows, d_in], Distribution::Normal(0.0, 1.0), &dev)
                    .cast(dtype);
                let case = format!("{dtype:?} {rows}×{d_in}→{d_out} bias {bias}");

                // Inference (Flex) and an untracked input on the training backend.
                let ours = values(linear(&layer.valid(), x.clone().inner()));
                let theirs = values(layer.valid().forward(x.clone().inner()));
                assert!(max_rel_diff(&ours, &theirs) <= tol, "{case} forward");
                let ours = values(linear(&layer, x.clone()));
                assert!(
                    max_rel_diff(&ours, &theirs) <= tol,
                    "{case} forward, tracked weights"
                );

                // Gradients of ⟨w, y⟩ for the input, the weight and the bias.
                let w =
                    Tensor::<A, 2>::random([rows, d_out], Distribution::Uniform(-1.0, 1.0), &dev)
                        .cast(dtype);
                let gradients = |ours: bool| {
                    let x = x.clone().require_grad();
                    let y = if ours {
                        linear(&layer, x.clone())
                    } else {
                        layer.forward(x.clone())
                    };
                    let grads = (y * w.clone()).sum().backward();
                    let mut all = vec![values(x.grad(&grads).expect("x is tracked"))];
                    all.push(values(
                        layer.weight.grad(&grads).expect("weight is tracked"),
                    ));
                    if let Some(b) = &layer.bias {
                        all.push(values(b.grad(&grads).expect("bias is tracked")));
                    }
                    all
                };
                for (name, (a, b)) in ["input", "weight", "bias"]
                    .iter()
                    .zip(gradients(true).iter().zip(&gradients(false)))
                {
                    let diff = max_rel_diff(a, b);
                    assert!(diff <= tol, "{case} {name} gradient: {diff:e}");
                }
            }
        }
    }
}

/// The convolution the block stands for, tokens in MONAI's order.
fn by_convolution<B: Backend>(block: &PatchEmbeddingBlock<B>, x: Tensor<B, 5>) -> Tensor<B, 3> {
    let y = block.patch_embeddings.forward(x);
    let [b, h, gx, gy, gz] = y.dims();
    y.reshape([b, h, gx * gy * gz]).swap_dims(1, 2) + block.position_embeddings.val()
}

/// Two items, two channels, a non-cubic patch: the copied patches (inference, untracked input) and
/// the permute of Burn's ops (tracked input) both give the convolution's tokens, and the weight
/// gradient through the GEMM is the convolution's.
#[test]
fn patch_gemm_equals_the_strided_convolution() {
    let dev = Default::default();
    let block = PatchEmbeddingConfig {
        in_channels: 2,
        img_size: [8, 12, 4],
        patch_size: [4, 3, 2],
        hidden_size: 5,
    }
    .init::<A>(&dev);
    let x = Tensor::<A, 5>::random([2, 2, 8, 12, 4], Distribution::Normal(0.0, 1.0), &dev);
    let reference = values(by_convolution(&block, x.clone()));
    let check = |tokens: Vec<f64>, what: &str| {
        let diff = max_rel_diff(&tokens, &reference);
        assert!(diff <= 1e-5, "{what}: {diff:e}");
    };
    check(values(block.forward(x.clone())), "untracked input");
    check(
        values(block.valid().forward(x.clone().inner())),
        "inference",
    );
    check(
        values(block.forward(x.clone().require_grad())),
        "tracked input",
    );

    let w = Tensor::<A, 3>::random([2, 16, 5], Distribution::Normal(0.0, 1.0), &dev);
    let weight_grad = |tokens: Tensor<A, 3>| {
        let grads = (tokens * w.clone()).sum().backward();
        values(block.patch_embeddings.weight.grad(&grads).expect("tracked"))
    };
    let diff = max_rel_diff(
        &weight_grad(block.forward(x.clone())),
        &weight_grad(by_convolution(&block, x)),
    );
    assert!(diff <= 1e-5, "weight gradient: {diff:e}");
}
