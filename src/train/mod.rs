//! Training: layered run configs, the one run driver (loop, resume, typed log, progress, Ctrl-C,
//! checkpoint cadence) and the jobs that plug into it — self-supervised pretraining (the
//! tutorial's ViTAutoEnc, or a CNN's restoration) and fine-tuning (UNETR, DynUNet, SegResNet) —
//! with their steps, validations and optimisers — and ConVIRT's image–report pretraining.

pub(crate) mod batch_tensors;
mod config;
mod convirt;
pub mod convirt_config;
pub mod convirt_eval;
pub mod convirt_evaluate;
mod convirt_job;
pub mod convirt_step;
mod data_parallel_run;
pub mod driver;
mod finetune;
mod finetune_config;
mod finetune_init;
mod finetune_job;
mod finetune_outcome;
mod interrupt;
pub mod linear_probe;
mod lr_schedule;
mod metrics_log;
mod pretrain;
mod pretrain_config;
mod pretrain_job;
pub mod pretrain_trainer;
mod progress;
pub mod restoration_step;
mod run_checkpoint;
mod run_dir;
mod run_identity;
mod run_lock;
mod run_log;
mod run_spec;
mod seg_step;
mod seg_validation;
pub mod ssl_parallel_loss;
pub mod ssl_step;
mod ssl_validation;
mod swin_ssl_config;
pub mod swin_ssl_step;
pub mod text_pretraining;

pub use config::{RunConfig, layered_config};
pub use convirt::{ConvirtRun, convirt};
pub use driver::{Job, Trainer, drive};
pub use finetune::{finetune, finetune_network};
pub use finetune_config::FinetuneConfig;
pub use finetune_init::{Init, init_unetr, starting_network, starting_unetr};
pub use lr_schedule::{LrSchedule, LrScheduleKind};
pub use metrics_log::{MetricsLog, read_records, truncate_records};
pub use pretrain::pretrain;
pub use pretrain_config::{PretrainConfig, ValidationMode};
pub use run_checkpoint::{Resumed, RunCheckpoints};
pub use run_spec::RunSpec;
pub use swin_ssl_config::SwinSslConfig;
