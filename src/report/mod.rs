//! Figures and reports a person looks at.

pub mod augmentation_views;
pub mod bar_chart;
pub mod colours;
pub mod dice_table;
pub mod font;
pub mod loss_plots;
pub mod views;

pub use augmentation_views::write_augmentation_views;
pub use views::write_views;
