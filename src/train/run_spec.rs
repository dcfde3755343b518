//! What a run is given, apart from its configuration: its data lists, folder and device.

use std::path::PathBuf;

use crate::data::DataItem;

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
}
