//! A process's membership of a data-parallel run, and the three things training asks of it:
//! the mean of the gradients over all processes, the sum of a few numbers (losses, metrics), and
//! the rows of a tensor from every process (the contrastive loss's negatives).

use std::path::Path;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};
use xxhash_rust::xxh3::Xxh3;

use super::collective;
use super::control::{ControlClient, serve};
use super::world::World;
use crate::error::{Error, Result};

/// This process in a running data-parallel run.
pub struct DataParallel {
    world: World,
    control: ControlClient,
}

impl DataParallel {
    /// Joins the run `world` describes: rank 0 first opens the control channel and the engine's
    /// orchestrator; every rank then checks in with its `fingerprint` (refused unless all agree)
    /// and registers with the engine for tensors of backend `B` on `device`.
    pub fn join<B: Backend>(world: World, fingerprint: &str, device: &B::Device) -> Result<Self> {
        if world.rank == 0 {
            serve(&world.master, world.size)?;
            collective::start_orchestrator(&world)?;
        }
        let control = ControlClient::join(&world, fingerprint)?;
        // Where the others reach this process: its address on the connection to rank 0.
        if let Err(e) = collective::register_process::<B>(&world, control.local_ip, device) {
            control.fail(&e.to_string());
            return Err(e);
        }
        Ok(DataParallel { world, control })
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn rank(&self) -> usize {
        self.world.rank
    }

    pub fn size(&self) -> usize {
        self.world.size
    }

    /// Rank 0 alone writes the run folder.
    pub fn writes(&self) -> bool {
        self.world.writes()
    }

    /// Tells the other ranks this one failed with `error` (they stop, naming it).
    pub fn fail(&self, error: &Error) {
        self.control.fail(&error.to_string());
    }

    /// Waits until every rank is done (call at the end of a run that went well).
    pub fn finish(&self) {
        self.control.finish();
    }

    /// The element-wise sum over all processes.
    pub fn sum<B: Backend, const D: usize>(&self, t: Tensor<B, D>) -> Result<Tensor<B, D>> {
        // As one flat tensor at least as long as the run is wide: the ring strategy gives each
        // process a slice.
        let (shape, n) = (t.dims(), t.shape().num_elements());
        let mut flat = t.reshape([n]);
        if n < self.size() {
            let zeros = Tensor::zeros([self.size() - n], &flat.device());
            flat = Tensor::cat(vec![flat, zeros], 0);
        }
        let summed = collective::sum::<B>(self.rank(), flat.into_primitive().tensor())?;
        let summed = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(summed));
        Ok(summed.narrow(0, 0, n).reshape(shape))
    }

    /// The sum of `values` over all processes (a few losses or metrics; on the CPU).
    pub fn sum_values<B: Backend>(&self, values: &[f64], device: &B::Device) -> Result<Vec<f64>> {
        let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let summed = self.sum(Tensor::<B, 1>::from_floats(data.as_slice(), device))?;
        let out = summed
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .map_err(|e| Error::Distributed(format!("reading a summed value: {e:?}")))?;
        Ok(out)
    }

    /// A table whose rows are each filled (`Some`) on exactly one rank, `width` numbers a row:
    /// every row, on every rank. Exact: each number travels as two f32 (its f32 value and the
    /// rest), and every other rank adds zeros.
    pub fn share_rows<B: Backend>(
        &self,
        rows: &[Option<Vec<f64>>],
        width: usize,
        device: &B::Device,
    ) -> Result<Vec<Vec<f64>>> {
        let mut data = vec![0f32; rows.len() * width * 2];
        for (i, row) in rows.iter().enumerate() {
            for (j, &v) in row.iter().flatten().enumerate().take(width) {
                let hi = v as f32;
                let lo = if v.is_finite() {
                    (v - hi as f64) as f32
                } else {
                    0.0
                };
                data[(i * width + j) * 2] = hi;
                data[(i * width + j) * 2 + 1] = lo;
            }
        }
        let summed = self.sum(Tensor::<B, 1>::from_floats(data.as_slice(), device))?;
        let all = summed
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| Error::Distributed(format!("reading shared rows: {e:?}")))?;
        Ok(all
            .chunks(width * 2)
            .map(|row| row.chunks(2).map(|p| p[0] as f64 + p[1] as f64).collect())
            .collect())
    }

    /// The rows of `own` (`[n, d]`, the same `n` on every rank) from every rank, in rank order
    /// (`[size·n, d]`); gradients flow back to this rank's own rows only, as in SimCLR's
    /// cross-replica negatives.
    pub fn gather_rows<B: AutodiffBackend>(&self, own: Tensor<B, 2>) -> Result<Tensor<B, 2>> {
        let [n, d] = own.dims();
        let (rank, size) = (self.rank(), self.size());
        let rows = rank * n..(rank + 1) * n;
        let padded = Tensor::<B::InnerBackend, 2>::zeros([size * n, d], &own.device())
            .slice_assign([rows.clone(), 0..d], own.clone().inner());
        // Every other row is zero on all but one rank, so each sum is exact.
        let everyone = Tensor::<B, 2>::from_inner(self.sum(padded)?);
        Ok(everyone.slice_assign([rows, 0..d], own))
    }

    /// The mean of `grads` over all processes, as one flat all-reduce in the module's parameter
    /// order (the same on every rank, whatever the parameters' ids).
    pub fn mean_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: &M,
        mut grads: GradientsParams,
    ) -> Result<GradientsParams> {
        let mut flat = Flatten::<B> {
            grads: &grads,
            parts: Vec::new(),
        };
        model.visit(&mut flat);
        let parts = flat.parts;
        let Some((_, first, _)) = parts.first() else {
            return Ok(grads);
        };
        let device = first.device();
        let sizes: Vec<usize> = parts.iter().map(|(_, t, _)| t.dims()[0]).collect();
        let all = Tensor::cat(parts.iter().map(|(_, t, _)| t.clone()).collect(), 0);
        let mean = self.sum(all)?.div_scalar(self.size() as f64);
        let mut offset = 0;
        let mut means = Vec::with_capacity(parts.len());
        for ((id, _, shape), len) in parts.into_iter().zip(sizes) {
            means.push((
                id,
                shape,
                mean.clone().narrow(0, offset, len).to_device(&device),
            ));
            offset += len;
        }
        let mut put = PutBack::<B, _> {
            grads: &mut grads,
            means: means.into_iter(),
            backend: std::marker::PhantomData,
        };
        model.visit(&mut put);
        Ok(grads)
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

/// Puts the mean gradients back, in the same order.
struct PutBack<'a, B: AutodiffBackend, I> {
    grads: &'a mut GradientsParams,
    means: I,
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
        if let Some((id, shape, mean)) = self.means.next() {
            let shape: [usize; D] = shape.try_into().expect("same parameter order");
            self.grads
                .register::<B::InnerBackend, D>(id, mean.reshape(shape));
        }
    }
}

/// What every rank must agree on before the first step: the program (the bytes of this
/// executable) and `settings` (the effective configuration, data and options, as text).
pub fn fingerprint(settings: &str) -> Result<String> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Distributed(format!("cannot find this program's file: {e}")))?;
    let bytes = std::fs::read(&exe).map_err(|e| Error::bad_file(Path::new(&exe), e.to_string()))?;
    let mut h = Xxh3::new();
    h.update(&bytes);
    h.update(settings.as_bytes());
    Ok(format!("{:016x}", h.digest()))
}
