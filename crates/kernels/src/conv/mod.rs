//! The forward calls of ssl3d's 3-D convolutions.
//!
//! On the CPU backend (`Flex`, and `Autodiff<Flex>` for training) they run ssl3d's tiled
//! convolution (stride 1: one GEMM per kernel tap over the padded input, `tap_gemm`; otherwise
//! im2col + GEMM) and record its faster backward passes (`flex_autodiff`); on every
//! other backend they are Burn's `Conv3d::forward`, and transposed convolutions with kernel ==
//! stride are one matrix product of Burn's generic ops (`transposed_gemm`). On wgpu, stride-1
//! convolutions are one matrix product over shifted inputs (`shifted_gemm`): Burn's weight
//! gradient is wrong there beyond small volumes.

mod flex_autodiff;
mod forward;
mod im2col;
mod shifted_gemm;
mod tap_gemm;
mod tile_gemm;
mod transposed_gemm;
mod weight_grad;

use burn::backend::Flex;
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, ConvTranspose3d};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::dispatch::{
    CpuTrain, OnCpu, back, is_wgpu_backend, on_cpu, primitive, same, trains_on_cpu_kernels,
};
use super::precision::{computes_in_bf16, lowered, raised};
pub use shifted_gemm::{conv3d_shifted_gemm, is_stride_one};
pub use transposed_gemm::{conv_transpose3d_gemm, is_kernel_equal_stride};

/// `conv.forward(x)`: ssl3d's convolution and backward on the CPU backend, Burn's elsewhere.
pub fn conv3d<B: Backend>(conv: &Conv3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let padding = match conv.padding {
        PaddingConfig3d::Valid => [0; 3],
        PaddingConfig3d::Explicit(a, b, c) => [a, b, c],
        PaddingConfig3d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
    let bias = || conv.bias.as_ref().map(|b| b.val());
    if computes_in_bf16() {
        let dtype = x.dtype();
        let w = lowered(conv.weight.val());
        return burn::tensor::module::conv3d(lowered(x), w, bias().map(lowered), options)
            .cast(dtype);
    }
    match on_cpu(x) {
        OnCpu::Train(x) => {
            let weight = primitive::<CpuTrain, 5>(same(conv.weight.val()));
            let out = flex_autodiff::conv3d(primitive(x), weight, options);
            add_bias(back::<CpuTrain, B, 5>(out), bias())
        }
        OnCpu::Infer(x) => {
            let weight = primitive::<Flex, 5>(same(conv.weight.val()));
            let out = flex_autodiff::conv3d_forward(primitive(x), weight, &options);
            add_bias(back::<Flex, B, 5>(out), bias())
        }
        OnCpu::Generic(x) if is_wgpu_backend::<B>() && is_stride_one(&options) => {
            conv3d_shifted_gemm(x, conv.weight.val(), bias(), padding)
        }
        OnCpu::Generic(x) => conv.forward(x),
    }
}

/// `conv.forward(x)` of a transposed convolution. On the CPU backend: Flex's forward, with
/// ssl3d's backward when training. On every other backend (and under `SSL3D_KERNELS=generic`):
/// one matrix product when kernel == stride, as in all of ssl3d's networks
/// ([`conv_transpose3d_gemm`]), Burn's transposed convolution otherwise. (On Flex the GEMM form is
/// about 4× slower than this path, its 8-D depth-to-space copy being single-threaded: see
/// docs/BENCHMARKS.md, so the CPU keeps its own.)
pub fn conv_transpose3d<B: Backend>(conv: &ConvTranspose3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let options = ConvTransposeOptions::new(
        conv.stride,
        conv.padding,
        conv.padding_out,
        conv.dilation,
        conv.groups,
    );
    let bias = || conv.bias.as_ref().map(|b| b.val());
    match on_cpu(x) {
        OnCpu::Train(x) => {
            let weight = primitive::<CpuTrain, 5>(same(conv.weight.val()));
            let out = flex_autodiff::conv_transpose3d(primitive(x), weight, options);
            add_bias(back::<CpuTrain, B, 5>(out), bias())
        }
        OnCpu::Generic(x) if is_kernel_equal_stride(conv.kernel_size, &options) => {
            let dtype = x.dtype();
            let w = lowered(conv.weight.val());
            raised(
                conv_transpose3d_gemm(lowered(x), w, bias().map(lowered)),
                dtype,
            )
        }
        x => conv.forward(x.into_generic()),
    }
}

/// Whether convolutions on backend `B` take ssl3d's faster backward (true for `Autodiff<Flex>`;
/// `Flex` alone takes ssl3d's forward).
pub fn uses_fast_backward<B: Backend>() -> bool {
    trains_on_cpu_kernels::<B>()
}

/// Adds a per-channel bias after the convolution, as Flex's own convolution does.
fn add_bias<B: Backend>(out: Tensor<B, 5>, bias: Option<Tensor<B, 1>>) -> Tensor<B, 5> {
    match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            out + bias.reshape([1, channels, 1, 1, 1])
        }
        None => out,
    }
}
