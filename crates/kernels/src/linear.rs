//! Linear layers on the CPU backend: `y = x·W + b` and its gradients as direct GEMM calls.
//!
//! Flex's matmul allocates every output with `FlexTensor::empty`, which zero-fills a byte vector
//! and then copies it into a 16-byte-aligned one (cubecl's `Bytes::from_bytes_vec`), on one
//! thread, for every activation and weight gradient of the ViT; Burn's linear then adds the bias
//! in a second pass and sums its gradient on one thread. Here each GEMM writes straight into the
//! vector that becomes the output tensor, the bias is the GEMM's starting value, and the bias
//! gradient is a parallel column sum. Same maths as [`Linear::forward`], which every other
//! backend (and dtypes other than f32/f64) runs.

use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorMetadata};
use ndarray::LinalgScalar;
use rayon::prelude::*;

use super::dispatch::{CpuTrain, OnCpu, Real, back, flex_tensor, on_cpu, primitive, same};
use super::precision::{computes_in_bf16, lowered};

/// Multiply-adds below which a GEMM runs on one thread (Flex's threshold).
const PARALLEL_WORK: usize = 192 * 192 * 192;

/// Rows per task of the bias-gradient column sums.
const ROWS_PER_TASK: usize = 64;

/// `layer.forward(x)` for `x` of shape `(rows, d_in)`.
pub fn linear<B: Backend>(layer: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    if computes_in_bf16() {
        let dtype = x.dtype();
        let bias = layer.bias.as_ref().map(|b| lowered(b.val()));
        return burn::tensor::module::linear(lowered(x), lowered(layer.weight.val()), bias)
            .cast(dtype);
    }
    let dtype = x.dtype();
    let same_dtype = layer.weight.val().dtype() == dtype
        && layer.bias.as_ref().is_none_or(|b| b.val().dtype() == dtype);
    if !matches!(dtype, DType::F32 | DType::F64) || !same_dtype {
        return layer.forward(x);
    }
    match on_cpu(x) {
        OnCpu::Train(x) => {
            let (weight, bias) = parameters::<B, CpuTrain>(layer);
            back::<CpuTrain, B, 2>(record(primitive(x), weight, bias))
        }
        OnCpu::Infer(x) => {
            let (weight, bias) = parameters::<B, Flex>(layer);
            back::<Flex, B, 2>(forward(&primitive(x), &weight, bias.as_ref()))
        }
        OnCpu::Generic(x) => layer.forward(x),
    }
}

/// The layer's weight and bias as primitives of backend `C`, which is `B` (checked by the caller).
fn parameters<B: Backend, C: Backend>(
    layer: &Linear<B>,
) -> (FloatTensor<C>, Option<FloatTensor<C>>) {
    let weight = primitive(same::<_, Tensor<C, 2>>(layer.weight.val()));
    let bias = layer
        .bias
        .as_ref()
        .map(|b| primitive(same::<_, Tensor<C, 1>>(b.val())));
    (weight, bias)
}

type TrackedTensor = FloatTensor<CpuTrain>;

/// The autodiff step of `x·W + b` (parents: input, weight and, with a bias, the bias).
#[derive(Debug)]
struct LinearBackward;

impl<const N: usize> Backward<Flex, N> for LinearBackward {
    /// The checkpointed input and weight.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let x = checkpointer.retrieve_node_output::<FlexTensor>(ops.state.0);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(ops.state.1);
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, input_grad(&grad, &weight));
        }
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, weight_grad(&x, &grad));
        }
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, bias_grad(&grad));
        }
    }
}

fn record(x: TrackedTensor, weight: TrackedTensor, bias: Option<TrackedTensor>) -> TrackedTensor {
    let (xn, wn) = (x.node.clone(), weight.node.clone());
    match &bias {
        Some(b) => finish(
            LinearBackward
                .prepare::<NoCheckpointing>([xn, wn, b.node.clone()])
                .compute_bound()
                .stateful(),
            &x,
            &weight,
            Some(b),
        ),
        None => finish(
            LinearBackward
                .prepare::<NoCheckpointing>([xn, wn])
                .compute_bound()
                .stateful(),
            &x,
            &weight,
            None,
        ),
    }
}

/// Runs the forward and, when any of the `N` parents is tracked, records [`LinearBackward`].
fn finish<const N: usize>(
    prepared: OpsKind<LinearBackward, Flex, (NodeId, NodeId), NoCheckpointing, N>,
    x: &TrackedTensor,
    weight: &TrackedTensor,
    bias: Option<&TrackedTensor>,
) -> TrackedTensor {
    let y = || forward(&x.primitive, &weight.primitive, bias.map(|b| &b.primitive));
    match prepared {
        OpsKind::Tracked(mut prep) => {
            let state = (prep.checkpoint(x), prep.checkpoint(weight));
            prep.finish(state, y())
        }
        OpsKind::UnTracked(prep) => prep.finish(y()),
    }
}

/// A contiguous 2-D tensor as an operand of [`product`], read as is or transposed.
#[derive(Clone, Copy)]
struct Operand<'a> {
    tensor: &'a FlexTensor,
    rows: usize,
    cols: usize,
    transposed: bool,
}

/// An [`Operand`]'s values as `T`.
struct TypedOperand<'a, T> {
    data: &'a [T],
    operand: Operand<'a>,
}

