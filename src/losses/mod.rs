//! Losses: the SSL objective (L1 + contrastive), the fine-tuning DiceCE and its deep-supervision
//! sum for DynUNet, equal to MONAI's on the
//! reference vectors (docs/MONAI_COMPAT.md, "Pretraining step" and "Loss, optimiser and metric").

pub mod class_cross_entropy;
pub mod contrastive;
pub mod convirt;
pub mod deep_supervision;
pub mod dice;
pub mod l1;
pub mod swin_ssl;

pub use class_cross_entropy::class_cross_entropy;
pub use contrastive::contrastive_loss;
pub use deep_supervision::{DeepSupervisionWeights, deep_supervision_loss};
pub use dice::{DiceCeLossConfig, DiceLossConfig, Reduction, cross_entropy, one_hot_labels};
pub use l1::{l1_loss, ssl_total_loss};
