//! A permutation of a tensor's axes, materialised: `x.permute(axes)` laid out contiguously, as a
//! following `reshape` needs it. Flex makes a permuted tensor contiguous element by element
//! through a generic strided iterator, which dominated Swin UNETR's window partitions (8-D
//! permutes of whole volumes). Here, on `Flex` / `Autodiff<Flex>`, the axes that stay in place at
//! the end are copied as whole runs, the rest in parallel chunks; the backward is the inverse
//! permutation, the same copy. Other backends use Burn's `permute`.

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

/// Output values per parallel task.
const CHUNK: usize = 1 << 15;

/// `x.permute(axes)`, contiguous.
pub fn permute_contiguous<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    axes: [usize; D],
) -> Tensor<B, D> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return x.permute(axes);
    }
    match on_cpu(x) {
        OnCpu::Train(x) => back::<CpuTrain, B, D>(record(primitive(x), axes.to_vec())),
        OnCpu::Infer(x) => back::<Flex, B, D>(permuted(&primitive(x), &axes)),
        OnCpu::Generic(x) => x.permute(axes),
    }
}

/// The autodiff step: the gradient goes back through the inverse permutation.
#[derive(Debug)]
struct PermuteBackward;

impl Backward<Flex, 1> for PermuteBackward {
    type State = Vec<usize>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let mut inverse = vec![0; ops.state.len()];
            for (i, &a) in ops.state.iter().enumerate() {
                inverse[a] = i;
            }
            grads.register::<Flex>(node.id, permuted(&grad, &inverse));
        }
    }
}

type TrackedTensor = burn::tensor::ops::FloatTensor<CpuTrain>;

fn record(x: TrackedTensor, axes: Vec<usize>) -> TrackedTensor {
    match PermuteBackward
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = permuted(&x.primitive, &axes);
            prep.finish(axes, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(permuted(&x.primitive, &axes)),
    }
}

fn permuted(x: &FlexTensor, axes: &[usize]) -> FlexTensor {
    let x = x.to_contiguous();
    let dims: Vec<usize> = x.shape().to_vec();
    let out_dims: Vec<usize> = axes.iter().map(|&a| dims[a]).collect();
    match x.dtype() {
        DType::F64 => flex_tensor(copy(x.storage::<f64>(), &dims, axes), out_dims),
        _ => flex_tensor(copy(x.storage::<f32>(), &dims, axes), out_dims),
    }
}

/// The permuted copy of contiguous `src` of shape `dims`.
fn copy<T: Copy + Default + Send + Sync>(src: &[T], dims: &[usize], axes: &[usize]) -> Vec<T> {
    let d = dims.len();
    let mut in_strides = vec![1usize; d];
    for i in (0..d.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * dims[i + 1];
    }
    // Trailing axes that stay where they are: contiguous runs in both layouts.
    let kept = (0..d).rev().take_while(|&i| axes[i] == i).count();
    let outer = d - kept;
    let run: usize = dims[outer..].iter().product();
    let out_dims: Vec<usize> = axes[..outer].iter().map(|&a| dims[a]).collect();
    let strides: Vec<usize> = axes[..outer].iter().map(|&a| in_strides[a]).collect();
    let total: usize = dims.iter().product();
    let mut out = vec![T::default(); total];
    if total == 0 {
        return out;
    }
    let runs_per_task = (CHUNK / run.max(1)).max(1);
    out.par_chunks_mut(runs_per_task * run)
        .enumerate()
        .for_each(|(task, chunk)| {
            // The multi-index of the task's first run, then an odometer over the outer axes.
            let first = task * runs_per_task;
            let mut index = vec![0usize; outer];
            let mut rest = first;
            for i in (0..outer).rev() {
                index[i] = rest % out_dims[i];
                rest /= out_dims[i];
            }
            let mut offset: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
            for dst in chunk.chunks_exact_mut(run) {
                dst.copy_from_slice(&src[offset..offset + run]);
                for i in (0..outer).rev() {
                    index[i] += 1;
                    offset += strides[i];
                    if index[i] < out_dims[i] {
                        break;
                    }
                    offset -= strides[i] * out_dims[i];
                    index[i] = 0;
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_tensors::uniform;

    fn check<const D: usize>(shape: [usize; D], axes: [usize; D]) {
        let x = uniform::<Flex, D>(shape, (0.0, 1.0), 1);
        let ours = permute_contiguous(x.clone(), axes).into_data();
        let burns = x.permute(axes).into_data();
        assert_eq!(ours.shape, burns.shape, "{shape:?} {axes:?}");
        assert_eq!(
            ours.to_vec::<f32>().unwrap(),
            burns.to_vec::<f32>().unwrap(),
            "{shape:?} {axes:?}"
        );
    }

    #[test]
    fn every_layout_is_burns_permute() {
        check([2, 3, 4, 5, 2, 3, 4, 6], [0, 1, 3, 5, 2, 4, 6, 7]);
        check([2, 3, 4, 5, 2, 3, 4, 6], [0, 1, 4, 2, 5, 3, 6, 7]);
        check([7, 11, 3, 2, 5], [2, 0, 3, 1, 4]);
        check([2, 5, 3, 4, 3], [0, 2, 3, 4, 1]);
        check([3, 4], [1, 0]);
        check([3, 4, 5], [0, 1, 2]);
    }

    #[test]
    fn the_gradient_goes_back_through_the_inverse() {
        let x = uniform::<CpuTrain, 4>([2, 3, 4, 5], (0.0, 1.0), 1).require_grad();
        let w = uniform::<CpuTrain, 4>([4, 2, 5, 3], (0.0, 1.0), 2);
        let ours = (permute_contiguous(x.clone(), [2, 0, 3, 1]) * w.clone()).sum();
        let g = ours.backward();
        let got = x.grad(&g).unwrap().into_data();
        let x2 = x.detach().require_grad();
        let g2 = (x2.clone().permute([2, 0, 3, 1]) * w).sum().backward();
        let want = x2.grad(&g2).unwrap().into_data();
        assert_eq!(got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    }
}
