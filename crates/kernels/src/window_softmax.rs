//! Swin window attention's probabilities: `softmax(scores + bias[head] + mask[window])` over each
//! row, where the relative-position `bias` `(heads, n, n)` repeats over every window and MONAI's
//! shift `mask` `(windows, n, n)` over the batch. Flex adds broadcast tensors through a generic
//! strided iterator, one element at a time: at 96³ those two additions cost a fifth of the Swin
//! encoder's forward. Here, on `Flex` / `Autodiff<Flex>`, one parallel pass adds both and takes
//! the softmax; the backward gives the scores' gradient (the softmax's) and the bias's (its sum
//! over windows). Other backends use Burn's broadcasts and softmax.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorMetadata};
use rayon::prelude::*;

use super::dispatch::{CpuTrain, OnCpu, back, flex_tensor, on_cpu, primitive, same};
use super::row_softmax::RowSoftmax;

/// `softmax(scores + bias + mask)` for `scores` `(B·windows, heads, n, n)`, `bias`
/// `(heads, n, n)` and `mask` `(windows, n, n)` (item `i` is window `i mod windows`).
pub fn window_softmax<B: Backend>(
    scores: Tensor<B, 4>,
    bias: Tensor<B, 3>,
    mask: Option<Tensor<B, 3>>,
) -> Tensor<B, 4> {
    if !matches!(scores.dtype(), DType::F32 | DType::F64) || scores.dtype() != bias.dtype() {
        return generic(scores, bias, mask);
    }
    match on_cpu(scores) {
        OnCpu::Train(scores) => {
            let bias: Tensor<CpuTrain, 3> = same(bias);
            let mask = mask.map(|m| primitive(same::<_, Tensor<CpuTrain, 3>>(m)).primitive);
            back::<CpuTrain, B, 4>(record(primitive(scores), primitive(bias), mask))
        }
        OnCpu::Infer(scores) => {
            let bias = primitive(same::<_, Tensor<Flex, 3>>(bias));
            let mask = mask.map(|m| primitive(same::<_, Tensor<Flex, 3>>(m)));
            back::<Flex, B, 4>(forward(&primitive(scores), &bias, mask.as_ref()))
        }
        OnCpu::Generic(scores) => generic(scores, bias, mask),
    }
}

/// Burn's broadcasts and softmax (every other backend, and the reference).
pub fn generic<B: Backend>(
    scores: Tensor<B, 4>,
    bias: Tensor<B, 3>,
    mask: Option<Tensor<B, 3>>,
) -> Tensor<B, 4> {
    let [bw, heads, n, _] = scores.dims();
    let mut s = scores + bias.unsqueeze_dim::<4>(0);
    if let Some(mask) = mask {
        let nw = mask.dims()[0];
        let grouped: Tensor<B, 5> = s.reshape([bw / nw, nw, heads, n, n])
            + mask.unsqueeze_dim::<4>(1).unsqueeze_dim::<5>(0);
        s = grouped.reshape([bw, heads, n, n]);
    }
    softmax(s, 3)
}

/// The autodiff step: keeps the probabilities.
#[derive(Debug)]
struct WindowSoftmaxBackward;

impl Backward<Flex, 2> for WindowSoftmaxBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_scores, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let probs = ops.state;
        let d_scores = softmax_backward(&grad, &probs);
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, sum_over_windows(&d_scores));
        }
        if let Some(node) = node_scores {
            grads.register::<Flex>(node.id, d_scores);
        }
    }
}

type TrackedTensor = burn::tensor::ops::FloatTensor<CpuTrain>;

fn record(scores: TrackedTensor, bias: TrackedTensor, mask: Option<FlexTensor>) -> TrackedTensor {
    match WindowSoftmaxBackward
        .prepare::<NoCheckpointing>([scores.node.clone(), bias.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let probs = forward(&scores.primitive, &bias.primitive, mask.as_ref());
            prep.finish(probs.clone(), probs)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(&scores.primitive, &bias.primitive, mask.as_ref()))
        }
    }
}

fn forward(scores: &FlexTensor, bias: &FlexTensor, mask: Option<&FlexTensor>) -> FlexTensor {
    let scores = scores.to_contiguous();
    let bias = bias.to_contiguous();
    let mask = mask.map(FlexTensor::to_contiguous);
    let dims: [usize; 4] = scores.shape().dims();
    match scores.dtype() {
        DType::F32 => flex_tensor(
            probabilities(
                scores.storage::<f32>(),
                bias.storage::<f32>(),
                mask.as_ref().map(|m| m.storage::<f32>()),
                dims,
            ),
            dims,
        ),
        _ => flex_tensor(
            probabilities(
                scores.storage::<f64>(),
                bias.storage::<f64>(),
                mask.as_ref().map(|m| m.storage::<f64>()),
                dims,
            ),
            dims,
        ),
    }
}

