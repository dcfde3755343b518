//! Training machinery shared by `ssl-pretrain` and `ssl-finetune`: layered configs and the metrics
//! log (the training loops build on these).

pub mod config;
pub mod metrics_log;
pub mod ssl_step;

pub use config::{FinetuneConfig, PretrainConfig, ValidationMode, layered_config, write_effective};
pub use metrics_log::{MetricsLog, read_records, truncate_records};