impl<'a> Operand<'a> {
    fn of(tensor: &'a FlexTensor, transposed: bool) -> Self {
        let [rows, cols] = tensor.shape().dims();
        Operand {
            tensor,
            rows,
            cols,
            transposed,
        }
    }

    fn typed<T: Real>(self) -> TypedOperand<'a, T> {
        TypedOperand {
            data: self.tensor.storage::<T>(),
            operand: self,
        }
    }

    /// `(rows, cols)` as the product sees it.
    fn dims(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// `(column stride, row stride)` as the product sees it.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (self.cols as isize, 1)
        } else {
            (1, self.cols as isize)
        }
    }
}

/// `lhs·rhs`, plus `bias` on every row when given, as a new row-major vector. The GEMM writes
/// every value itself (or adds to the bias copied into place), so the vector is never zeroed.
fn product<T: Real + LinalgScalar>(
    lhs: TypedOperand<T>,
    rhs: TypedOperand<T>,
    bias: Option<&[T]>,
) -> Vec<T> {
    let ((m, k), (k2, n)) = (lhs.operand.dims(), rhs.operand.dims());
    assert_eq!(
        k, k2,
        "linear: the left operand has {k} columns, the right one {k2} rows"
    );
    assert_eq!(
        lhs.data.len(),
        m * k,
        "linear: left operand of the wrong size"
    );
    assert_eq!(
        rhs.data.len(),
        k * n,
        "linear: right operand of the wrong size"
    );
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "linear: bias of the wrong size");
    }
    let len = m * n;
    if len == 0 || k == 0 {
        return match bias {
            Some(bias) => bias.repeat(m),
            None => vec![T::zero(); len],
        };
    }
    let mut dst: Vec<T> = Vec::with_capacity(len);
    if let Some(bias) = bias {
        dst.spare_capacity_mut()[..len]
            .par_chunks_mut(n)
            .for_each(|row| {
                row.iter_mut().zip(bias).for_each(|(d, &b)| {
                    d.write(b);
                })
            });
    }
    let parallelism = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let ((lhs_cs, lhs_rs), (rhs_cs, rhs_rs)) = (lhs.operand.strides(), rhs.operand.strides());
    // SAFETY: the sizes were checked above, so every index the strides reach is in bounds, and
    // `dst` has room for its m·n values. With a bias they were all written just above and the
    // GEMM adds to them; without one the GEMM does not read `dst` and writes each of the m·n
    // values (k > 0), so all are initialised before `set_len`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            bias.is_some(),
            lhs.data.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.data.as_ptr(),
            rhs_cs,
            rhs_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
        dst.set_len(len);
    }
    dst
}

/// `x·W + b`.
fn forward(x: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
    product_tensor((x, false), (weight, false), bias)
}

/// `∂x = g·Wᵀ`.
fn input_grad(grad: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    product_tensor((grad, false), (weight, true), None)
}

/// `∂W = xᵀ·g`.
fn weight_grad(x: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    product_tensor((x, true), (grad, false), None)
}

/// [`product`] of two 2-D tensors, each read as is or transposed (`(tensor, transposed)`).
fn product_tensor(
    lhs: (&FlexTensor, bool),
    rhs: (&FlexTensor, bool),
    bias: Option<&FlexTensor>,
) -> FlexTensor {
    let (lhs_t, rhs_t) = (lhs.0.to_contiguous(), rhs.0.to_contiguous());
    let bias = bias.map(|b| b.to_contiguous());
    let (lhs, rhs) = (Operand::of(&lhs_t, lhs.1), Operand::of(&rhs_t, rhs.1));
    let shape = [lhs.dims().0, rhs.dims().1];
    match lhs_t.dtype() {
        DType::F32 => flex_tensor(
            product::<f32>(lhs.typed(), rhs.typed(), bias.as_ref().map(|b| b.storage())),
            shape,
        ),
        _ => flex_tensor(
            product::<f64>(lhs.typed(), rhs.typed(), bias.as_ref().map(|b| b.storage())),
            shape,
        ),
    }
}

/// `∂b = Σ_rows g`: column sums of fixed blocks of rows in parallel, then their total in block
/// order (the same order every run).
fn bias_grad(grad: &FlexTensor) -> FlexTensor {
    match grad.dtype() {
        DType::F32 => bias_grad_typed::<f32>(grad),
        _ => bias_grad_typed::<f64>(grad),
    }
}

fn bias_grad_typed<T: Real + LinalgScalar>(grad: &FlexTensor) -> FlexTensor {
    let [_, d_out] = grad.shape().dims();
    let add = |mut acc: Vec<T>, rows: &[T]| {
        for row in rows.chunks_exact(d_out.max(1)) {
            acc.iter_mut().zip(row).for_each(|(a, &g)| *a = *a + g);
        }
        acc
    };
    let zeros = || vec![T::zero(); d_out];
    let partials: Vec<Vec<T>> = grad
        .storage::<T>()
        .par_chunks(ROWS_PER_TASK * d_out.max(1))
        .map(|rows| add(zeros(), rows))
        .collect();
    let db = partials.iter().fold(zeros(), |acc, p| add(acc, p));
    flex_tensor(db, [d_out])
}
