//! `torch.nn.L1Loss()` (mean absolute error) and the SSL objective `total = r + c·r`
//! (docs/MONAI_COMPAT.md, "Pretraining step").

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Mean absolute error over all elements.
pub fn l1_loss<B: Backend, const D: usize>(
    input: Tensor<B, D>,
    target: Tensor<B, D>,
) -> Tensor<B, 1> {
    (input - target).abs().mean()
}

/// The tutorial's pretraining loss: reconstruction `r` regularised by the contrastive term,
/// `r + c·r`, with gradients through both factors (neither is detached).
pub fn ssl_total_loss<B: Backend>(recon: Tensor<B, 1>, contrastive: Tensor<B, 1>) -> Tensor<B, 1> {
    recon.clone() + contrastive * recon
}