/// One `(item, head)` block of `n × n` per task: add, then the row softmax.
fn probabilities<T: RowSoftmax>(
    scores: &[T],
    bias: &[T],
    mask: Option<&[T]>,
    [_, heads, n, _]: [usize; 4],
) -> Vec<T> {
    let block = n * n;
    let mut out = scores.to_vec();
    let windows = mask.map_or(1, |m| m.len() / block);
    out.par_chunks_mut(block).enumerate().for_each(|(i, out)| {
        let (item, head) = (i / heads, i % heads);
        let b = &bias[head * block..(head + 1) * block];
        for (o, &b) in out.iter_mut().zip(b) {
            *o = *o + b;
        }
        if let Some(mask) = mask {
            let w = item % windows;
            for (o, &m) in out.iter_mut().zip(&mask[w * block..(w + 1) * block]) {
                *o = *o + m;
            }
        }
        for row in out.chunks_exact_mut(n) {
            T::softmax(row);
        }
    });
    out
}

fn softmax_backward(grad: &FlexTensor, probs: &FlexTensor) -> FlexTensor {
    let grad = grad.to_contiguous();
    let dims: [usize; 4] = probs.shape().dims();
    let n = dims[3];
    fn rows<T: RowSoftmax>(g: &[T], p: &[T], n: usize) -> Vec<T> {
        let mut d = g.to_vec();
        d.par_chunks_mut(n * 64)
            .zip(p.par_chunks(n * 64))
            .for_each(|(d, p)| {
                for (d, p) in d.chunks_exact_mut(n).zip(p.chunks_exact(n)) {
                    T::softmax_backward(d, p);
                }
            });
        d
    }
    match probs.dtype() {
        DType::F32 => flex_tensor(rows(grad.storage::<f32>(), probs.storage::<f32>(), n), dims),
        _ => flex_tensor(rows(grad.storage::<f64>(), probs.storage::<f64>(), n), dims),
    }
}

/// `Σ_item d[item]`: `(heads, n, n)`, in parallel over its rows.
fn sum_over_windows(d: &FlexTensor) -> FlexTensor {
    let [items, heads, n, _]: [usize; 4] = d.shape().dims();
    fn sum<T: RowSoftmax>(d: &[T], items: usize, per_item: usize, n: usize) -> Vec<T> {
        let mut out = vec![T::from_f64(0.0); per_item];
        out.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
            for item in 0..items {
                let src = &d[item * per_item + r * n..item * per_item + (r + 1) * n];
                for (o, &v) in row.iter_mut().zip(src) {
                    *o = *o + v;
                }
            }
        });
        out
    }
    let per_item = heads * n * n;
    match d.dtype() {
        DType::F32 => flex_tensor(sum(d.storage::<f32>(), items, per_item, n), [heads, n, n]),
        _ => flex_tensor(sum(d.storage::<f64>(), items, per_item, n), [heads, n, n]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_tensors::uniform;

    fn close(a: Vec<f32>, b: Vec<f32>, what: &str) {
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst < 1e-5, "{what}: {worst}");
    }

    #[test]
    fn probabilities_and_gradients_are_burns() {
        let (items, heads, n, windows) = (6, 2, 5, 3);
        let scores = uniform::<CpuTrain, 4>([items, heads, n, n], (-2.0, 2.0), 1);
        let bias = uniform::<CpuTrain, 3>([heads, n, n], (0.0, 1.0), 2);
        let mask = uniform::<CpuTrain, 3>([windows, n, n], (0.0, 1.0), 3)
            .greater_elem(0.5)
            .float()
            * -100.0;
        let w = uniform::<CpuTrain, 4>([items, heads, n, n], (0.0, 1.0), 4);
        for mask in [None, Some(mask)] {
            let run = |f: &dyn Fn(_, _, _) -> Tensor<CpuTrain, 4>| {
                let s = scores.clone().require_grad();
                let b = bias.clone().require_grad();
                let p = f(s.clone(), b.clone(), mask.clone());
                let g = (p.clone() * w.clone()).sum().backward();
                let v = |t: Tensor<CpuTrain, 4>| t.into_data().to_vec::<f32>().unwrap();
                let v3 = |t: Tensor<Flex, 3>| t.into_data().to_vec::<f32>().unwrap();
                let ds = s.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap();
                (v(p), ds, v3(b.grad(&g).unwrap()))
            };
            let ours = run(&|s, b, m| window_softmax(s, b, m));
            let burns = run(&|s, b, m| generic(s, b, m));
            close(ours.0, burns.0, "probabilities");
            close(ours.1, burns.1, "scores' gradient");
            close(ours.2, burns.2, "bias gradient");
        }
    }
}
