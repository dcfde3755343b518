//! ssl3d's CPU convolution (tiled im2col + GEMM forward and weight gradients, flipped-kernel input
//! gradients) gives Burn's own outputs and gradients, for the convolution shapes ssl3d's networks use and a
//! few it does not (strides, dilation, odd sizes), in f64 (tight) and f32.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Param};
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::tensor::ops::ConvTransposeOptions;
use burn::tensor::{DType, Distribution, Tensor};
use ssl3d::kernels::conv::{
    conv_transpose3d, conv_transpose3d_gemm, conv3d, is_kernel_equal_stride, uses_fast_backward,
};
use ssl3d::kernels::{generic_ops_only, with_generic_ops};

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
    let plain = conv.valid();
    let on_flex = |x| conv_transpose3d(&plain, x);
    compare(
        name,
        x_shape,
        dtype,
        rel,
        &conv.weight,
        conv.bias.as_ref(),
        |x| conv.forward(x),
        |x| conv_transpose3d(&conv, x),
        Some(&on_flex),
    );
}

/// Options of a transposed convolution with `kernel` == `stride` and nothing else.
fn kernel_equal_stride(kernel: [usize; 3]) -> ConvTransposeOptions<3> {
    ConvTransposeOptions::new(kernel, [0; 3], [0; 3], [1; 3], 1)
}

#[test]
fn transposed_convolutions_with_kernel_equal_stride_are_one_gemm_equal_to_burns() {
    assert!(is_kernel_equal_stride([4; 3], &kernel_equal_stride([4; 3])));
    assert!(is_kernel_equal_stride(
        [2, 4, 1],
        &kernel_equal_stride([2, 4, 1])
    ));
    let overlapping = ConvTransposeOptions::new([2; 3], [0; 3], [0; 3], [1; 3], 1);
    assert!(!is_kernel_equal_stride([3; 3], &overlapping));
    let padded = ConvTransposeOptions::new([2; 3], [1; 3], [0; 3], [1; 3], 1);
    assert!(!is_kernel_equal_stride([2; 3], &padded));
    let widened = ConvTransposeOptions::new([2; 3], [0; 3], [1; 3], [1; 3], 1);
    assert!(!is_kernel_equal_stride([2; 3], &widened));
    for (dtype, rel) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        // ViTAutoEnc's two up-samplings (768 → 16 → 1 channels, k = s = 4, bias), UNETR's
        // (k = s = 2, no bias) on small grids, and a non-cubic kernel on a non-cubic grid; each
        // through ssl3d's dispatch on Autodiff<Flex> and Flex, and through Burn's generic ops.
        let cases: [(&str, ConvTranspose3dConfig, [usize; 5]); 4] = [
            (
                "ViTAutoEnc conv3d_transpose",
                ConvTranspose3dConfig::new([768, 16], [4; 3]).with_stride([4; 3]),
                [1, 768, 2, 3, 2],
            ),
            (
                "ViTAutoEnc conv3d_transpose_1",
                ConvTranspose3dConfig::new([16, 1], [4; 3]).with_stride([4; 3]),
                [2, 16, 3, 2, 4],
            ),
            (
                "UNETR transp_conv",
                ConvTranspose3dConfig::new([64, 32], [2; 3])
                    .with_stride([2; 3])
                    .with_bias(false),
                [2, 64, 3, 4, 2],
            ),
            (
                "non-cubic kernel 2×4×1",
                ConvTranspose3dConfig::new([3, 5], [2, 4, 1]).with_stride([2, 4, 1]),
                [2, 3, 3, 2, 5],
            ),
        ];
        for (name, config, x_shape) in cases {
            check_transposed(name, config.clone(), x_shape, dtype, rel);
            with_generic_ops(|| {
                assert!(generic_ops_only());
                check_transposed(&format!("{name}, generic ops"), config, x_shape, dtype, rel)
            });
            assert!(
                !generic_ops_only(),
                "the generic-ops scope ends with its closure"
            );
        }
    }
    // The GEMM on its own, against Burn's transposed convolution, without a module around it.
    let x = random([1, 3, 2, 3, 4], DType::F64);
    let weight = random([3, 2, 2, 2, 2], DType::F64);
    let bias = random([2], DType::F64);
    let options = kernel_equal_stride([2; 3]);
    let burns = burn::tensor::module::conv_transpose3d(
        x.clone(),
        weight.clone(),
        Some(bias.clone()),
        options,
    );
    let ours = conv_transpose3d_gemm(x, weight, Some(bias));
    assert_eq!(ours.dims(), [1, 2, 4, 6, 8]);
    assert_close(
        "bare GEMM forward",
        &[to_vec(ours.inner())],
        &[to_vec(burns.inner())],
        1e-12,
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
    assert!(
        !with_generic_ops(uses_fast_backward::<A>),
        "SSL3D_KERNELS=generic's scope switches the CPU kernels off"
    );
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
