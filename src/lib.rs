//! ssl3d: self-supervised pretraining on 3D CT, MONAI's `vit_unetr_ssl` tutorial in Rust on Burn.
//!
//! Modules follow MONAI's layout: [`io`] reads and writes NIfTI, [`data`] holds datalists and the
//! synthetic CT generator, [`report`] draws figures. The reference behaviour is `SPEC.md` (shared
//! with the project), the MONAI 1.5 tutorial and library.

// Affine and matrix code indexes rows and columns explicitly: it reads like the formulas it ports.
#![allow(clippy::needless_range_loop)]

pub mod allocator;
pub mod cli;
pub mod data;
pub mod device;
pub mod error;
pub mod inferers;
pub mod io;
pub mod losses;
pub mod metrics;
pub mod networks;
pub mod report;
pub mod train;
pub mod transforms;

pub use device::DeviceSpec;
pub use error::{Error, Result};
