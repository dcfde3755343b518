//! DiceCE with softmax and one-hot labels as one fused kernel on the CPU backend.
//!
//! Written with Burn ops (`losses::DiceCeLossConfig::reference_parts`), the tutorial's loss at
//! 14 classes × 96³ builds a dozen full-size temporaries (one-hot, softmax, log-softmax, products)
//! whose channel-axis broadcasts run through Flex's single-threaded strided iteration: 1.6 s of a
//! 9 s UNETR training step at batch 1 (`ssl-bench --model dice-ce`). Here one parallel pass over
//! the voxels gathers the per-(batch, class) sums and the cross-entropy, and the backward is one
//! more pass. Sums are taken in f64 over fixed chunks added in order, so the result does not
//! depend on the thread count (exact resume needs bit-identical losses and gradients).
//!
//! Used on `Flex` and `Autodiff<Flex>` when the Dice term applies softmax to the logits and
//! one-hot encodes a `(B, 1, …)` label map (the tutorial's `DiceCELoss(to_onehot_y=True,
//! softmax=True)`, with any of the other Dice options, given as [`SoftmaxDiceCe`]); everything
//! else runs the Burn-op version.

use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData, TensorMetadata};
use rayon::prelude::*;

use super::dispatch::{
    CpuTrain, OnCpu, Real, flex_tensor as tensor, float, on_cpu, primitive, same,
};

/// Voxels per chunk: the unit of parallel work and of the fixed-order summation.
const CHUNK: usize = 4096;

/// Marks a voxel whose label is not one of the classes (its one-hot row is all zeros, as in
/// `losses::one_hot_labels`).
const NO_CLASS: u32 = u32::MAX;

/// MONAI's `DiceCELoss(softmax=True, to_onehot_y=True)` with its remaining options: what the
/// fused kernel computes, `λ_dice·Dice + λ_ce·CE`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftmaxDiceCe {
    pub include_background: bool,
    pub squared_pred: bool,
    pub jaccard: bool,
    /// Sum over the batch before the ratio (one Dice per class for the whole batch).
    pub batch: bool,
    /// Mean over the (batch, class) entries; otherwise their sum.
    pub mean: bool,
    pub smooth_nr: f64,
    pub smooth_dr: f64,
    pub lambda_dice: f64,
    pub lambda_ce: f64,
}

/// `(total, dice, ce)` through the fused kernel, or the inputs back when it does not apply
/// (another backend, labels that are not a `(B, 1, …)` map, one class, another float type).
/// On `Autodiff<Flex>` only `total` carries gradients; `dice` and `ce` are values for logging.
#[allow(clippy::type_complexity)]
pub fn fused_parts<B: Backend>(
    loss: &SoftmaxDiceCe,
    logits: Tensor<B, 5>,
    labels: Tensor<B, 5>,
) -> Result<[Tensor<B, 1>; 3], (Tensor<B, 5>, Tensor<B, 5>)> {
    let [b, c, x, y, z] = logits.dims();
    let applies = c > 1
        && labels.dims() == [b, 1, x, y, z]
        && matches!(logits.dtype(), DType::F32 | DType::F64);
    if !applies {
        return Err((logits, labels));
    }
    match on_cpu(logits) {
        OnCpu::Train(logits) => {
            let labels: Tensor<CpuTrain, 5> = same(labels);
            let classes = class_ids(primitive(labels.inner()), c);
            let (total, dice, ce) = record(loss, primitive(logits), classes);
            let device = Default::default();
            Ok([
                same(Tensor::<CpuTrain, 1>::from_primitive(float(total))),
                same(Tensor::<CpuTrain, 1>::from_floats([dice], &device)),
                same(Tensor::<CpuTrain, 1>::from_floats([ce], &device)),
            ])
        }
        OnCpu::Infer(logits) => {
            let labels: Tensor<Flex, 5> = same(labels);
            let classes = class_ids(primitive(labels), c);
            let logits = primitive(logits);
            let parts = Loss::compute(loss, &logits, &classes);
            let dtype = logits.dtype();
            Ok([parts.total(), parts.dice, parts.ce]
                .map(|v| same(Tensor::<Flex, 1>::from_primitive(float(scalar(v, dtype))))))
        }
        OnCpu::Generic(logits) => Err((logits, labels)),
    }
}

