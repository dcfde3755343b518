//! ssl3d: self-supervised pretraining on 3D CT, MONAI's `vit_unetr_ssl` tutorial in Rust on Burn.
//!
//! The modules are layered; each uses only those above it in this list:
//!
//! - [`error`], [`allocator`], [`device`]: one error type with exit codes; the binaries'
//!   allocator settings; the `--device` option and the one place that maps it to a Burn backend.
//! - [`io`]: NIfTI-1 reading and writing as nibabel reads it (`.nii`, `.nii.gz`, `.hdr`/`.img`),
//!   affines, `inspect`, atomic file writes, and 8-bit radiographs (PNG, JPEG).
//! - [`transforms`]: MONAI's transforms with MONAI's semantics and random draws (numpy's MT19937),
//!   `Compose`/`OneOf` seeding, and the tutorial's pipelines; ConVIRT's radiograph views (PIL's
//!   and torchvision's maths).
//! - [`text`]: BERT's WordPiece tokenisation of radiology reports (ConVIRT's text tower).
//! - [`data`]: MONAI datalists, file validation, datasets with RAM and disk caches, the
//!   prefetching batch loader, typed batches, BTCV's label names, synthetic CT; ConVIRT's
//!   image–report pairs.
//! - [`kernels`]: ssl3d's CPU kernels for Burn's Flex backend (convolutions, linear layers,
//!   attention, GELU, instance norm, patch rows, DiceCE, fused Adam) and the one dispatch that
//!   chooses them over Burn's generic ops. Its own crate, `crates/kernels`, so that the test
//!   build (Cargo's dev profile) can optimise these hot loops while the rest builds quickly.
//! - [`networks`], [`losses`], [`metrics`], [`inferers`]: ViT, ViTAutoEnc and UNETR with MONAI's
//!   maths and state-dict names (checkpoints in and out), ConVIRT's ResNet and BERT with
//!   torchvision's and Hugging Face's; the SSL, ConVIRT and DiceCE losses; Dice and HD95;
//!   sliding-window inference.
//! - [`report`]: the typed records a run logs, TensorBoard event files, the fine-tuning report and
//!   the random-vs-pretrained table, and every figure.
//! - [`distributed`]: data-parallel runs: the launcher (`--nproc`, `--nnodes`), the control
//!   channel (same settings everywhere, a lost rank named), and the collective engine behind one
//!   file (the gradients' mean, the contrastive loss's negatives from every process).
//! - [`train`]: layered run configs, the one run driver (loop, resume, log, progress, Ctrl-C,
//!   checkpoints) and the two jobs on it, `pretrain` and `finetune`.
//! - [`mod@bench`]: the speed measurements behind `ssl-bench` and `ssl-data bench`.
//! - [`cli`]: what the binaries in `src/bin/` share (run options, error reporting).
//!
//! Where ssl3d matches MONAI, and where it deliberately differs, is written down in
//! `docs/MONAI_COMPAT.md`.

// Affine and matrix code indexes rows and columns explicitly: it reads like the formulas it ports.
#![allow(clippy::needless_range_loop)]

pub mod allocator;
pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod distributed;
pub mod error;
pub mod gradients;
pub mod inferers;
pub mod io;
pub use ssl3d_kernels as kernels;
pub mod losses;
pub mod metrics;
pub mod networks;
pub mod report;
pub mod segment;
pub mod text;
pub mod train;
pub mod transforms;

pub use device::DeviceSpec;
pub use error::{Error, Result};
