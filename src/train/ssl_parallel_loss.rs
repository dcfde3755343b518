//! The tutorial's pretraining loss in a data-parallel run, arranged so that N processes with B
//! crops each take exactly the step one process with N·B crops takes (docs/DISTRIBUTED.md).
//!
//! With the global batch's negatives, every process gathers the two views' reconstructions of all
//! processes (gradients flow to its own rows only) and computes the same contrastive value `c` over
//! the N·B pairs; the reconstruction `r` is the mean of the processes' L1s. The total `r + c·r`
//! has the gradient `(1 + c)·∇r + r·∇c`, where `∇r` is the mean of the processes' L1 gradients and
//! `∇c` the sum of their parts. Each process therefore backpropagates
//! `(1 + c)·r_own + N·r·c` (`c` and `r` held as numbers where they multiply), and the mean of
//! the processes' gradients is the whole batch's. With local negatives each process computes the
//! tutorial's loss on its own crops and the gradients are averaged (SimCLR without cross-replica
//! negatives).

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::batch_tensors::scalar;
use crate::distributed::DataParallel;
use crate::error::Result;
use crate::losses::{contrastive_loss, l1_loss, ssl_total_loss};
use crate::networks::VitAutoEnc;
use crate::report::records::SslLosses;

/// Which crops are the contrastive loss's negatives in a data-parallel run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Negatives {
    /// Every process's crops: the loss of one process with the whole batch (SimCLR's
    /// cross-replica negatives).
    #[default]
    Global,
    /// Each process's own crops only (fewer negatives; no gathering).
    Local,
}

/// The loss this process backpropagates, and the run's losses (the same on every process).
pub(crate) fn parallel_ssl_losses<B: AutodiffBackend>(
    model: &VitAutoEnc<B>,
    [view1, view2, gt]: [Tensor<B, 5>; 3],
    temperature: f64,
    (dp, negatives): (&DataParallel, Negatives),
) -> Result<(Tensor<B, 1>, SslLosses)> {
    let batch = view1.dims()[0];
    let device = gt.device();
    let (out, _) = model.forward(Tensor::cat(vec![view1, view2], 0));
    let out1 = out.clone().narrow(0, 0, batch);
    let out2 = out.narrow(0, batch, batch);
    let recon = l1_loss(out1.clone(), gt);
    let (p1, p2) = (out1.flatten::<2>(1, 4), out2.flatten::<2>(1, 4));
    let n = dp.size() as f64;
    match negatives {
        Negatives::Global => {
            let c = contrastive_loss(dp.gather_rows(p1)?, dp.gather_rows(p2)?, temperature);
            let own = scalar(recon.clone().inner());
            let r = dp.sum_values::<B::InnerBackend>(&[own], &device)?[0] / n;
            let cv = scalar(c.clone().inner());
            let surrogate = recon.mul_scalar(1.0 + cv) + c.mul_scalar(n * r);
            let losses = SslLosses {
                total: r + cv * r,
                recon: r,
                contrastive: cv,
                rotation: None,
            };
            Ok((surrogate, losses))
        }
        Negatives::Local => {
            let c = contrastive_loss(p1, p2, temperature);
            let total = ssl_total_loss(recon.clone(), c.clone());
            let own = [total.clone(), recon, c].map(|t| scalar(t.inner()));
            let sums = dp.sum_values::<B::InnerBackend>(&own, &device)?;
            let losses = SslLosses {
                total: sums[0] / n,
                recon: sums[1] / n,
                contrastive: sums[2] / n,
                rotation: None,
            };
            Ok((total, losses))
        }
    }
}
