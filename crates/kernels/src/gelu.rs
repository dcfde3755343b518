//! MONAI's exact GELU, `x·Φ(x) = ½·x·(1 + erf(x/√2))`, and its gradient `Φ(x) + x·φ(x)`.
//!
//! Flex computes both on one thread with libm's scalar, branching `erf`: at batch 1 the ViT's 12
//! MLP activations (216 × 3072 values each) cost a fifth of a linear layer's time. On `Flex` /
//! `Autodiff<Flex>` this runs in parallel chunks. In f32 it uses the branch-free `erf` and `exp`
//! of `vector_math`, vectorised (AVX2 where the CPU has it), in the arrangement of PyTorch's
//! vectorised CPU GELU and its backward. On [-8, 8] it is within 4.6·10⁻⁷ of the exact GELU
//! (PyTorch 2.6's own CPU GELU: 1.1·10⁻⁶). f64 keeps Flex's exact expressions (libm),
//! bit-identical to [`burn::tensor::activation::gelu`], which every other backend uses.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorMetadata};
use rayon::prelude::*;

use super::dispatch::{CpuTrain, OnCpu, back, flex_tensor, on_cpu, primitive};
use super::vector_math;

/// Values per parallel task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 14;

/// Exact (erf) GELU of every element.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return burn::tensor::activation::gelu(x);
    }
    match on_cpu(x) {
        OnCpu::Train(x) => back::<CpuTrain, B, D>(record(primitive(x))),
        OnCpu::Infer(x) => back::<Flex, B, D>(forward(&primitive(x))),
        OnCpu::Generic(x) => burn::tensor::activation::gelu(x),
    }
}

/// The autodiff step: keeps the input.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            grads.register::<Flex>(node.id, backward(&ops.state, &grad));
        }
    }
}

type TrackedTensor = burn::tensor::ops::FloatTensor<CpuTrain>;

fn record(x: TrackedTensor) -> TrackedTensor {
    match GeluBackward
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let x = x.primitive.to_contiguous();
            let y = forward(&x);
            prep.finish(x, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&x.primitive)),
    }
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let x = x.to_contiguous();
    match x.dtype() {
        DType::F32 => flex_tensor(map(x.storage::<f32>(), forward_chunk), x.shape()),
        _ => flex_tensor(
            map(x.storage::<f64>(), |x, y| each(x, y, gelu_f64)),
            x.shape(),
        ),
    }
}

fn backward(x: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    assert_eq!(
        x.shape(),
        grad.shape(),
        "gelu backward: gradient of the wrong shape"
    );
    let grad = grad.to_contiguous();
    match x.dtype() {
        DType::F32 => flex_tensor(
            zip_map(x.storage::<f32>(), grad.storage::<f32>(), backward_chunk),
            x.shape(),
        ),
        _ => flex_tensor(
            zip_map(x.storage::<f64>(), grad.storage::<f64>(), |x, g, y| {
                each2(x, g, y, gelu_grad_f64)
            }),
            x.shape(),
        ),
    }
}

/// Flex's f64 GELU: `½·x·(1 + erf(x/√2))` with libm's erf.
fn gelu_f64(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / core::f64::consts::SQRT_2))
}

/// Flex's f64 GELU gradient: `g·(Φ(x) + x·φ(x))`.
fn gelu_grad_f64(x: f64, g: f64) -> f64 {
    let inv_sqrt_2pi: f64 = 1.0 / (2.0 * core::f64::consts::PI).sqrt();
    let cdf = 0.5 * (1.0 + libm::erf(x / core::f64::consts::SQRT_2));
    let pdf = inv_sqrt_2pi * (-0.5 * x * x).exp();
    g * (cdf + x * pdf)
}

/// `y[i] = f(x[i])` over one chunk.
#[inline(always)]
fn each<T: Copy>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x));
}

/// `y[i] = f(x[i], g[i])` over one chunk.
#[inline(always)]
fn each2<T: Copy>(x: &[T], g: &[T], y: &mut [T], f: impl Fn(T, T) -> T) {
    y.iter_mut()
        .zip(x.iter().zip(g))
        .for_each(|(y, (&x, &g))| *y = f(x, g));
}

/// `y = f(x)` chunk by chunk in parallel; `chunk(x, y)` fills one chunk of `y`.
fn map<T: Copy + Send + Sync + Default>(x: &[T], chunk: impl Fn(&[T], &mut [T]) + Sync) -> Vec<T> {
    let mut y = vec![T::default(); x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| chunk(x, y));
    y
}

/// `y = f(x, g)` chunk by chunk in parallel; `chunk(x, g, y)` fills one chunk of `y`.
fn zip_map<T: Copy + Send + Sync + Default>(
    x: &[T],
    g: &[T],
    chunk: impl Fn(&[T], &[T], &mut [T]) + Sync,
) -> Vec<T> {
    let mut y = vec![T::default(); x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(y, (x, g))| chunk(x, g, y));
    y
}

/// PyTorch's vectorised f32 GELU: `x·½·(1 + erf(x·(1/√2)))`.
#[inline(always)]
fn gelu_f32(x: f32) -> f32 {
    x * 0.5 * (1.0 + vector_math::erf(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// PyTorch's vectorised f32 GELU backward: `g·(Φ(x) + x·φ(x))`.
#[inline(always)]
fn gelu_grad_f32(x: f32, g: f32) -> f32 {
    // 1/√(2π), as PyTorch's `M_2_SQRTPI · M_SQRT1_2 · 0.5`.
    const BETA: f32 =
        (core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2 * 0.5) as f32;
    let cdf = 0.5 * (1.0 + vector_math::erf(x * core::f32::consts::FRAC_1_SQRT_2));
    let pdf = BETA * vector_math::exp(x * x * -0.5);
    g * (cdf + x * pdf)
}

/// One chunk of the forward, compiled for AVX2 too and picked at run time (the crate is built
/// for baseline x86-64, whose SSE2 gives half the lanes).
fn forward_chunk(x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { forward_chunk_avx2(x, y) };
    }
    forward_chunk_portable(x, y)
}

/// One chunk of the backward, dispatched as [`forward_chunk`].
fn backward_chunk(x: &[f32], g: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { backward_chunk_avx2(x, g, y) };
    }
    backward_chunk_portable(x, g, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_chunk_avx2(x: &[f32], y: &mut [f32]) {
    forward_chunk_portable(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn backward_chunk_avx2(x: &[f32], g: &[f32], y: &mut [f32]) {
    backward_chunk_portable(x, g, y)
}

/// The forward over a chunk without CPU-specific instructions.
#[inline(always)]
fn forward_chunk_portable(x: &[f32], y: &mut [f32]) {
    each(x, y, gelu_f32)
}

/// The backward over a chunk without CPU-specific instructions.
#[inline(always)]
fn backward_chunk_portable(x: &[f32], g: &[f32], y: &mut [f32]) {
    each2(x, g, y, gelu_grad_f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 build of each loop (when this CPU has it) rounds exactly as the portable one.
    #[test]
    fn dispatched_chunks_equal_the_portable_loops_bit_for_bit() {
        let x: Vec<f32> = (0..4099).map(|i| (i as f32 * 0.618).sin() * 9.0).collect();
        let g: Vec<f32> = (0..4099).map(|i| (i as f32 * 0.37).cos()).collect();
        let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        forward_chunk(&x, &mut a);
        forward_chunk_portable(&x, &mut b);
        assert_eq!(a, b, "forward");
        backward_chunk(&x, &g, &mut a);
        backward_chunk_portable(&x, &g, &mut b);
        assert_eq!(a, b, "backward");
    }
}
