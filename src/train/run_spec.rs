//! What a run is given, apart from its configuration: its data lists, folder and device.

use std::path::PathBuf;

use crate::data::DataItem;
use crate::data::shard::Shard;
use crate::distributed::World;

/// What every run is given: its data, its folder and whether it continues.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub train: Vec<DataItem>,
    pub validation: Vec<DataItem>,
    /// The datalist the items came from (for reports).
    pub datalist: PathBuf,
    pub logdir: PathBuf,
    /// Continue from the latest checkpoint in `logdir`.
    pub resume: bool,
    /// For summaries (e.g. `cpu`, `cuda:0`).
    pub device_name: String,
    /// This process's place in a data-parallel run (`--nproc`); `None` for a single process.
    pub world: Option<World>,
}

impl RunSpec {
    /// Whether this process writes the run folder: all but ranks 1.. of a data-parallel run.
    pub fn writes(&self) -> bool {
        self.world.as_ref().is_none_or(World::writes)
    }

    /// The share of each epoch this process trains on (all of it for a single process).
    pub fn shard(&self) -> Shard {
        self.world.as_ref().map_or(Shard::WHOLE, World::shard)
    }
}
