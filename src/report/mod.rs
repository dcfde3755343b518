//! Figures and reports a person looks at, and the typed records they are drawn from: a run's
//! log lines (`records`), the fine-tuning report and the random-vs-pretrained table. Training
//! writes these; this module never depends on training.

pub(crate) mod augmentation_views;
mod bar_chart;
mod colours;
pub mod config_diff;
pub mod convirt_records;
pub mod convirt_table;
pub mod dice_table;
pub(crate) mod finetune_report;
mod font;
pub mod loss_plots;
mod png;
pub(crate) mod pretrain_summary;
pub mod records;
pub mod step_timing;
pub mod study;
pub mod study_output;
mod study_plots;
pub(crate) mod study_stats;
pub mod tensorboard;
pub mod validation;
pub mod views;

pub use augmentation_views::write_augmentation_views;
pub use finetune_report::FinetuneReport;
pub use pretrain_summary::PretrainSummary;
pub use validation::ValidationResult;
pub use views::write_views;
