//! Stride-1 3-D convolutions as one matrix product over shifted copies of the input, written
//! with Burn's generic tensor ops (zero padding, slices, a concatenation, a batched matrix
//! product), so autodiff derives both gradients from the matrix product's backward.
//!
//! Why: on Burn 0.21's wgpu backend the weight gradient of `conv3d` is wrong once it sums over
//! more than about 40 000 positions (batch × output voxels; e.g. one 28³ crop at batch 2, and so
//! every training step at 96³), while its forward and matrix products are right. The weight
//! gradient there is CubeCL's direct convolution with the output gradient as a kernel of the
//! whole volume's size (`conv_weight_backward_fallback`). `examples/wgpu_conv_repro.rs` shows it
//! on a software Vulkan device; docs/GPU.md says where it applies. This route costs one im2col
//! buffer (`k³·C_in` values per output voxel) kept for the backward, built in chunks of at most
//! 128 MiB: a device refuses larger buffers and cubecl then goes on without the memory.
//!
//! For `[N, C_in, D, H, W]` with padding `p` and a `k0×k1×k2` kernel:
//! `cols[n, (a,b,c,ci), v] = x_pad[n, ci, v + (a,b,c)]`, then
//! `y[n] = W[C_out, (a,b,c,ci)] · cols[n]`, plus the bias.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;

/// Whether [`conv3d_shifted_gemm`] computes a convolution with `options`: stride 1, no
/// dilation, one group (every convolution of UNETR's encoders and decoders).
pub fn is_stride_one(options: &ConvOptions<3>) -> bool {
    options.stride == [1; 3] && options.dilation == [1; 3] && options.groups == 1
}

/// Largest im2col buffer one matrix product builds, in bytes: the storage-buffer size WebGPU
/// guarantees (`maxStorageBufferBindingSize`, 128 MiB). Software Vulkan (lavapipe) refuses larger
/// buffers; sliding-window inference with 4 windows of 32³ and 16 channels needs 216 MiB.
const MAX_COLUMNS_BYTES: usize = 1 << 27;

/// `conv3d(x, weight, bias)` for [`is_stride_one`] options: `x` `[N, C_in, D, H, W]`, `weight`
/// `[C_out, C_in, k0, k1, k2]`. Computed in chunks of batch items and output slices whose im2col
/// buffer stays within [`MAX_COLUMNS_BYTES`].
pub fn conv3d_shifted_gemm<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 5>,
    bias: Option<Tensor<B, 1>>,
    padding: [usize; 3],
) -> Tensor<B, 5> {
    conv3d_shifted_gemm_within(x, weight, bias, padding, MAX_COLUMNS_BYTES)
}

/// [`conv3d_shifted_gemm`] with im2col buffers of at most `max_bytes` (at least one output row
/// of one item, whatever the limit).
fn conv3d_shifted_gemm_within<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 5>,
    bias: Option<Tensor<B, 1>>,
    padding: [usize; 3],
    max_bytes: usize,
) -> Tensor<B, 5> {
    let [n, c_in, d, h, w] = x.dims();
    let [c_out, w_in, k0, k1, k2] = weight.dims();
    assert_eq!(
        c_in, w_in,
        "convolution: the input has {c_in} channels, the weight expects {w_in}"
    );
    let [p0, p1, p2] = padding;
    let padded = if padding == [0; 3] {
        x
    } else {
        Tensor::zeros([n, c_in, d + 2 * p0, h + 2 * p1, w + 2 * p2], &x.device())
            .slice_assign([0..n, 0..c_in, p0..p0 + d, p1..p1 + h, p2..p2 + w], x)
    };
    let out = [
        d + 2 * p0 + 1 - k0,
        h + 2 * p1 + 1 - k1,
        w + 2 * p2 + 1 - k2,
    ];
    // Columns of one output slice (one depth) of one item, in bytes.
    let taps = k0 * k1 * k2 * c_in;
    let slice_bytes = taps * out[1] * out[2] * padded.dtype().size();
    let slices = (max_bytes / slice_bytes.max(1)).max(1);
    let (items, depth) = if slices >= out[0] {
        ((slices / out[0]).clamp(1, n), out[0])
    } else {
        (1, slices)
    };
    let matrix = weight.permute([0, 2, 3, 4, 1]).reshape([1, c_out, taps]);
    let mut chunks = Vec::new();
    for i0 in (0..n).step_by(items) {
        let i1 = (i0 + items).min(n);
        let mut slabs = Vec::new();
        for z0 in (0..out[0]).step_by(depth) {
            let z1 = (z0 + depth).min(out[0]);
            let input = padded.clone().slice([
                i0..i1,
                0..c_in,
                z0..z1 + k0 - 1,
                0..out[1] + k1 - 1,
                0..out[2] + k2 - 1,
            ]);
            slabs.push(shifted_product(input, matrix.clone(), [k0, k1, k2]));
        }
        chunks.push(cat_or_single(slabs, 2));
    }
    let y = cat_or_single(chunks, 0);
    match bias {
        Some(bias) => y + bias.reshape([1, c_out, 1, 1, 1]),
        None => y,
    }
}

