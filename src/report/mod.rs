//! Figures and reports a person looks at.

pub mod font;
pub mod views;

pub use views::write_views;