/// Each voxel's class index (`NO_CLASS` unless the label is a whole number in `0..classes`).
fn class_ids(labels: FlexTensor, classes: usize) -> Arc<Vec<u32>> {
    let labels = labels.to_contiguous();
    fn ids<T: Real>(values: &[T], classes: usize) -> Vec<u32> {
        values
            .par_iter()
            .map(|v| {
                let v = v.widen();
                if v >= 0.0 && v < classes as f64 && v.fract() == 0.0 {
                    v as u32
                } else {
                    NO_CLASS
                }
            })
            .collect()
    }
    Arc::new(match labels.dtype() {
        DType::F32 => ids(labels.storage::<f32>(), classes),
        DType::F64 => ids(labels.storage::<f64>(), classes),
        _ => {
            let values = labels.into_data().convert::<f64>();
            ids(values.as_slice::<f64>().expect("converted to f64"), classes)
        }
    })
}

type TrackedTensor = burn::tensor::ops::FloatTensor<CpuTrain>;

/// The autodiff step: keeps the logits, the class ids and the loss's coefficients.
#[derive(Debug)]
struct DiceCeBackward;

#[derive(Debug, Clone)]
struct State {
    logits: FlexTensor,
    classes: Arc<Vec<u32>>,
    loss: Arc<Loss>,
}

impl Backward<Flex, 1> for DiceCeBackward {
    type State = State;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let State {
                logits,
                classes,
                loss,
            } = ops.state;
            let upstream = grad.into_data().convert::<f64>().to_vec::<f64>();
            let upstream = upstream.ok().and_then(|v| v.first().copied());
            let dx = loss.gradient(&logits, &classes, upstream.unwrap_or(f64::NAN));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

fn record(
    config: &SoftmaxDiceCe,
    logits: TrackedTensor,
    classes: Arc<Vec<u32>>,
) -> (TrackedTensor, f64, f64) {
    let loss = Loss::compute(config, &logits.primitive, &classes);
    let (dice, ce) = (loss.dice, loss.ce);
    let total = scalar(loss.total(), logits.primitive.dtype());
    let out = match DiceCeBackward
        .prepare::<NoCheckpointing>([logits.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            State {
                logits: logits.primitive,
                classes,
                loss: Arc::new(loss),
            },
            total,
        ),
        OpsKind::UnTracked(prep) => prep.finish(total),
    };
    (out, dice, ce)
}

/// A one-element tensor of `dtype`.
fn scalar(value: f64, dtype: DType) -> FlexTensor {
    let data = match dtype {
        DType::F32 => TensorData::new(vec![value as f32], [1]),
        _ => TensorData::new(vec![value], [1]),
    };
    FlexTensor::from_data(data)
}

/// The forward result and what the backward needs: per-entry derivatives of the Dice term.
#[derive(Debug)]
struct Loss {
    batch: usize,
    classes: usize,
    voxels: usize,
    lambda_dice: f64,
    lambda_ce: f64,
    squared_pred: bool,
    dice: f64,
    ce: f64,
    /// `∂(λ_dice·dice)/∂tp` and `∂(λ_dice·dice)/∂(Σp)` per (batch item, class); zero for a class
    /// the Dice term leaves out.
    d_tp: Vec<f64>,
    d_pred: Vec<f64>,
}

impl Loss {
    fn compute(config: &SoftmaxDiceCe, logits: &FlexTensor, classes: &[u32]) -> Loss {
        let shape = logits.shape();
        let (batch, n_classes) = (shape[0], shape[1]);
        let voxels: usize = shape.iter().skip(2).product();
        let squared = config.squared_pred;
        let logits = logits.clone().to_contiguous();
        let sums = match logits.dtype() {
            DType::F32 => Sums::gather(logits.storage::<f32>(), classes, batch, n_classes, squared),
            _ => Sums::gather(logits.storage::<f64>(), classes, batch, n_classes, squared),
        };
        Loss::from_sums(config, &sums, batch, n_classes, voxels)
    }

