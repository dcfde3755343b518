//! ssl3d's CPU convolution (tiled im2col + GEMM forward and weight gradients, flipped-kernel input
//! gradients) gives Burn's own outputs and gradients, for the convolution shapes ssl3d's networks use and a
//! few it does not (strides, dilation, odd sizes), in f64 (tight) and f32.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Param};
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::tensor::{DType, Distribution, Tensor};
use ssl3d::kernels::conv::{conv_transpose3d, conv3d, uses_fast_backward};

type A = Autodiff<Flex>;

/// Gradients of `Σ r·f(x)` w.r.t. x, the weight and the bias (if any).
fn grads_of(
    x: &Tensor<A, 5>,
    weight: &Param<Tensor<A, 5>>,
    bias: Option<&Param<Tensor<A, 1>>>,
    out: Tensor<A, 5>,
    r: &Tensor<A, 5>,
) -> Vec<Vec<f64>> {
    let grads = (out * r.clone()).sum().backward();
    let mut all = vec![
        to_vec(x.grad(&grads).unwrap()),
        to_vec(weight.grad(&grads).unwrap()),
    ];
    if let Some(b) = bias {
        all.push(to_vec(b.grad(&grads).unwrap()));
    }
    all
}

fn to_vec<const D: usize>(t: Tensor<Flex, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().unwrap()
}

fn assert_close(name: &str, ours: &[Vec<f64>], burn: &[Vec<f64>], rel: f64) {
    for (which, (o, b)) in ["x", "weight", "bias"].iter().zip(ours.iter().zip(burn)) {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
        let worst = o
            .iter()
            .zip(b)
            .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
        assert!(
            worst <= rel * scale,
            "{name}: ∂/∂{which} differs from Burn's by {worst} (scale {scale})"
        );
    }
}

fn random<const D: usize>(shape: [usize; D], dtype: DType) -> Tensor<A, D> {
    let t = Tensor::<Flex, D>::random(shape, Distribution::Uniform(-1.0, 1.0), &Default::default());
    Tensor::from_inner(t.cast(dtype))
}

/// Casts a freshly initialised parameter to the dtype under test (a new leaf).
fn cast_param<const D: usize>(p: Param<Tensor<A, D>>, dtype: DType) -> Param<Tensor<A, D>> {
    Param::from_tensor(Tensor::from_inner(p.val().inner().cast(dtype)))
}

/// Compares ssl3d's forward (and `plain`'s, on Flex alone) and gradients with Burn's.
#[allow(clippy::too_many_arguments)]
fn compare(
    name: &str,
    x_shape: [usize; 5],
    dtype: DType,
    rel: f64,
    weight: &Param<Tensor<A, 5>>,
    bias: Option<&Param<Tensor<A, 1>>>,
    burns: impl Fn(Tensor<A, 5>) -> Tensor<A, 5>,
    ours: impl Fn(Tensor<A, 5>) -> Tensor<A, 5>,
    plain: Option<&dyn Fn(Tensor<Flex, 5>) -> Tensor<Flex, 5>>,
) {
    let x = random(x_shape, dtype).require_grad();
    let burn_out = burns(x.clone());
    let r = random(burn_out.dims(), dtype);
    let ours_out = ours(x.clone());
    let reference = [to_vec(burn_out.clone().inner())];
    assert_close(
        &format!("{name} forward"),
        &[to_vec(ours_out.clone().inner())],
        &reference,
        rel,
    );
    if let Some(plain) = plain {
        assert_close(
            &format!("{name} forward on Flex"),
            &[to_vec(plain(x.clone().inner()))],
            &reference,
            rel,
        );
    }
    let burn = grads_of(&x, weight, bias, burn_out, &r);
    let ours = grads_of(&x, weight, bias, ours_out, &r);
    assert_close(name, &ours, &burn, rel);
}

fn check_conv(name: &str, config: Conv3dConfig, x_shape: [usize; 5], dtype: DType, rel: f64) {
    let mut conv: Conv3d<A> = config.init(&Default::default());
    conv.weight = cast_param(conv.weight, dtype);
    conv.bias = conv.bias.map(|b| cast_param(b, dtype));
    let plain = conv.valid();
    let on_flex = |x| conv3d(&plain, x);
    compare(
        name,
        x_shape,
        dtype,
        rel,
        &conv.weight,
        conv.bias.as_ref(),
        |x| conv.forward(x),
        |x| conv3d(&conv, x),
        Some(&on_flex),
    );
}

fn check_transposed(
    name: &str,
    config: ConvTranspose3dConfig,
    x_shape: [usize; 5],
    dtype: DType,
    rel: f64,
) {
    let mut conv: ConvTranspose3d<A> = config.init(&Default::default());
    conv.weight = cast_param(conv.weight, dtype);
    conv.bias = conv.bias.map(|b| cast_param(b, dtype));
    compare(
        name,
        x_shape,
        dtype,
        rel,
        &conv.weight,
        conv.bias.as_ref(),
        |x| conv.forward(x),
        |x| conv_transpose3d(&conv, x),
        None,
    );
}

fn same(channels: [usize; 2], k: usize) -> Conv3dConfig {
    let p = (k - 1) / 2;
    Conv3dConfig::new(channels, [k; 3]).with_padding(PaddingConfig3d::Explicit(p, p, p))
}

#[test]
fn convolution_gradients_equal_burns() {
    assert!(
        uses_fast_backward::<A>(),
        "the CPU training backend must take the fast path under test"
    );
    assert!(!uses_fast_backward::<Flex>());
    for (dtype, rel) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        // UNETR's convolutions: 3³ "same" without bias, 1³ with bias (the output block).
        check_conv(
            "3³ same",
            same([3, 4], 3).with_bias(false),
            [2, 3, 9, 7, 8],
            dtype,
            rel,
        );
        check_conv("1³ with bias", same([4, 5], 1), [1, 4, 5, 6, 7], dtype, rel);
        // The patch embedding: kernel = stride, bias, one input channel.
        check_conv(
            "patch embedding",
            Conv3dConfig::new([1, 6], [4; 3]).with_stride([4; 3]),
            [2, 1, 8, 12, 8],
            dtype,
            rel,
        );
        // Shapes ssl3d does not use, to keep the general paths honest.
        check_conv(
            "strided, dilated, uneven padding",
            Conv3dConfig::new([2, 3], [3, 2, 3])
                .with_stride([2, 1, 2])
                .with_dilation([1, 2, 1])
                .with_padding(PaddingConfig3d::Explicit(1, 0, 2)),
            [2, 2, 9, 8, 7],
            dtype,
            rel,
        );
        // UNETR's up-sampling (k = s = 2, no bias) and ViTAutoEnc's (k = s = 4, bias).
        check_transposed(
            "transposed k2 s2",
            ConvTranspose3dConfig::new([4, 3], [2; 3])
                .with_stride([2; 3])
                .with_bias(false),
            [2, 4, 3, 5, 4],
            dtype,
            rel,
        );
        check_transposed(
            "transposed k4 s4 with bias",
            ConvTranspose3dConfig::new([5, 2], [4; 3]).with_stride([4; 3]),
            [1, 5, 2, 3, 2],
            dtype,
            rel,
        );
        check_transposed(
            "transposed k3 s2 p1 out-pad 1",
            ConvTranspose3dConfig::new([2, 3], [3; 3])
                .with_stride([2; 3])
                .with_padding([1; 3])
                .with_padding_out([1; 3]),
            [2, 2, 4, 3, 5],
            dtype,
            rel,
        );
    }
}
