//! Minimal reproductions of the three wrong results ssl3d found in Burn 0.21's wgpu backend
//! (on Mesa's lavapipe software Vulkan device; docs/GPU.md, "wgpu"), each against Flex:
//!
//! 1. The weight gradient of `conv3d` is wrong once it sums over more than about 40 000
//!    positions (batch × output voxels), while the forward pass and matrix products are right.
//!    ssl3d computes stride-1 convolutions on wgpu as a matrix product over shifted inputs
//!    (`kernels::conv::shifted_gemm`).
//! 2. `[2, 1, 3]` with dims 1 and 2 swapped, reshaped to `[2, 3, 1, 1, 1]`, gives
//!    `[0, 3, 0, 0, 0, 0]` instead of `[0, 1, 2, 3, 4, 5]` (a reshape to `[2, 3]` is right).
//!    ssl3d reshapes a single token directly (`networks::nets::vit::tokens_to_grid`).
//! 3. A tensor larger than the device's buffer limit (128 MiB on lavapipe) is no error: cubecl
//!    prints a panic from its server thread and goes on, and the values read back are wrong.
//!    ssl3d builds its large im2col buffers in chunks (`kernels::conv::shifted_gemm`).
//!
//! `cargo run --features wgpu --example wgpu_repro`

use burn::backend::wgpu::{Wgpu, WgpuDevice};
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

fn data(shape: Vec<usize>, phase: f64) -> TensorData {
    let n = shape.iter().product::<usize>();
    let v: Vec<f32> = (0..n)
        .map(|i| (i as f64 * 0.37 + phase).sin() as f32)
        .collect();
    TensorData::new(v, shape)
}

/// ∂(Σ conv3d(x, w) · t)/∂w for a 1 → 16 channel 1³ convolution of a batch of 2 `size³` volumes.
fn weight_grad<B: AutodiffBackend>(device: &B::Device, size: usize) -> Vec<f32> {
    let x = Tensor::<B, 5>::from_data(data(vec![2, 1, size, size, size], 0.0), device);
    let w = Tensor::<B, 5>::from_data(data(vec![16, 1, 1, 1, 1], 1.0), device).require_grad();
    let y = conv3d(
        x,
        w.clone(),
        None,
        ConvOptions::new([1; 3], [0; 3], [1; 3], 1),
    );
    let t = Tensor::<B, 5>::from_data(data(y.dims().to_vec(), 2.0), device);
    let grads = (y * t).sum().backward();
    w.grad(&grads).unwrap().into_data().to_vec().unwrap()
}

fn swapped_reshape<B: Backend>(device: &B::Device) -> Vec<f32> {
    let values: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let t = Tensor::<B, 3>::from_data(TensorData::new(values, [2, 1, 3]), device);
    t.swap_dims(1, 2)
        .reshape([2, 3, 1, 1, 1])
        .into_data()
        .to_vec()
        .unwrap()
}

/// The last four values of `2·v` for `n` values `v`: at 4 bytes each, above 128 MiB from
/// `n` = 33 554 433.
fn large_buffer<B: Backend>(device: &B::Device, n: usize) -> Vec<f32> {
    let v = Tensor::<B, 1>::from_data(data(vec![n], 0.0), device);
    v.mul_scalar(2.0)
        .narrow(0, n - 4, 4)
        .into_data()
        .to_vec()
        .unwrap()
}

fn main() {
    let wgpu = WgpuDevice::DefaultDevice;
    for size in [24, 27, 28, 32] {
        let cpu = weight_grad::<Autodiff<Flex>>(&Default::default(), size);
        let gpu = weight_grad::<Autodiff<Wgpu>>(&wgpu, size);
        let diff = cpu
            .iter()
            .zip(&gpu)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        let scale = cpu.iter().fold(0f32, |m, a| m.max(a.abs()));
        println!(
            "conv3d weight gradient, batch 2 of {size}^3: max |wgpu - flex| = {diff:e} (largest value {scale:e})"
        );
    }
    println!(
        "swap_dims + reshape: flex {:?}",
        swapped_reshape::<Flex>(&Default::default())
    );
    println!(
        "swap_dims + reshape: wgpu {:?}",
        swapped_reshape::<Wgpu>(&wgpu)
    );
    for n in [16 << 20, 48 << 20] {
        println!(
            "{} MiB of f32: flex {:?}, wgpu {:?}",
            (n * 4) >> 20,
            large_buffer::<Flex>(&Default::default(), n),
            large_buffer::<Wgpu>(&wgpu, n)
        );
    }
}