    fn from_sums(
        config: &SoftmaxDiceCe,
        sums: &Sums,
        batch: usize,
        n_classes: usize,
        voxels: usize,
    ) -> Loss {
        let d = config;
        let first = if d.include_background { 0 } else { 1 };
        let rows = if d.batch { 1 } else { batch };
        let entries = rows * (n_classes - first);
        let a = if d.jaccard { 1.0 } else { 0.5 };
        let weight = match d.mean {
            true => config.lambda_dice / entries as f64,
            false => config.lambda_dice,
        };
        let mut dice = 0.0;
        let mut d_tp = vec![0.0; batch * n_classes];
        let mut d_pred = vec![0.0; batch * n_classes];
        for row in 0..rows {
            // The batch items one entry sums over: all of them with `batch`, else its own.
            let items: Vec<usize> = if d.batch {
                (0..batch).collect()
            } else {
                vec![row]
            };
            for c in first..n_classes {
                let total = |v: &[f64]| items.iter().map(|&b| v[b * n_classes + c]).sum::<f64>();
                let (tp, pred, ground) = (total(&sums.tp), total(&sums.pred), total(&sums.ground));
                let (fp, fn_) = (a * (pred - tp), a * (ground - tp));
                let num = 2.0 * tp + d.smooth_nr;
                let den = 2.0 * (tp + fp + fn_) + d.smooth_dr;
                dice += 1.0 - num / den;
                let dtp = -(2.0 * den - num * 2.0 * (1.0 - 2.0 * a)) / (den * den);
                let dpred = 2.0 * a * num / (den * den);
                for &b in &items {
                    d_tp[b * n_classes + c] = weight * dtp;
                    d_pred[b * n_classes + c] = weight * dpred;
                }
            }
        }
        if d.mean {
            dice /= entries as f64;
        }
        Loss {
            batch,
            classes: n_classes,
            voxels,
            lambda_dice: config.lambda_dice,
            lambda_ce: config.lambda_ce,
            squared_pred: d.squared_pred,
            dice,
            ce: sums.ce / (batch * voxels) as f64,
            d_tp,
            d_pred,
        }
    }

    fn total(&self) -> f64 {
        self.dice * self.lambda_dice + self.ce * self.lambda_ce
    }

    /// `∂(upstream·total)/∂logits`, shaped like the logits.
    fn gradient(&self, logits: &FlexTensor, classes: &[u32], upstream: f64) -> FlexTensor {
        let shape = logits.shape();
        let logits = logits.clone().to_contiguous();
        match logits.dtype() {
            DType::F32 => tensor(
                self.gradient_of(logits.storage::<f32>(), classes, upstream),
                shape,
            ),
            _ => tensor(
                self.gradient_of(logits.storage::<f64>(), classes, upstream),
                shape,
            ),
        }
    }

