//! Training machinery shared by `ssl-pretrain` and `ssl-finetune`: layered configs, the metrics
//! log, resumable checkpoints, progress and Ctrl-C handling, and the training loops.

pub mod batch_tensors;
pub mod config;
pub mod finetune;
pub mod finetune_report;
pub mod fused_adam;
pub mod interrupt;
pub mod metrics_log;
pub mod pretrain;
pub mod progress;
pub mod run_checkpoint;
pub mod run_dir;
pub mod seg_step;
pub mod ssl_step;

pub use config::{
    BestMetric, CacheConfig, CacheKind, FinetuneConfig, PretrainConfig, ValidationMode,
    layered_config, write_effective,
};
pub use finetune::{FinetuneRun, Init, finetune, init_unetr};
pub use finetune_report::{FinetuneReport, ValidationResult};
pub use metrics_log::{MetricsLog, read_records, truncate_records};
pub use pretrain::{PretrainRun, PretrainSummary, pretrain};
pub use run_checkpoint::RunCheckpoints;
