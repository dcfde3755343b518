//! MONAI `SABlock`'s attention on its packed qkv matrix: `softmax(q·kᵀ·d^-½)·v` per (item, head).
//!
//! The fused qkv projection gives `[batch·tokens, 3·hidden]` with features laid out
//! `(qkv, head, head_dim)`; the output projection wants `[batch·tokens, hidden]` laid out
//! `(head, head_dim)`. Written with Burn's ops, getting there permutes, slices and reshapes q, k,
//! v and the output through copies, and the attention's softmax and its backward run as separate
//! element-wise passes; on the CPU backend all of these are single-threaded, about a tenth of a
//! batch-1 ViTAutoEnc training step. On `Flex` / `Autodiff<Flex>` (f32, f64) one kernel reads q,
//! k, v in place as strided matrices and writes the heads straight into their output columns,
//! parallel over (item, head); its backward does the same for the three gradients. Every other
//! backend, and the kernel's tests, use the Burn-op version ([`reference()`]).

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Tensor, TensorMetadata};
use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{ArrayView2, ArrayView4, ArrayViewMut2, ArrayViewMut4, Axis, LinalgScalar, s};

use super::dispatch::{CpuTrain, OnCpu, back, flex_tensor, on_cpu, primitive};
use super::precision::{computes_in_bf16, lowered};
use super::row_softmax::RowSoftmax;

/// Attention over `qkv: [batch·tokens, 3·hidden]` ("b n (qkv l d)") with `heads` heads, giving
/// `[batch·tokens, hidden]` ("b n (l d)").
pub fn packed_attention<B: Backend>(qkv: Tensor<B, 2>, batch: usize, heads: usize) -> Tensor<B, 2> {
    let shape = Packing::new(qkv.dims(), batch, heads);
    if computes_in_bf16() {
        let dtype = qkv.dtype();
        return reference(lowered(qkv), batch, heads).cast(dtype);
    }
    if !matches!(qkv.dtype(), DType::F32 | DType::F64) {
        return reference(qkv, batch, heads);
    }
    match on_cpu(qkv) {
        OnCpu::Train(qkv) => back::<CpuTrain, B, 2>(record(primitive(qkv), shape)),
        OnCpu::Infer(qkv) => back::<Flex, B, 2>(forward(primitive(qkv), shape).0),
        OnCpu::Generic(qkv) => reference(qkv, batch, heads),
    }
}

/// The same maths with Burn's ops (any backend): MONAI's rearranges, then Burn's attention.
pub fn reference<B: Backend>(qkv: Tensor<B, 2>, batch: usize, heads: usize) -> Tensor<B, 2> {
    let Packing {
        batch: b,
        tokens: n,
        heads,
        head_dim: d,
    } = Packing::new(qkv.dims(), batch, heads);
    // "b n (qkv l d) -> qkv b l n d"
    let qkv = qkv.reshape([b, n, 3, heads, d]).permute([2, 0, 3, 1, 4]);
    let part = |i: usize| -> Tensor<B, 4> {
        qkv.clone()
            .slice([i..i + 1, 0..b, 0..heads, 0..n, 0..d])
            .reshape([b, heads, n, d])
    };
    let o = attention(
        part(0),
        part(1),
        part(2),
        None,
        None,
        AttentionModuleOptions::default(),
    );
    // "b l n d -> (b n) (l d)"
    o.swap_dims(1, 2).reshape([b * n, heads * d])
}

/// How `[batch·tokens, 3·heads·head_dim]` splits.
#[derive(Clone, Copy, Debug)]
struct Packing {
    batch: usize,
    tokens: usize,
    heads: usize,
    head_dim: usize,
}

impl Packing {
    fn new([rows, features]: [usize; 2], batch: usize, heads: usize) -> Self {
        assert!(
            batch > 0 && rows.is_multiple_of(batch),
            "attention: {rows} token rows do not split into {batch} items"
        );
        assert!(
            heads > 0 && features.is_multiple_of(3 * heads),
            "attention: {features} qkv features do not split into q, k, v of {heads} heads"
        );
        Self {
            batch,
            tokens: rows / batch,
            heads,
            head_dim: features / (3 * heads),
        }
    }

