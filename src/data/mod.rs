//! Data: MONAI datalists, up-front validation of the files a run needs, datasets with RAM and
//! disk caches, the batch loader, and synthetic CT.

pub mod batch;
pub mod btcv;
pub(crate) mod cache_file;
pub(crate) mod cache_mode;
pub mod datalist;
pub mod dataset;
pub mod loader;
pub mod report_labels;
pub mod report_pair_dataset;
pub mod report_pairs;
pub mod seeding;
pub mod shard;
pub mod synthetic;
pub(crate) mod validate;

pub use batch::{FromCollated, MicroBatches, SegBatch, SslBatch};
pub use cache_mode::CacheMode;
pub use datalist::{DataItem, Split, load_datalist, load_datalist_key};
pub use dataset::VolumeDataset;
pub use loader::{
    Batch, BatchSource, Collated, LoaderConfig, batches_per_epoch, epoch_batches,
    epoch_batches_from,
};
pub use validate::{check_contents, report_all, validate_items};
