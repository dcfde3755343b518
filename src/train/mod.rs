//! Training: layered run configs, the one run driver (loop, resume, typed log, progress, Ctrl-C,
//! checkpoint cadence) and the jobs that plug into it — self-supervised pretraining and UNETR
//! fine-tuning — with their steps, validations and optimisers.

pub mod batch_tensors;
pub mod config;
pub mod driver;
pub mod finetune;
pub mod finetune_config;
pub mod finetune_init;
mod finetune_outcome;
pub mod interrupt;
pub mod metrics_log;
pub mod pretrain;
pub mod pretrain_config;
pub mod progress;
pub mod run_checkpoint;
pub mod run_dir;
pub mod run_log;
pub mod seg_step;
pub mod seg_validation;
pub mod ssl_step;
pub mod ssl_validation;

pub use config::{CacheConfig, CacheKind, layered_config};
pub use driver::{Job, RunSpec, Trainer, drive};
pub use finetune::finetune;
pub use finetune_config::FinetuneConfig;
pub use finetune_init::{Init, init_unetr, starting_unetr};
pub use metrics_log::{MetricsLog, read_records, truncate_records};
pub use pretrain::pretrain;
pub use pretrain_config::{PretrainConfig, ValidationMode};
pub use run_checkpoint::RunCheckpoints;
