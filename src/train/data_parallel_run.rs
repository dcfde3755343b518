//! How a job joins a data-parallel run and leaves it: every rank checks in with a fingerprint of
//! its settings before anything is loaded, and at the end either waits for the others (all went
//! well) or tells them why it stopped.

use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use super::run_spec::RunSpec;
use crate::distributed::{DataParallel, fingerprint};
use crate::error::Result;

/// Joins the run `spec.world` describes (`None` for a single process). The fingerprint covers the
/// program, the effective configuration `cfg`, the data lists, the run folder and `--resume`, so
/// ranks started differently are refused before the first step.
pub(crate) fn join_run<B: AutodiffBackend, C: Serialize>(
    spec: &RunSpec,
    cfg: &C,
    device: &B::Device,
) -> Result<Option<Arc<DataParallel>>> {
    let Some(world) = spec.world.clone() else {
        return Ok(None);
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
    Ok(Some(Arc::new(dp)))
}

/// Ends this rank's part of a run with `result`: waits for the other ranks when it went well,
/// tells them the error otherwise.
pub(crate) fn leave_run<T>(dp: Option<Arc<DataParallel>>, result: Result<T>) -> Result<T> {
    if let Some(dp) = dp {
        match &result {
            Ok(_) => dp.finish(),
            Err(e) => dp.fail(e),
        }
    }
    result
}
