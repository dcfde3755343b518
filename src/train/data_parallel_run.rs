//! How a job runs as one process of a data-parallel run: every rank checks in with a fingerprint of
//! its settings before anything is loaded, and at the end either waits for the others (all went
//! well) or tells them why it stopped.

use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use super::run_spec::RunSpec;
use crate::distributed::{DataParallel, fingerprint};
use crate::error::Result;

/// Runs `body` as this process's part of the run `spec.world` describes (`None`: a single
/// process, `body` gets no run). The process first joins with a fingerprint of the program, the
/// effective configuration `cfg`, the data lists, the run folder and `--resume`, so ranks started
/// differently are refused before the first step; at the end it waits for the other ranks when
/// `body` went well and tells them its error otherwise.
pub(crate) fn in_data_parallel_run<B: AutodiffBackend, C: Serialize, T>(
    spec: &RunSpec,
    cfg: &C,
    device: &B::Device,
    body: impl FnOnce(Option<Arc<DataParallel>>) -> Result<T>,
) -> Result<T> {
    let Some(world) = spec.world.clone() else {
        return body(None);
    };
    let settings = format!(
        "{}\n{:?}\n{:?}\n{}\n{}",
        serde_json::to_string(cfg).expect("configs serialise"),
        spec.train,
        spec.validation,
        spec.logdir.display(),
        spec.resume
    );
    let dp = DataParallel::join::<B::InnerBackend>(world, &fingerprint(&settings)?, device)?;
    let dp = Arc::new(dp);
    let result = body(Some(dp.clone()));
    match &result {
        Ok(_) => dp.finish(),
        Err(e) => dp.fail(e),
    }
    result
}