/// The "valid" convolution of `input` (`[N, C_in, …]`, already padded) with the weight as a
/// `[1, C_out, k³·C_in]` matrix (taps outer, channels inner): one im2col buffer, one product.
fn shifted_product<B: Backend>(
    input: Tensor<B, 5>,
    matrix: Tensor<B, 3>,
    [k0, k1, k2]: [usize; 3],
) -> Tensor<B, 5> {
    let [n, c_in, d, h, w] = input.dims();
    let c_out = matrix.dims()[1];
    let out = [d + 1 - k0, h + 1 - k1, w + 1 - k2];
    let voxels = out[0] * out[1] * out[2];
    let mut shifted = Vec::with_capacity(k0 * k1 * k2);
    for a in 0..k0 {
        for b in 0..k1 {
            for c in 0..k2 {
                shifted.push(input.clone().slice([
                    0..n,
                    0..c_in,
                    a..a + out[0],
                    b..b + out[1],
                    c..c + out[2],
                ]));
            }
        }
    }
    let cols = cat_or_single(shifted, 1).reshape([n, k0 * k1 * k2 * c_in, voxels]);
    matrix
        .matmul(cols)
        .reshape([n, c_out, out[0], out[1], out[2]])
}

/// `Tensor::cat(parts, dim)`, or the one part itself.
fn cat_or_single<B: Backend>(mut parts: Vec<Tensor<B, 5>>, dim: usize) -> Tensor<B, 5> {
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Tensor::cat(parts, dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::TensorData;

    type B = Autodiff<Flex>;

    fn tensor(shape: [usize; 5], phase: f64) -> Tensor<B, 5> {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n)
            .map(|i| (i as f64 * 0.37 + phase).sin() as f32)
            .collect();
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    fn values(t: Tensor<Flex, 5>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// Largest |a − b| relative to the largest |a|.
    fn rel(a: &[f32], b: &[f32]) -> f32 {
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn equals_burns_convolution_forward_and_both_gradients() {
        for (c_in, c_out, k, pad) in [(2, 3, 3, 1), (3, 4, 1, 0), (1, 2, 3, 0), (2, 2, 2, 1)] {
            let x = tensor([2, c_in, 6, 5, 4], 0.0).require_grad();
            let w = tensor([c_out, c_in, k, k, k], 1.0).require_grad();
            let bias = Tensor::<B, 1>::from_data(
                TensorData::new((0..c_out).map(|i| i as f32 * 0.1).collect(), [c_out]),
                &Default::default(),
            )
            .require_grad();
            let options = ConvOptions::new([1; 3], [pad; 3], [1; 3], 1);
            assert!(is_stride_one(&options));
            // Columns of one output slice of one item (f32); the limits: none that matters,
            // one slice per product, two, and one item.
            let slice = 4 * k * k * k * c_in * (5 + 2 * pad + 1 - k) * (4 + 2 * pad + 1 - k);
            let item = slice * (6 + 2 * pad + 1 - k);
            for max_bytes in [MAX_COLUMNS_BYTES, 1, 2 * slice, item] {
                let ours = conv3d_shifted_gemm_within(
                    x.clone(),
                    w.clone(),
                    Some(bias.clone()),
                    [pad; 3],
                    max_bytes,
                );
                let burns = burn::tensor::module::conv3d(
                    x.clone(),
                    w.clone(),
                    Some(bias.clone()),
                    options.clone(),
                );
                assert_eq!(ours.dims(), burns.dims());
                let target = tensor(ours.dims(), 2.0);
                let g_ours = (ours.clone() * target.clone()).sum().backward();
                let g_burns = (burns.clone() * target).sum().backward();
                let case = format!("c_in {c_in} c_out {c_out} k {k} pad {pad} max {max_bytes}");
                assert!(
                    rel(&values(burns.inner()), &values(ours.inner())) < 1e-5,
                    "{case}"
                );
                for (name, ours, burns) in [
                    ("x", x.grad(&g_ours), x.grad(&g_burns)),
                    ("w", w.grad(&g_ours), w.grad(&g_burns)),
                ] {
                    let (ours, burns) = (values(ours.unwrap()), values(burns.unwrap()));
                    assert!(rel(&burns, &ours) < 1e-5, "{case}: gradient of {name}");
                }
                let (ours, burns): (Vec<f32>, Vec<f32>) = (
                    bias.grad(&g_ours).unwrap().into_data().to_vec().unwrap(),
                    bias.grad(&g_burns).unwrap().into_data().to_vec().unwrap(),
                );
                assert!(rel(&burns, &ours) < 1e-5, "{case}: gradient of the bias");
            }
        }
    }
}
