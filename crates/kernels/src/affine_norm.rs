//! Group norm with a learned scale and shift per channel, PyTorch's `GroupNorm(G, C, affine=True)`
//! (SegResNet's norm); with `G = C` it is `InstanceNorm3d(affine=True)` (DynUNet's).
//!
//! Written as ssl3d's instance norm followed by Burn's broadcasting multiply and add, the scale
//! and shift cost two more full-size tensors in the forward pass and, in the backward, the
//! broadcast products and reductions of both, on one thread. On the CPU backend this is one
//! kernel: statistics in f64 over each (sample, group) row, the output written once, and the
//! backward in two parallel passes over the channel planes — the per-plane sums `Σ∂y` and
//! `Σ∂y·ŷ` give the shift's and scale's gradients and the input gradient
//! `∂x = (w·∂y − mean(w·∂y) − ŷ·mean(w·∂y·ŷ)) / σ` of each row. Every other backend runs
//! [`reference()`], Burn's ops, which is also the kernel's test reference.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorMetadata};
use rayon::prelude::*;

use super::dispatch::{CpuTrain, OnCpu, Real, back, flex_tensor, on_cpu, primitive, same};
use super::instance_norm::{self, row_statistics};

/// `[B, C, X, Y, Z]` normalised over each sample's `groups` groups of `C / groups` channels and
/// all their voxels (biased variance), then `· weight[c] + bias[c]`.
///
/// # Panics
/// When `groups` does not divide the channels, or `weight` or `bias` do not hold one value per
/// channel (the networks check their settings before building).
pub fn affine_group_norm<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    groups: usize,
) -> Tensor<B, 5> {
    let channels = x.dims()[1];
    assert!(
        groups > 0 && channels.is_multiple_of(groups),
        "{groups} groups do not divide {channels} channels"
    );
    assert!(
        weight.dims() == [channels] && bias.dims() == [channels],
        "the scale and shift hold {:?} and {:?} values for {channels} channels",
        weight.dims(),
        bias.dims()
    );
    let dtype = x.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) || weight.dtype() != dtype || bias.dtype() != dtype
    {
        return reference(x, weight, bias, groups);
    }
    match on_cpu(x) {
        OnCpu::Train(x) => {
            let (w, b) = (same::<_, Tensor<CpuTrain, 1>>(weight), same(bias));
            back::<CpuTrain, B, 5>(record(
                primitive(x),
                primitive(w),
                primitive::<CpuTrain, 1>(b),
                groups,
            ))
        }
        OnCpu::Infer(x) => {
            let (w, b) = (same::<_, Tensor<Flex, 1>>(weight), same(bias));
            let (out, _) = forward(
                &primitive(x),
                &primitive(w),
                &primitive::<Flex, 1>(b),
                groups,
                false,
            );
            back::<Flex, B, 5>(out)
        }
        OnCpu::Generic(x) => reference(x, weight, bias, groups),
    }
}

/// The same maths as Burn tensor ops (any backend).
pub fn reference<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    groups: usize,
) -> Tensor<B, 5> {
    let dims = x.dims();
    let [b, c, sx, sy, sz] = dims;
    let grouped = x.reshape([b, groups, c / groups * sx, sy, sz]);
    let normed = instance_norm::reference(grouped).reshape(dims);
    normed * weight.reshape([1, c, 1, 1, 1]) + bias.reshape([1, c, 1, 1, 1])
}

type TrackedTensor = FloatTensor<CpuTrain>;

/// What the backward needs: the normalised input `ŷ`, `1/σ` per row, the scale, the groups.
#[derive(Debug, Clone)]
struct Saved {
    normalized: FlexTensor,
    inv_std: Vec<f64>,
    weight: FlexTensor,
    groups: usize,
}

/// The autodiff step (parents: input, scale, shift).
#[derive(Debug)]
struct AffineNormBackward;

