//! Inference helpers: MONAI's sliding-window inference and its importance maps, and flip
//! test-time augmentation on top of it.

pub(crate) mod flip_tta;
pub mod importance_map;
pub mod sliding_window;

pub use flip_tta::{TestTimeAugmentation, predict_probabilities};
pub use importance_map::{BlendMode, importance_map};
pub use sliding_window::{SlidingWindow, scan_interval, window_starts};
