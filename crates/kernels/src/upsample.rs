//! Trilinear ×2 up-sampling with `align_corners=False`, SegResNet's parameter-free
//! `UpSample(mode="nontrainable")`: along each spatial axis, output `2i` is `¾·x[i] + ¼·x[i−1]`
//! and output `2i+1` is `¾·x[i] + ¼·x[i+1]`, the neighbours clamped at the edges.
//!
//! Written with Burn's ops, each axis takes two concatenations of shifted copies, four scaled
//! sums and an interleaving stack, and their backward the slices of each; a tenth of SegResNet's
//! decoder time on the CPU. Here each axis is one parallel pass over plain slices, and the
//! backward its adjoint, axis by axis in reverse. Every other backend runs [`reference()`], which
//! gives the same values (the same two products and one sum per output) and is the test reference.

use std::ops::{Add, Mul};

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, Tensor, TensorMetadata};
use rayon::prelude::*;

use super::dispatch::{CpuTrain, OnCpu, Real, back, flex_tensor, on_cpu, primitive};

/// Values per parallel task: large enough to amortise scheduling.
const TASK: usize = 1 << 14;

/// `x` `[B, C, X, Y, Z]` up-sampled to `[B, C, 2X, 2Y, 2Z]`.
pub fn upsample_trilinear_2x<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 5> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return reference(x);
    }
    match on_cpu(x) {
        OnCpu::Train(x) => back::<CpuTrain, B, 5>(record(primitive(x))),
        OnCpu::Infer(x) => back::<Flex, B, 5>(forward(&primitive(x))),
        OnCpu::Generic(x) => reference(x),
    }
}

/// The same maths as Burn tensor ops (any backend), one axis after another.
pub fn reference<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 5> {
    (2..5).fold(x, linear_2x)
}

fn linear_2x<B: Backend>(x: Tensor<B, 5>, dim: usize) -> Tensor<B, 5> {
    let n = x.dims()[dim];
    let (prev, next) = if n > 1 {
        (
            Tensor::cat(
                vec![x.clone().narrow(dim, 0, 1), x.clone().narrow(dim, 0, n - 1)],
                dim,
            ),
            Tensor::cat(
                vec![
                    x.clone().narrow(dim, 1, n - 1),
                    x.clone().narrow(dim, n - 1, 1),
                ],
                dim,
            ),
        )
    } else {
        (x.clone(), x.clone())
    };
    let even = x.clone() * 0.75 + prev * 0.25;
    let odd = x * 0.75 + next * 0.25;
    let mut dims = even.dims();
    dims[dim] *= 2;
    Tensor::stack::<6>(vec![even, odd], dim + 1).reshape(dims)
}

/// The autodiff step: a linear map, so only the input's shape is kept.
#[derive(Debug)]
struct UpsampleBackward;

impl Backward<Flex, 1> for UpsampleBackward {
    type State = Shape;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            grads.register::<Flex>(node.id, adjoint(&grad, &ops.state));
        }
    }
}

type TrackedTensor = FloatTensor<CpuTrain>;

fn record(x: TrackedTensor) -> TrackedTensor {
    match UpsampleBackward
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let shape = x.primitive.shape();
            prep.finish(shape, forward(&x.primitive))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&x.primitive)),
    }
}

/// `(outer, n, inner)` of spatial axis `dim` (2, 3 or 4) of `dims`.
fn axis(dims: &[usize; 5], dim: usize) -> (usize, usize, usize) {
    let outer = dims[..dim].iter().product();
    let inner = dims[dim + 1..].iter().product();
    (outer, dims[dim], inner)
}

fn dims_of(shape: &Shape) -> [usize; 5] {
    [shape[0], shape[1], shape[2], shape[3], shape[4]]
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let x = x.to_contiguous();
    let mut dims = dims_of(&x.shape());
    macro_rules! run {
        ($t:ty) => {{
            let mut values: Vec<$t> = Vec::new();
            for dim in 2..5 {
                let (outer, n, inner) = axis(&dims, dim);
                let input = if dim == 2 { x.storage::<$t>() } else { &values };
                values = up_axis(input, outer, n, inner);
                dims[dim] *= 2;
            }
            flex_tensor(values, dims)
        }};
    }
    match x.dtype() {
        DType::F32 => run!(f32),
        _ => run!(f64),
    }
}