impl Backward<Flex, 3> for AffineNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, w_node, b_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (dx, dw, db) = gradients(&grad, &ops.state);
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = w_node {
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = b_node {
            grads.register::<Flex>(node.id, db);
        }
    }
}

fn record(
    x: TrackedTensor,
    weight: TrackedTensor,
    bias: TrackedTensor,
    groups: usize,
) -> TrackedTensor {
    match AffineNormBackward
        .prepare::<NoCheckpointing>([x.node.clone(), weight.node.clone(), bias.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, kept) = forward(
                &x.primitive,
                &weight.primitive,
                &bias.primitive,
                groups,
                true,
            );
            let (normalized, inv_std) = kept.expect("kept when asked");
            let saved = Saved {
                normalized,
                inv_std,
                weight: weight.primitive.to_contiguous(),
                groups,
            };
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => {
            let (out, _) = forward(
                &x.primitive,
                &weight.primitive,
                &bias.primitive,
                groups,
                false,
            );
            prep.finish(out)
        }
    }
}

/// The output and, with `keep`, `ŷ` and `1/σ` per row for the backward.
fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    groups: usize,
    keep: bool,
) -> (FlexTensor, Option<(FlexTensor, Vec<f64>)>) {
    let shape = x.shape();
    let (x, weight, bias) = (
        x.to_contiguous(),
        weight.to_contiguous(),
        bias.to_contiguous(),
    );
    let dims = Dims::of(&shape, groups);
    macro_rules! run {
        ($t:ty) => {{
            let (out, normalized, inv_std) = normalize_rows(
                x.storage::<$t>(),
                weight.storage::<$t>(),
                bias.storage::<$t>(),
                dims,
                keep,
            );
            let kept = normalized.map(|n| (flex_tensor(n, shape.clone()), inv_std));
            (flex_tensor(out, shape.clone()), kept)
        }};
    }
    match x.dtype() {
        DType::F32 => run!(f32),
        _ => run!(f64),
    }
}

/// The input's, scale's and shift's gradients.
fn gradients(grad: &FlexTensor, saved: &Saved) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = saved.normalized.shape();
    let dims = Dims::of(&shape, saved.groups);
    macro_rules! run {
        ($t:ty) => {{
            let (dx, dw, db) = backward_rows(
                grad.storage::<$t>(),
                saved.normalized.storage::<$t>(),
                &saved.inv_std,
                saved.weight.storage::<$t>(),
                dims,
            );
            (
                flex_tensor(dx, shape.clone()),
                flex_tensor(dw, [dims.channels]),
                flex_tensor(db, [dims.channels]),
            )
        }};
    }
    match saved.normalized.dtype() {
        DType::F32 => run!(f32),
        _ => run!(f64),
    }
}

/// The layout: `batch · channels` planes of `plane` voxels; a row (one sample's group) is
/// `channels / groups` consecutive planes.
#[derive(Debug, Clone, Copy)]
struct Dims {
    channels: usize,
    groups: usize,
    plane: usize,
}

impl Dims {
    fn of(shape: &burn::tensor::Shape, groups: usize) -> Dims {
        let plane = shape[2] * shape[3] * shape[4];
        Dims {
            channels: shape[1],
            groups,
            plane,
        }
    }

    fn per_group(&self) -> usize {
        self.channels / self.groups
    }

    fn row_len(&self) -> usize {
        self.per_group() * self.plane
    }
}

