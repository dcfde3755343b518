//! MONAI's `DeepSupervisionLoss` over DiceCE, for DynUNet with deep supervision: the network's
//! training output stacks the logits and each head's logits (resized to the output) on axis 1,
//! and the loss is `Σ_l w_l · DiceCE(level l, label)`. MONAI's weight modes: `exp` (the default,
//! `max(0.5^l, 0.0625)`: 1, 0.5, 0.25, …), `same` (all 1) and `two` (1, then 0.5); the weights
//! are not normalised, as in MONAI.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::dice::DiceCeLossConfig;

/// How the levels are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeepSupervisionWeights {
    /// `max(0.5^l, 0.0625)`: the output 1, each level below half the one above, at least 1/16.
    #[default]
    Exp,
    /// Every level 1.
    Same,
    /// The output 1, every head 0.5.
    Two,
}

impl DeepSupervisionWeights {
    /// The weights of `levels` levels (the output first).
    pub fn weights(self, levels: usize) -> Vec<f64> {
        (0..levels.max(1))
            .map(|l| match self {
                DeepSupervisionWeights::Exp => 0.5f64.powi(l as i32).max(0.0625),
                DeepSupervisionWeights::Same => 1.0,
                DeepSupervisionWeights::Two if l == 0 => 1.0,
                DeepSupervisionWeights::Two => 0.5,
            })
            .collect()
    }
}

/// `DeepSupervisionLoss(loss, weight_mode)` on a stacked `(B, levels, C, X, Y, Z)` output and
/// `(B, 1, X, Y, Z)` labels.
pub fn deep_supervision_loss<B: Backend>(
    loss: &DiceCeLossConfig,
    mode: DeepSupervisionWeights,
    stacked: Tensor<B, 6>,
    labels: Tensor<B, 5>,
) -> Tensor<B, 1> {
    let levels = stacked.dims()[1];
    mode.weights(levels)
        .into_iter()
        .enumerate()
        .map(|(l, w)| {
            let level: Tensor<B, 5> = stacked.clone().narrow(1, l, 1).squeeze_dim(1);
            loss.forward(level, labels.clone()) * w
        })
        .reduce(|a, b| a + b)
        .expect("at least one level")
}
