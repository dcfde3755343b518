//! A process's membership of a data-parallel run, and the three things training asks of it:
//! the mean of the gradients over all processes, the sum of a few numbers (losses, metrics), and
//! the rows of a tensor from every process (the contrastive loss's negatives).

use std::path::Path;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};
use xxhash_rust::xxh3::Xxh3;

use super::collective;
use super::control::{ControlClient, serve};
use super::world::World;
use crate::error::{Error, Result};
use crate::gradients::FlatGradients;

/// This process in a running data-parallel run.
pub struct DataParallel {
    world: World,
    control: ControlClient,
    /// Leaves the engine (its backend type is known only when joining).
    leave: Box<dyn Fn() + Send + Sync>,
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
        let rank = world.rank;
        Ok(DataParallel {
            world,
            control,
            leave: Box::new(move || collective::leave::<B>(rank)),
        })
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

    /// Waits until every rank is done (call at the end of a run that went well), then leaves the
    /// engine; rank 0, whose process hosts the engine's orchestrator, leaves last.
    pub fn finish(&self) {
        self.control.finish(&self.leave);
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

    /// The mean of `value` over all processes, added in f64 in rank order, exactly as one process
    /// adds the same numbers (gradient accumulation's micro-batch losses).
    pub fn mean_value<B: Backend>(&self, value: f64, device: &B::Device) -> Result<f64> {
        let mut rows = vec![None; self.size()];
        rows[self.rank()] = Some(vec![value]);
        let all = self.share_rows::<B>(&rows, 1, device)?;
        Ok(all.iter().map(|row| row[0]).sum::<f64>() / self.size() as f64)
    }

    /// A table whose rows are each filled (`Some`) on exactly one rank, `width` numbers a row:
    /// every row, on every rank, bit for bit (NaN and infinities included): each number travels
    /// as its 64 bits in four 16-bit pieces, each an f32 integer, and every other rank adds zeros.
    pub fn share_rows<B: Backend>(
        &self,
        rows: &[Option<Vec<f64>>],
        width: usize,
        device: &B::Device,
    ) -> Result<Vec<Vec<f64>>> {
        const PIECES: usize = 4;
        let mut data = vec![0f32; rows.len() * width * PIECES];
        for (i, row) in rows.iter().enumerate() {
            for (j, &v) in row.iter().flatten().enumerate().take(width) {
                let bits = v.to_bits();
                for k in 0..PIECES {
                    data[(i * width + j) * PIECES + k] = ((bits >> (16 * k)) & 0xffff) as f32;
                }
            }
        }
        let summed = self.sum(Tensor::<B, 1>::from_floats(data.as_slice(), device))?;
        let all = summed
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| Error::Distributed(format!("reading shared rows: {e:?}")))?;
        let number = |pieces: &[f32]| {
            let bits =
                (pieces.iter().enumerate()).fold(0u64, |b, (k, &p)| b | (p as u64) << (16 * k));
            f64::from_bits(bits)
        };
        Ok(all
            .chunks(width * PIECES)
            .map(|row| row.chunks(PIECES).map(number).collect())
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
    /// order (the same on every rank, whatever the parameters' ids): the sum, then divided by
    /// the number of processes, exactly as gradient accumulation over that many micro-batches
    /// adds them on one process.
    pub fn mean_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: &M,
        mut grads: GradientsParams,
    ) -> Result<GradientsParams> {
        let Some(mut flat) = FlatGradients::<B>::of(model, &grads) else {
            return Ok(grads);
        };
        flat.flat = self.sum(flat.flat)?.div_scalar(self.size() as f64);
        flat.put_back(model, &mut grads)?;
        Ok(grads)
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
