//! Transposed convolutions whose kernel equals their stride, as one matrix product.
//!
//! Every transposed convolution in ssl3d's networks has kernel == stride (ViTAutoEnc's two
//! up-samplings: 4; UNETR's: 2) and no padding, so the windows never overlap: each input voxel
//! writes its own `k0×k1×k2` block of the output, `C_in → C_out·k³` by the weight seen as a
//! matrix. The whole layer is then
//!
//! `[N·D·H·W, C_in] × [C_in, C_out·k0·k1·k2]`, plus the bias, then a depth-to-space reshuffle,
//!
//! written with Burn's generic tensor ops so that every backend runs its own matrix product
//! (CUDA's, with autotune and fusion) and autodiff derives the backward from the same ops. Burn's
//! CubeCL `conv_transpose3d` is a direct kernel without a GEMM form, so this is also the faster
//! route on a GPU. (On the CPU backend ssl3d keeps Flex's forward and its own backward, which
//! are faster there.) The weight keeps MONAI's `[C_in, C_out, k0, k1, k2]` layout; nothing about
//! checkpoints changes.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvTransposeOptions;

/// Whether a transposed convolution of `kernel` with `options` is a [`conv_transpose3d_gemm`]:
/// kernel == stride, no padding of either kind, no dilation, one group.
pub fn is_kernel_equal_stride(kernel: [usize; 3], options: &ConvTransposeOptions<3>) -> bool {
    options.stride == kernel
        && options.padding == [0; 3]
        && options.padding_out == [0; 3]
        && options.dilation == [1; 3]
        && options.groups == 1
}

/// `conv_transpose3d(x, weight, bias)` for kernel == stride and no padding (see
/// [`is_kernel_equal_stride`]): `x` is `[N, C_in, D, H, W]`, `weight` `[C_in, C_out, k0, k1, k2]`,
/// the result `[N, C_out, D·k0, H·k1, W·k2]`.
pub fn conv_transpose3d_gemm<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 5>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 5> {
    let [n, c_in, d, h, w] = x.dims();
    let [w_in, c_out, k0, k1, k2] = weight.dims();
    assert_eq!(
        c_in, w_in,
        "transposed convolution: the input has {c_in} channels, the weight expects {w_in}"
    );
    let rows = x.permute([0, 2, 3, 4, 1]).reshape([n * d * h * w, c_in]);
    let blocks = rows.matmul(weight.reshape([c_in, c_out * k0 * k1 * k2]));
    let out = blocks
        .reshape([n, d, h, w, c_out, k0, k1, k2])
        .permute([0, 4, 1, 5, 2, 6, 3, 7])
        .reshape([n, c_out, d * k0, h * k1, w * k2]);
    match bias {
        Some(bias) => out + bias.reshape([1, c_out, 1, 1, 1]),
        None => out,
    }
}
