//! The data-parallel run's communication cost: the mean of the full-size ViTAutoEnc's gradients
//! (one flat tensor of its parameter count, as `DataParallel::mean_gradients` sends it) over the
//! processes of a run, timed per all-reduce.

use std::time::Instant;

use burn::backend::Flex;
use burn::module::Module;
use burn::tensor::Tensor;
use serde::Serialize;

use crate::distributed::{DataParallel, World};
use crate::error::Result;
use crate::networks::VitAutoEncConfig;

/// One rank's timings.
#[derive(Debug, Serialize)]
pub struct AllReduceTiming {
    pub processes: usize,
    pub strategy: String,
    pub floats: usize,
    pub megabytes: f64,
    /// Seconds per all-reduce, each repetition.
    pub seconds: Vec<f64>,
    pub median_s: f64,
    /// Bytes of the tensor over the median time (each process sends and receives about twice
    /// that with the ring).
    pub gigabytes_per_s: f64,
}

/// The tutorial ViTAutoEnc's parameter count.
pub fn vit_autoenc_parameters() -> usize {
    let device = Default::default();
    VitAutoEncConfig::tutorial()
        .init::<Flex>(&device)
        .num_params()
}

/// Times `repeat` all-reduces (after one warm-up) of `floats` numbers as this process of `world`.
pub fn time_all_reduce(world: World, floats: usize, repeat: usize) -> Result<AllReduceTiming> {
    let device = Default::default();
    let (processes, strategy) = (world.size, world.all_reduce.name().to_string());
    let dp = DataParallel::join::<Flex>(world, "all-reduce benchmark", &device)?;
    let grads = Tensor::<Flex, 1>::ones([floats], &device);
    let mut seconds = Vec::with_capacity(repeat);
    for i in 0..=repeat {
        let t = Instant::now();
        let summed = dp.sum(grads.clone())?;
        // Reading one value waits for the sum (the backend may compute lazily).
        let _ = summed.narrow(0, 0, 1).into_scalar();
        if i > 0 {
            seconds.push(t.elapsed().as_secs_f64());
        }
    }
    dp.finish();
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median_s = sorted[sorted.len() / 2];
    let megabytes = floats as f64 * 4.0 / 1e6;
    Ok(AllReduceTiming {
        processes,
        strategy,
        floats,
        megabytes,
        seconds,
        median_s,
        gigabytes_per_s: megabytes / 1e3 / median_s,
    })
}
