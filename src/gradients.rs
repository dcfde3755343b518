//! A model's gradients as one flat tensor in the module's parameter order, and back.
//!
//! Two places add gradients computed apart: a data-parallel run (each process's, summed by the
//! collective engine) and gradient accumulation (each micro-batch's, on one process). Both add the
//! same flat tensors element by element and divide by the count, so a run of N processes and a
//! run of N micro-batches on one process take bit-identical steps. The order is the module's visit
//! order, which is the same in every process whatever the parameters' ids.

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::data::MicroBatches;
use crate::error::{Error, Result};

/// Every parameter's gradient, flattened and concatenated in visit order (`flat`), with where
/// each one goes back.
pub struct FlatGradients<B: AutodiffBackend> {
    pub flat: Tensor<B::InnerBackend, 1>,
    /// Each gradient's parameter and shape, in visit order (its length in `flat` is the shape's
    /// product).
    layout: Vec<(ParamId, Vec<usize>)>,
    /// Where the gradients were (a collective engine may hand `flat` back elsewhere).
    device: burn::tensor::Device<B::InnerBackend>,
}

impl<B: AutodiffBackend> FlatGradients<B> {
    /// `grads` of `model` as one tensor; `None` when no parameter has a gradient.
    pub fn of<M: AutodiffModule<B>>(model: &M, grads: &GradientsParams) -> Option<Self> {
        let mut flatten = Flatten::<B> {
            grads,
            parts: Vec::new(),
        };
        model.visit(&mut flatten);
        let parts = flatten.parts;
        let device = parts.first()?.1.device();
        let layout = parts
            .iter()
            .map(|(id, _, shape)| (*id, shape.clone()))
            .collect();
        let flat = Tensor::cat(parts.into_iter().map(|(_, t, _)| t).collect(), 0);
        Some(FlatGradients {
            flat,
            layout,
            device,
        })
    }

    /// Whether `other` holds the gradients of the same parameters, in the same order.
    pub fn same_layout(&self, other: &Self) -> bool {
        self.layout == other.layout
    }

    /// Writes `flat`'s slices back into `grads` as the gradients of `model`'s parameters.
    pub fn put_back<M: AutodiffModule<B>>(
        self,
        model: &M,
        grads: &mut GradientsParams,
    ) -> Result<()> {
        let len = |shape: &[usize]| shape.iter().product::<usize>();
        let total: usize = self.layout.iter().map(|(_, shape)| len(shape)).sum();
        if self.flat.dims()[0] != total {
            return Err(Error::Training(format!(
                "{} gradient values for {total} parameter values",
                self.flat.dims()[0]
            )));
        }
        let mut offset = 0;
        let mut slices = Vec::with_capacity(self.layout.len());
        for (id, shape) in self.layout {
            let n = len(&shape);
            slices.push((
                id,
                shape,
                self.flat
                    .clone()
                    .narrow(0, offset, n)
                    .to_device(&self.device),
            ));
            offset += n;
        }
        let mut put = PutBack::<B, _> {
            grads,
            slices: slices.into_iter(),
            backend: std::marker::PhantomData,
        };
        model.visit(&mut put);
        Ok(())
    }
}

/// Collects the gradient of every parameter that has one, flattened, in visiting order.
struct Flatten<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    parts: Vec<(ParamId, Tensor<B::InnerBackend, 1>, Vec<usize>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let shape = g.dims().to_vec();
            self.parts.push((param.id, g.flatten::<1>(0, D - 1), shape));
        }
    }
}

/// Puts the slices back, in the same order.
struct PutBack<'a, B: AutodiffBackend, I> {
    grads: &'a mut GradientsParams,
    slices: I,
    backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend, I> ModuleVisitor<B> for PutBack<'_, B, I>
where
    I: Iterator<Item = (ParamId, Vec<usize>, Tensor<B::InnerBackend, 1>)>,
{
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if self.grads.get::<B::InnerBackend, D>(param.id).is_none() {
            return;
        }
        if let Some((id, shape, slice)) = self.slices.next() {
            let shape: [usize; D] = shape.try_into().expect("same parameter order");
            self.grads
                .register::<B::InnerBackend, D>(id, slice.reshape(shape));
        }
    }
}

/// The loss and gradients of a batch computed in parts (gradient accumulation): `part(i)` gives
/// part `i`'s mean loss and gradients, `crops[i]` its number of crops. Equal parts are added and
/// divided by their count — exactly the arithmetic of a data-parallel run's mean over as many
/// processes; unequal ones (an epoch's short last batch) are weighted by their crops.
pub fn accumulate<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    crops: &[usize],
    mut part: impl FnMut(usize) -> Result<(f64, GradientsParams)>,
) -> Result<(f64, GradientsParams)> {
    if crops.len() == 1 {
        return part(0);
    }
    let equal = crops.iter().all(|&c| c == crops[0]);
    let weight = |i: usize| if equal { 1.0 } else { crops[i] as f64 };
    let (mut value, mut grads) = (0.0, GradientsParams::new());
    let mut sum: Option<FlatGradients<B>> = None;
    for i in 0..crops.len() {
        let (v, g) = part(i)?;
        value += weight(i) * v;
        let Some(mut flat) = FlatGradients::<B>::of(model, &g) else {
            continue;
        };
        if !equal {
            flat.flat = flat.flat.mul_scalar(weight(i));
        }
        sum = Some(match sum {
            None => flat,
            Some(mut total) if total.same_layout(&flat) => {
                total.flat = total.flat + flat.flat;
                total
            }
            Some(_) => {
                return Err(Error::Training(
                    "micro-batches gave gradients for different parameters".into(),
                ));
            }
        });
        grads = g;
    }
    let divisor = if equal {
        crops.len()
    } else {
        crops.iter().sum()
    } as f64;
    if let Some(mut total) = sum {
        total.flat = total.flat.div_scalar(divisor);
        total.put_back(model, &mut grads)?;
    }
    Ok((value / divisor, grads))
}

/// How each batch goes through the network: in one piece, or as `parts` micro-batches of whole
/// volumes (`crops_per_volume` crops each) whose gradients are [`accumulate`]d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroBatching {
    parts: usize,
    crops_per_volume: usize,
}

impl Default for MicroBatching {
    fn default() -> Self {
        MicroBatching::new(1, 1)
    }
}

impl MicroBatching {
    pub fn new(parts: usize, crops_per_volume: usize) -> Self {
        MicroBatching {
            parts: parts.max(1),
            crops_per_volume: crops_per_volume.max(1),
        }
    }

    /// The loss and gradients of `batch`: `whole` of it, or of each micro-batch, accumulated.
    pub fn gradients<B: AutodiffBackend, M: AutodiffModule<B>, T: MicroBatches>(
        &self,
        model: &M,
        batch: &T,
        whole: impl Fn(&T) -> (f64, GradientsParams),
    ) -> Result<(f64, GradientsParams)> {
        if self.parts == 1 {
            return Ok(whole(batch));
        }
        let parts = batch.micro_batches(self.parts, self.crops_per_volume)?;
        let crops = parts.iter().map(T::crops).collect::<Result<Vec<_>>>()?;
        accumulate(model, &crops, |i| Ok(whole(&parts[i])))
    }
}
