//! Inference helpers: MONAI's sliding-window inference and its importance maps.

pub mod importance_map;
pub mod sliding_window;

pub use importance_map::{BlendMode, importance_map};
pub use sliding_window::{SlidingWindow, scan_interval, window_starts};
