//! Batches like MONAI's `DataLoader` with `list_data_collate`: each volume's samples are flattened
//! volume-major (`[v0s0, v0s1, v1s0, …]`) into `(B, C, X, Y, Z)` arrays per key. A producer thread
//! builds the next batches (the items of a batch in parallel) into a bounded queue while the
//! consumer computes, and each batch reports how long the consumer waited for it. Any
//! [`BatchSource`] can be loaded so: CT volumes ([`VolumeDataset`]) and ConVIRT's image–report
//! pairs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use ndarray::{Array5, Axis};
use rayon::prelude::*;

use super::dataset::VolumeDataset;
use super::seeding::epoch_order;
use super::shard::Shard;
use crate::error::{Error, Result};
use crate::transforms::Sample;

/// Loader settings; the tutorials use 4 volumes × 2 crops (pretraining) and 1 × 4 (fine-tuning).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoaderConfig {
    pub volumes_per_batch: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    /// Batches prepared ahead of the consumer (bounded memory).
    pub prefetch: usize,
    pub run_seed: u64,
    /// This process's share of each epoch in a data-parallel run (all of it otherwise).
    #[serde(default)]
    pub shard: Shard,
}

/// MONAI-style collated volumes: `(B, C, X, Y, Z)` per key (`image`, `label`, `gt_image`,
/// `image_2`).
pub type Collated = BTreeMap<String, Array5<f32>>;

/// What the loader draws batches from. Item `i` of `epoch` must be a pure function of the run
/// seed, the epoch and `i` (whichever thread makes it), so a resumed run sees the same data.
pub trait BatchSource: Send + Sync + 'static {
    type Item: Send + 'static;
    type Collated: Send + 'static;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn get(&self, i: usize, run_seed: u64, epoch: u64) -> Result<Self::Item>;
    /// One batch of items, in order.
    fn collate(&self, items: Vec<Self::Item>) -> Result<Self::Collated>;
}

impl BatchSource for VolumeDataset {
    type Item = Vec<Sample>;
    type Collated = Collated;
    fn len(&self) -> usize {
        VolumeDataset::len(self)
    }
    fn get(&self, i: usize, run_seed: u64, epoch: u64) -> Result<Vec<Sample>> {
        VolumeDataset::get(self, i, run_seed, epoch)
    }
    fn collate(&self, items: Vec<Vec<Sample>>) -> Result<Collated> {
        collate(items.into_iter().flatten().collect())
    }
}

/// One collated batch.
#[derive(Debug)]
pub struct Batch<T = Collated> {
    pub epoch: u64,
    pub index: usize,
    /// Dataset indices of the items in this batch, in order.
    pub items: Vec<usize>,
    /// The collated items (for volumes: [`Collated`]).
    pub tensors: T,
    /// How long the consumer waited for this batch.
    pub wait: Duration,
}

/// `list_data_collate`: flatten volume-major and stack each key.
fn collate(samples: Vec<Sample>) -> Result<Collated> {
    let Some(first) = samples.first() else {
        return Err(Error::InvalidArgument("empty batch".into()));
    };
    let mut out = BTreeMap::new();
    for key in first.images.keys() {
        let views: Vec<_> = samples
            .iter()
            .map(|s| s.get(key).map(|m| m.data.view()))
            .collect::<Result<_>>()?;
        let shape = views[0].shape().to_vec();
        if let Some((i, v)) = views
            .iter()
            .enumerate()
            .find(|(_, v)| v.shape() != shape.as_slice())
        {
            return Err(samples[i].error(format!(
                "cannot batch \"{key}\": sample shape {:?} differs from {:?}",
                v.shape(),
                shape
            )));
        }
        let stacked = ndarray::stack(Axis(0), &views)
            .map_err(|e| Error::InvalidArgument(format!("cannot batch \"{key}\": {e}")))?;
        out.insert(key.clone(), stacked);
    }
    Ok(out)
}

/// The batches of one epoch, produced ahead on a background thread.
pub struct EpochBatches<T = Collated> {
    rx: Receiver<Result<Batch<T>>>,
}

impl<T> Iterator for EpochBatches<T> {
    type Item = Result<Batch<T>>;

    fn next(&mut self) -> Option<Result<Batch<T>>> {
        let start = Instant::now();
        let mut next = self.rx.recv().ok()?;
        if let Ok(b) = &mut next {
            b.wait = start.elapsed();
        }
        Some(next)
    }
}

/// Starts producing the batches of `epoch`. Errors (an unreadable file, a bad label) arrive as
/// the next item and end the epoch: nothing is skipped silently.
pub fn epoch_batches<D: BatchSource>(
    dataset: Arc<D>,
    cfg: LoaderConfig,
    epoch: u64,
) -> EpochBatches<D::Collated> {
    epoch_batches_from(dataset, cfg, epoch, 0)
}

/// Number of batches in an epoch of `len` items.
pub fn batches_per_epoch(len: usize, cfg: &LoaderConfig) -> usize {
    let len = cfg.shard.len(len);
    let per = cfg.volumes_per_batch.max(1);
    if cfg.drop_last {
        len / per
    } else {
        len.div_ceil(per)
    }
}

/// The batches of `epoch` from batch `first` on, identical to those [`epoch_batches`] gives at
/// the same positions (data are a pure function of seed, epoch and item): a resumed run continues
/// mid-epoch with exactly the batches it would have seen.
pub fn epoch_batches_from<D: BatchSource>(
    dataset: Arc<D>,
    cfg: LoaderConfig,
    epoch: u64,
    first: usize,
) -> EpochBatches<D::Collated> {
    let (tx, rx) = sync_channel(cfg.prefetch.max(1));
    let order = cfg.shard.of(&epoch_order(
        dataset.len(),
        cfg.run_seed,
        epoch,
        cfg.shuffle,
    ));
    let per = cfg.volumes_per_batch.max(1);
    let groups: Vec<Vec<usize>> = order
        .chunks(per)
        .filter(|c| !cfg.drop_last || c.len() == per)
        .map(|c| c.to_vec())
        .collect();
    let start = first.min(groups.len());
    std::thread::spawn(move || {
        for (index, items) in groups.into_iter().enumerate().skip(start) {
            let made: Result<Vec<D::Item>> = items
                .par_iter()
                .map(|&i| dataset.get(i, cfg.run_seed, epoch))
                .collect();
            let batch = made.and_then(|v| dataset.collate(v)).map(|tensors| Batch {
                epoch,
                index,
                items,
                tensors,
                wait: Duration::ZERO,
            });
            let failed = batch.is_err();
            if tx.send(batch).is_err() || failed {
                return;
            }
        }
    });
    EpochBatches { rx }
}
