//! ssl3d's integration tests, one module per area, linked into one test binary (each separately
//! linked binary pulled in all of Burn: link time and disk dominated the suite). The one exception
//! is `tests/gradients.rs`, which must make f64 the CPU device's default float type before any
//! tensor exists: a process-wide setting, so it keeps a process of its own. Numeric tests
//! compare against MONAI/nibabel fixtures from `$SSL3D_REFERENCE_DIR` (default
//! `../shared/reference`) and `tests/fixtures/`; without the shared set they print a skip notice.

mod common;

mod chain_contract;
mod cli;
mod cnn_checkpoints;
mod cnn_finetune;
mod cnn_pretrain;
mod conv_backward;
mod convirt_ct;
mod convirt_data;
mod convirt_eval;
mod convirt_learning;
mod convirt_loss;
mod convirt_models;
mod convirt_run;
mod convirt_training;
mod convirt_views;
mod convirt_weights;
mod datalist;
mod datasets;
mod dice_ce_cpu;
mod distributed;
mod docs;
mod dynunet;
mod finetune_run;
mod gpu_check;
mod hd95;
mod instance_norm;
mod losses_metrics;
mod lr_schedule;
mod networks;
mod nifti_io;
mod nifti_reference;
mod pipelines;
mod precision;
mod predictions_grid;
mod pretrain_run;
mod segment;
mod segment_monai;
mod segresnet;
mod spacing_ties;
mod ssl_learning;
mod study;
mod swin_checkpoints;
mod swin_finetune;
mod swin_pretrain;
mod swin_transfer;
mod swin_unetr;
mod synthetic;
mod tensorboard;
mod train_support;
mod transform_vectors;
mod transformer_cpu;
mod upsample;
mod wgpu_device;
