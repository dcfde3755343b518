//! Metrics: MONAI-compatible Dice (and the tutorial's reported aggregate), clean per-organ and
//! foreground Dice, the 95th-percentile Hausdorff distance in mm, image–report retrieval and the
//! ROC AUC of ConVIRT's finding classifiers.

pub(crate) mod activations;
pub(crate) mod as_discrete;
pub(crate) mod dice_metric;
pub(crate) mod distance_transform;
pub(crate) mod hausdorff;
pub mod retrieval;
pub mod roc_auc;

pub use activations::softmax_channels;
pub use as_discrete::{argmax_channels, one_hot};
pub use dice_metric::{
    BestMetric, DiceMetric, aggregate_rows, dice_per_class, foreground_mean_dice,
    mean_of_running_aggregates, per_class_mean,
};
pub use hausdorff::{hausdorff_distance, hd95_per_class};