/// The input's gradient: each axis's adjoint, last axis first.
fn adjoint(grad: &FlexTensor, input: &Shape) -> FlexTensor {
    let grad = grad.to_contiguous();
    let mut dims = dims_of(&grad.shape());
    macro_rules! run {
        ($t:ty) => {{
            let mut values: Vec<$t> = Vec::new();
            for dim in (2..5).rev() {
                dims[dim] /= 2;
                let (outer, n, inner) = axis(&dims, dim);
                let output_grad = if dim == 4 {
                    grad.storage::<$t>()
                } else {
                    &values
                };
                values = up_axis_adjoint(output_grad, outer, n, inner);
            }
            debug_assert_eq!(dims, dims_of(input));
            flex_tensor(values, dims)
        }};
    }
    match grad.dtype() {
        DType::F32 => run!(f32),
        _ => run!(f64),
    }
}

/// Rows (of `row` values) per parallel task.
fn rows_per_task(row: usize) -> usize {
    (TASK / row.max(1)).max(1)
}

/// One axis of `n` values between `outer` and `inner`, up-sampled to `2n`.
fn up_axis<T>(x: &[T], outer: usize, n: usize, inner: usize) -> Vec<T>
where
    T: Real + Mul<Output = T> + Add<Output = T>,
{
    let (near, far) = (T::from_f64(0.75), T::from_f64(0.25));
    let mut out = vec![T::from_f64(0.0); outer * 2 * n * inner];
    let rows = rows_per_task(n * inner);
    out.par_chunks_mut(rows * 2 * n * inner)
        .zip(x.par_chunks(rows * n * inner))
        .for_each(|(out, x)| {
            for (out, x) in out
                .chunks_exact_mut(2 * n * inner)
                .zip(x.chunks_exact(n * inner))
            {
                for i in 0..n {
                    let at = |j: usize| &x[j * inner..(j + 1) * inner];
                    let (here, prev, next) = (at(i), at(i.max(1) - 1), at((i + 1).min(n - 1)));
                    let (even, odd) = out[2 * i * inner..(2 * i + 2) * inner].split_at_mut(inner);
                    for k in 0..inner {
                        even[k] = here[k] * near + prev[k] * far;
                        odd[k] = here[k] * near + next[k] * far;
                    }
                }
            }
        });
    out
}

/// The adjoint of [`up_axis`]: each of the `2n` gradients back to the inputs it was made of.
fn up_axis_adjoint<T>(g: &[T], outer: usize, n: usize, inner: usize) -> Vec<T>
where
    T: Real + Mul<Output = T> + Add<Output = T>,
{
    let (near, far) = (T::from_f64(0.75), T::from_f64(0.25));
    let mut dx = vec![T::from_f64(0.0); outer * n * inner];
    let rows = rows_per_task(n * inner);
    dx.par_chunks_mut(rows * n * inner)
        .zip(g.par_chunks(rows * 2 * n * inner))
        .for_each(|(dx, g)| {
            for (dx, g) in dx
                .chunks_exact_mut(n * inner)
                .zip(g.chunks_exact(2 * n * inner))
            {
                let at = |j: usize| &g[j * inner..(j + 1) * inner];
                for i in 0..n {
                    let (even, odd) = (at(2 * i), at(2 * i + 1));
                    // Output 2i+2 took x[i] as its previous value (2i itself at the first);
                    // output 2i−1 took it as its next (2i+1 itself at the last).
                    let from_prev = if i + 1 < n { at(2 * i + 2) } else { odd };
                    let from_next = if i > 0 { at(2 * i - 1) } else { even };
                    let dx = &mut dx[i * inner..(i + 1) * inner];
                    for k in 0..inner {
                        dx[k] = (even[k] + odd[k]) * near + (from_prev[k] + from_next[k]) * far;
                    }
                }
            }
        });
    dx
}