    /// `[batch, tokens, 3·heads, head_dim]`: q of head `l` at `l`, k at `heads + l`, v at `2·heads + l`.
    fn qkv_dims(&self) -> (usize, usize, usize, usize) {
        (self.batch, self.tokens, 3 * self.heads, self.head_dim)
    }

    /// `[batch, tokens, heads, head_dim]`.
    fn out_dims(&self) -> (usize, usize, usize, usize) {
        (self.batch, self.tokens, self.heads, self.head_dim)
    }

    fn scale(&self) -> f64 {
        1.0 / (self.head_dim as f64).sqrt()
    }
}

/// The autodiff step: keeps the packed qkv and the attention probabilities.
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    type State = (FlexTensor, FlexTensor, Packing);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let (qkv, probs, shape) = ops.state;
            grads.register::<Flex>(node.id, backward(grad, qkv, probs, shape));
        }
    }
}

type TrackedTensor = burn::tensor::ops::FloatTensor<CpuTrain>;

fn record(qkv: TrackedTensor, shape: Packing) -> TrackedTensor {
    match AttentionBackward
        .prepare::<NoCheckpointing>([qkv.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let qkv = qkv.primitive.to_contiguous();
            let (out, probs) = forward(qkv.clone(), shape);
            prep.finish((qkv, probs, shape), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(qkv.primitive, shape).0),
    }
}

/// The output `[batch·tokens, hidden]` and the probabilities `[batch, heads, tokens, tokens]`.
fn forward(qkv: FlexTensor, shape: Packing) -> (FlexTensor, FlexTensor) {
    let qkv = qkv.to_contiguous();
    let (b, n, l, d) = shape.out_dims();
    match qkv.dtype() {
        DType::F32 => {
            let (out, probs) = attend(qkv.storage::<f32>(), shape);
            (
                flex_tensor(out, [b * n, l * d]),
                flex_tensor(probs, [b, l, n, n]),
            )
        }
        _ => {
            let (out, probs) = attend(qkv.storage::<f64>(), shape);
            (
                flex_tensor(out, [b * n, l * d]),
                flex_tensor(probs, [b, l, n, n]),
            )
        }
    }
}

/// The gradient with respect to the packed qkv, `[batch·tokens, 3·hidden]`.
fn backward(grad: FlexTensor, qkv: FlexTensor, probs: FlexTensor, shape: Packing) -> FlexTensor {
    let grad = grad.to_contiguous();
    let dims = qkv.shape();
    match qkv.dtype() {
        DType::F32 => flex_tensor(
            attend_backward(
                grad.storage::<f32>(),
                qkv.storage::<f32>(),
                probs.storage::<f32>(),
                shape,
            ),
            dims,
        ),
        _ => flex_tensor(
            attend_backward(
                grad.storage::<f64>(),
                qkv.storage::<f64>(),
                probs.storage::<f64>(),
                shape,
            ),
            dims,
        ),
    }
}

/// `out[b, :, l, :] = softmax(q·kᵀ·scale)·v` for every item `b` and head `l`, in parallel.
fn attend<T: RowSoftmax + LinalgScalar>(qkv: &[T], shape: Packing) -> (Vec<T>, Vec<T>) {
    let (b, n, l, d) = shape.out_dims();
    let qkv = ArrayView4::from_shape(shape.qkv_dims(), qkv).expect("attention: qkv view");
    let scale = T::from_f64(shape.scale());
    let mut out = vec![T::zero(); b * n * l * d];
    let mut probs = vec![T::zero(); b * l * n * n];
    let mut out_view =
        ArrayViewMut4::from_shape(shape.out_dims(), &mut out).expect("attention: output view");
    let mut probs_view =
        ArrayViewMut4::from_shape((b, l, n, n), &mut probs).expect("attention: probability view");
    out_view
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(probs_view.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(item, (mut out_item, mut probs_item))| {
            out_item
                .axis_iter_mut(Axis(1))
                .into_par_iter()
                .zip(probs_item.axis_iter_mut(Axis(0)).into_par_iter())
                .enumerate()
                .for_each(|(head, (mut o, mut p))| {
                    let q = qkv.slice(s![item, .., head, ..]);
                    let k = qkv.slice(s![item, .., l + head, ..]);
                    let v = qkv.slice(s![item, .., 2 * l + head, ..]);
                    general_mat_mul(scale, &q, &k.t(), T::zero(), &mut p);
                    p.rows_mut().into_iter().for_each(|mut row| {
                        T::softmax(row.as_slice_mut().expect("contiguous rows"))
                    });
                    general_mat_mul(T::one(), &p, &v, T::zero(), &mut o);
                });
        });
    (out, probs)
}

/// For every item and head, with `p` the probabilities and `g` the output gradient:
/// `∂v = pᵀ·g`, `∂p = g·vᵀ`, `∂s = p ⊙ (∂p − rowsum(∂p ⊙ p))`, `∂q = scale·∂s·k`,
/// `∂k = scale·∂sᵀ·q`, written into their places in the packed layout.
fn attend_backward<T: RowSoftmax + LinalgScalar>(
    grad: &[T],
    qkv: &[T],
    probs: &[T],
    shape: Packing,
) -> Vec<T> {
    let (b, n, l, _) = shape.out_dims();
    let qkv = ArrayView4::from_shape(shape.qkv_dims(), qkv).expect("attention: qkv view");
    let grad = ArrayView4::from_shape(shape.out_dims(), grad).expect("attention: gradient view");
    let probs = ArrayView4::from_shape((b, l, n, n), probs).expect("attention: probability view");
    let scale = T::from_f64(shape.scale());
    let (_, _, three_l, d) = shape.qkv_dims();
    let mut dqkv = vec![T::zero(); b * n * three_l * d];
    // [batch, tokens, 3, heads, head_dim]: per item and head, the q, k, v gradients at axis 1.
    let mut dqkv_view = ndarray::ArrayViewMut5::from_shape((b, n, 3, l, d), &mut dqkv)
        .expect("attention: qkv gradient view");
    dqkv_view
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(item, mut item_grad)| {
            item_grad
                .axis_iter_mut(Axis(2))
                .into_par_iter()
                .enumerate()
                .for_each(|(head, mut head_grad)| {
                    let q = qkv.slice(s![item, .., head, ..]);
                    let k = qkv.slice(s![item, .., l + head, ..]);
                    let v = qkv.slice(s![item, .., 2 * l + head, ..]);
                    let g = grad.slice(s![item, .., head, ..]);
                    let p = probs.slice(s![item, head, .., ..]);
                    let (mut dq, mut dk, mut dv) =
                        head_grad.multi_slice_mut((s![.., 0, ..], s![.., 1, ..], s![.., 2, ..]));
                    general_mat_mul(T::one(), &p.t(), &g, T::zero(), &mut dv);
                    let mut ds = ndarray::Array2::<T>::zeros((n, n));
                    general_mat_mul(T::one(), &g, &v.t(), T::zero(), &mut ds);
                    softmax_backward_rows(&mut ds.view_mut(), &p);
                    general_mat_mul(scale, &ds, &k, T::zero(), &mut dq);
                    general_mat_mul(scale, &ds.t(), &q, T::zero(), &mut dk);
                });
        });
    dqkv
}

/// `∂s = p ⊙ (∂p − Σ_j ∂p_j·p_j)` row by row, in place over `∂p`.
fn softmax_backward_rows<T: RowSoftmax + LinalgScalar>(
    dp: &mut ArrayViewMut2<T>,
    p: &ArrayView2<T>,
) {
    for (mut row, p_row) in dp.rows_mut().into_iter().zip(p.rows()) {
        T::softmax_backward(
            row.as_slice_mut().expect("contiguous rows"),
            p_row.as_slice().expect("contiguous rows"),
        );
    }
}