/// Per row, the mean and biased variance in f64; then `out = ŷ·w + b` with
/// `ŷ = (x − mean)/σ` (kept with `keep`). Returns the output, `ŷ` and `1/σ` per row.
fn normalize_rows<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    dims: Dims,
    keep: bool,
) -> (Vec<T>, Option<Vec<T>>, Vec<f64>) {
    let row_len = dims.row_len().max(1);
    let rows = x.len() / row_len;
    let plane = dims.plane.max(1);
    let stats: Vec<(f64, f64)> = x.par_chunks(row_len).map(row_statistics).collect();
    let zero = T::from_f64(0.0);
    let mut out = vec![zero; x.len()];
    let mut normalized = if keep {
        vec![zero; x.len()]
    } else {
        Vec::new()
    };
    // The two loops differ only in keeping ŷ: one branch per plane, not per voxel.
    let write = |p: usize, out: &mut [T], kept: Option<&mut [T]>, x: &[T]| {
        let c = p % dims.channels;
        let (mean, inv) = stats[(p / dims.channels) * dims.groups + c / dims.per_group()];
        let (scale, shift) = (w[c].widen(), b[c].widen());
        let normalize = |v: &T| T::from_f64((v.widen() - mean) * inv);
        let affine = |y: T| T::from_f64(y.widen() * scale + shift);
        match kept {
            Some(kept) => {
                for ((o, k), v) in out.iter_mut().zip(kept).zip(x) {
                    *k = normalize(v);
                    *o = affine(*k);
                }
            }
            None => {
                for (o, v) in out.iter_mut().zip(x) {
                    *o = affine(normalize(v));
                }
            }
        }
    };
    if keep {
        out.par_chunks_mut(plane)
            .zip(normalized.par_chunks_mut(plane))
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(p, ((o, k), x))| write(p, o, Some(k), x));
    } else {
        out.par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(p, (o, x))| write(p, o, None, x));
    }
    debug_assert_eq!(stats.len(), rows);
    let inv_std = stats.into_iter().map(|(_, inv)| inv).collect();
    (out, keep.then_some(normalized), inv_std)
}

/// `(∂x, ∂w, ∂b)` from the output gradient `g`, `ŷ`, `1/σ` per row and the scale `w`.
fn backward_rows<T: Real>(
    g: &[T],
    normalized: &[T],
    inv_std: &[f64],
    w: &[T],
    dims: Dims,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let plane = dims.plane.max(1);
    // Per channel plane: Σ∂y and Σ∂y·ŷ.
    let sums: Vec<(f64, f64)> = g
        .par_chunks(plane)
        .zip(normalized.par_chunks(plane))
        .map(|(g, y)| {
            g.iter().zip(y).fold((0.0, 0.0), |(s, sy), (g, y)| {
                (s + g.widen(), sy + g.widen() * y.widen())
            })
        })
        .collect();
    let (channels, per_group) = (dims.channels, dims.per_group());
    let mut dw = vec![0.0f64; channels];
    let mut db = vec![0.0f64; channels];
    for (p, (s, sy)) in sums.iter().enumerate() {
        db[p % channels] += s;
        dw[p % channels] += sy;
    }
    // Per row: mean(w·∂y) and mean(w·∂y·ŷ).
    let n = dims.row_len() as f64;
    let row_means: Vec<(f64, f64)> = sums
        .chunks(per_group)
        .enumerate()
        .map(|(r, planes)| {
            let first = (r % dims.groups) * per_group;
            planes
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(m, my), (i, (s, sy))| {
                    let scale = w[first + i].widen();
                    (m + scale * s / n, my + scale * sy / n)
                })
        })
        .collect();
    let mut dx = vec![T::from_f64(0.0); g.len()];
    dx.par_chunks_mut(plane)
        .zip(g.par_chunks(plane))
        .zip(normalized.par_chunks(plane))
        .enumerate()
        .for_each(|(p, ((dx, g), y))| {
            let c = p % channels;
            let r = (p / channels) * dims.groups + c / per_group;
            let (mean_g, mean_gy) = row_means[r];
            let (inv, scale) = (inv_std[r], w[c].widen());
            for ((o, g), y) in dx.iter_mut().zip(g).zip(y) {
                *o = T::from_f64(inv * (scale * g.widen() - mean_g - y.widen() * mean_gy));
            }
        });
    let narrow = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
    (dx, narrow(dw), narrow(db))
}
