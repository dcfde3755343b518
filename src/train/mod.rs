//! Training machinery shared by `ssl-pretrain` and `ssl-finetune`: layered configs, the metrics
//! log, resumable checkpoints, progress and Ctrl-C handling, and the training loops.

pub mod config;
pub mod interrupt;
pub mod metrics_log;
pub mod pretrain;
pub mod progress;
pub mod run_checkpoint;
pub mod ssl_step;

pub use config::{
    CacheConfig, CacheKind, FinetuneConfig, PretrainConfig, ValidationMode, layered_config,
    write_effective,
};
pub use metrics_log::{MetricsLog, read_records, truncate_records};
pub use pretrain::{PretrainRun, PretrainSummary, pretrain};
pub use run_checkpoint::RunCheckpoints;
