//! The loss of Swin UNETR's self-supervised pretraining (Tang et al. 2022; MONAI's research code,
//! `losses/loss.py`): rotation cross-entropy over both views' logits, the contrastive loss between
//! the two views' projections (the same NT-Xent as MONAI's `ContrastiveLoss`, temperature 0.5 as
//! published), and L1 of both reconstructions against the rotated clean crops, each weighted 1.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use super::{class_cross_entropy, contrastive_loss, l1_loss};

/// The research code's temperature.
pub const SWIN_SSL_TEMPERATURE: f64 = 0.5;

/// The three terms and their sum, one-element tensors.
pub struct SwinSslLoss<B: Backend> {
    pub total: Tensor<B, 1>,
    pub rotation: Tensor<B, 1>,
    pub contrastive: Tensor<B, 1>,
    pub recon: Tensor<B, 1>,
}

/// The research code's `Loss`: `rotation` logits `(2B, 4)` of both views against their labels,
/// the views' projections `contrastive1`, `contrastive2` `(B, F)`, and `reconstruction` `(2B, …)`
/// against `rotated`, both views' rotated clean crops.
pub fn swin_ssl_loss<B: Backend>(
    rotation: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    contrastive: [Tensor<B, 2>; 2],
    reconstruction: Tensor<B, 5>,
    rotated: Tensor<B, 5>,
    temperature: f64,
) -> SwinSslLoss<B> {
    let rotation = class_cross_entropy(rotation, labels);
    let [c1, c2] = contrastive;
    let contrastive = contrastive_loss(c1, c2, temperature);
    let recon = l1_loss(reconstruction, rotated);
    SwinSslLoss {
        total: rotation.clone() + contrastive.clone() + recon.clone(),
        rotation,
        contrastive,
        recon,
    }
}
