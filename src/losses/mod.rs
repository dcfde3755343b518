//! Losses: the SSL objective (L1 + contrastive, SPEC §1.4) and the fine-tuning DiceCE (§2.4), equal
//! to MONAI's on the reference vectors.

pub mod contrastive;
pub mod dice;
mod dice_ce_cpu;
pub mod l1;

pub use contrastive::contrastive_loss;
pub use dice::{DiceCeLossConfig, DiceLossConfig, Reduction, cross_entropy, one_hot_labels};
pub use l1::{l1_loss, ssl_total_loss};