    fn gradient_of<T: Real>(&self, x: &[T], classes: &[u32], upstream: f64) -> Vec<T> {
        let (nc, n) = (self.classes, self.voxels);
        let ce_weight = self.lambda_ce / (self.batch * n) as f64;
        let mut dx = vec![T::from_f64(0.0); x.len()];
        // One work item per (batch item, chunk of voxels), holding that chunk of every channel.
        let mut items: Vec<(usize, usize, Vec<&mut [T]>)> = Vec::new();
        for (b, item) in dx.chunks_mut(nc * n).enumerate() {
            let first = items.len();
            for start in (0..n).step_by(CHUNK) {
                items.push((b, start, Vec::with_capacity(nc)));
            }
            for channel in item.chunks_mut(n) {
                for (j, piece) in channel.chunks_mut(CHUNK).enumerate() {
                    items[first + j].2.push(piece);
                }
            }
        }
        items.into_par_iter().for_each(|(b, start, mut out)| {
            let len = out[0].len();
            let probs = softmax_chunk(x, b, start, len, nc, n);
            let labels = &classes[b * n + start..b * n + start + len];
            let mut g = vec![0.0; nc];
            for (i, &label) in labels.iter().enumerate() {
                let p = |c: usize| probs.p[c * len + i];
                let mut dot = 0.0;
                for (c, gc) in g.iter_mut().enumerate() {
                    let t = if label as usize == c { 1.0 } else { 0.0 };
                    let dp = if self.squared_pred { 2.0 * p(c) } else { 1.0 };
                    *gc = self.d_tp[b * nc + c] * t + self.d_pred[b * nc + c] * dp;
                    dot += p(c) * *gc;
                }
                let valid = if label == NO_CLASS { 0.0 } else { 1.0 };
                for (c, gc) in g.iter().enumerate() {
                    let t = if label as usize == c { 1.0 } else { 0.0 };
                    let v = p(c) * (gc - dot) + ce_weight * (p(c) * valid - t);
                    out[c][i] = T::from_f64(upstream * v);
                }
            }
        });
        dx
    }
}

/// Softmax probabilities and log-partition of one chunk of voxels (f64).
struct ChunkSoftmax {
    /// `[class][voxel]`.
    p: Vec<f64>,
    /// `max + ln Σ exp(x − max)` per voxel: `log p_c = x_c − log_z`.
    log_z: Vec<f64>,
}

fn softmax_chunk<T: Real>(
    x: &[T],
    b: usize,
    start: usize,
    len: usize,
    nc: usize,
    n: usize,
) -> ChunkSoftmax {
    let at = |c: usize| &x[(b * nc + c) * n + start..(b * nc + c) * n + start + len];
    let mut max = vec![f64::NEG_INFINITY; len];
    for c in 0..nc {
        for (m, v) in max.iter_mut().zip(at(c)) {
            *m = m.max(v.widen());
        }
    }
    let mut p = vec![0.0; nc * len];
    let mut sum = vec![0.0; len];
    for c in 0..nc {
        for ((e, s), (v, m)) in p[c * len..(c + 1) * len]
            .iter_mut()
            .zip(sum.iter_mut())
            .zip(at(c).iter().zip(&max))
        {
            *e = (v.widen() - m).exp();
            *s += *e;
        }
    }
    for c in 0..nc {
        for (e, s) in p[c * len..(c + 1) * len].iter_mut().zip(&sum) {
            *e /= s;
        }
    }
    let log_z = max.iter().zip(&sum).map(|(m, s)| m + s.ln()).collect();
    ChunkSoftmax { p, log_z }
}

/// Per-(batch item, class) sums over voxels: `Σ p·t`, `Σ p` (or `Σ p²`), `Σ t`, and the summed
/// cross-entropy `Σ −log p_label`.
struct Sums {
    tp: Vec<f64>,
    pred: Vec<f64>,
    ground: Vec<f64>,
    ce: f64,
}

impl Sums {
    fn gather<T: Real>(x: &[T], classes: &[u32], batch: usize, nc: usize, squared: bool) -> Sums {
        let n = x.len() / (batch * nc).max(1);
        let chunks: Vec<(usize, usize)> = (0..batch)
            .flat_map(|b| (0..n).step_by(CHUNK).map(move |s| (b, s)))
            .collect();
        // Each chunk: [tp × nc, pred × nc, ground × nc, ce].
        let partials: Vec<Vec<f64>> = chunks
            .par_iter()
            .map(|&(b, start)| {
                let len = CHUNK.min(n - start);
                let soft = softmax_chunk(x, b, start, len, nc, n);
                let labels = &classes[b * n + start..b * n + start + len];
                let mut acc = vec![0.0; 3 * nc + 1];
                for c in 0..nc {
                    let p = &soft.p[c * len..(c + 1) * len];
                    acc[nc + c] = if squared {
                        p.iter().map(|v| v * v).sum()
                    } else {
                        p.iter().sum()
                    };
                }
                for (i, &label) in labels.iter().enumerate() {
                    if label == NO_CLASS {
                        continue;
                    }
                    let c = label as usize;
                    acc[c] += soft.p[c * len + i];
                    acc[2 * nc + c] += 1.0;
                    let logit = x[(b * nc + c) * n + start + i].widen();
                    acc[3 * nc] += soft.log_z[i] - logit;
                }
                acc
            })
            .collect();
        let mut sums = Sums {
            tp: vec![0.0; batch * nc],
            pred: vec![0.0; batch * nc],
            ground: vec![0.0; batch * nc],
            ce: 0.0,
        };
        for (&(b, _), acc) in chunks.iter().zip(&partials) {
            for c in 0..nc {
                sums.tp[b * nc + c] += acc[c];
                sums.pred[b * nc + c] += acc[nc + c];
                sums.ground[b * nc + c] += acc[2 * nc + c];
            }
            sums.ce += acc[3 * nc];
        }
        sums
    }
}
