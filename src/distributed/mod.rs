//! Data-parallel training over several processes (GPUs, machines, or CPU core groups), on an
//! existing collective engine (Burn 0.21's `burn-collective`, behind the cargo feature
//! `distributed` and the one file `collective`). docs/DISTRIBUTED.md says how to start a run and
//! what is tested.
//!
//! Every process holds the whole model, trains on its share of each epoch ([`crate::data::shard`])
//! and adds the mean of all processes' gradients before each optimiser step, so all stay equal;
//! rank 0 alone writes the run folder.

mod collective;
mod control;
mod data_parallel;
mod launch;
mod world;

pub use collective::BUILT;
pub use control::EXIT_PEER_LOST;
pub use data_parallel::{DataParallel, fingerprint};
pub use launch::LaunchArgs;
pub use world::{AllReduceStrategy, MasterAddr, RANK_ENV, World};
