//! Datasets over a datalist and a pipeline, like MONAI's `Dataset`, `CacheDataset` and
//! `PersistentDataset`: the deterministic prefix (load → spacing → window → crop) runs once per
//! volume when cached (in RAM or on disk), the random part runs per access, seeded from
//! (run seed, epoch, item) — see [`super::seeding`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use super::cache_file;
use super::cache_mode::CacheMode;
use super::datalist::DataItem;
use super::seeding::item_seed;
use super::validate::{report_all, validate_items};
use crate::error::{Error, Result};
use crate::io::read_header;
use crate::transforms::Sample;
use crate::transforms::pipelines::PipelineSpec;

/// A datalist with a pipeline.
pub struct VolumeDataset {
    items: Vec<DataItem>,
    spec: PipelineSpec,
    cache: CacheMode,
    ram: Vec<OnceLock<Arc<Sample>>>,
}

/// File identity for the disk cache key: path, size and modification time.
fn file_identity(path: &Path) -> Result<String> {
    let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(format!("{}|{}|{mtime}", canonical.display(), m.len()))
}

impl VolumeDataset {
    /// Checks every file first (all problems in one error), then checks the RAM budget.
    pub fn new(items: Vec<DataItem>, spec: PipelineSpec, cache: CacheMode) -> Result<Self> {
        validate_items(&items, spec.needs_label())?;
        if let CacheMode::Ram { budget_bytes } = cache {
            let need = Self::estimate_bytes(&items, &spec)?;
            if need > budget_bytes {
                return Err(Error::InvalidArgument(format!(
                    "the RAM cache needs about {:.1} GiB for {} volumes after preprocessing, over the \
                     budget of {:.1} GiB: raise the budget or use the disk cache",
                    need as f64 / (1u64 << 30) as f64,
                    items.len(),
                    budget_bytes as f64 / (1u64 << 30) as f64
                )));
            }
        }
        if let CacheMode::Disk { dir } = &cache {
            let dir = dir.as_ref().ok_or_else(|| {
                Error::InvalidArgument("the disk cache needs a folder (cache.dir)".into())
            })?;
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let ram = (0..items.len()).map(|_| OnceLock::new()).collect();
        Ok(VolumeDataset {
            items,
            spec,
            cache,
            ram,
        })
    }

    /// Upper bound of the preprocessed size: every volume resampled to the pipeline's voxel size
    /// (before the foreground crop), f32, with its label when there is one.
    pub(crate) fn estimate_bytes(items: &[DataItem], spec: &PipelineSpec) -> Result<u64> {
        let pixdim = match spec {
            PipelineSpec::Pretrain(c) => c.pixdim,
            PipelineSpec::Finetune { config, .. } => config.pixdim,
        };
        let keys = if spec.needs_label() { 2 } else { 1 };
        items.iter().try_fold(0u64, |acc, item| {
            let h = read_header(&item.image)?;
            let sp = crate::io::affine::spacing_of(&h.affine);
            let voxels: f64 = (0..3)
                .map(|d| (h.shape[d] as f64 * sp[d] / pixdim[d]).ceil().max(1.0))
                .product();
            Ok(acc + (voxels * 4.0) as u64 * keys)
        })
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn item(&self, i: usize) -> &DataItem {
        &self.items[i]
    }

    fn compute(&self, i: usize) -> Result<Sample> {
        let item = &self.items[i];
        let mut p = self.spec.build();
        let s = p.load(&item.image, item.label.as_deref())?;
        p.preprocess(s)
    }

    fn disk_path(&self, dir: &Path, i: usize) -> Result<PathBuf> {
        let item = &self.items[i];
        let mut key = self.spec.deterministic_key();
        key.push('|');
        key.push_str(&file_identity(&item.image)?);
        if let Some(l) = &item.label {
            key.push('|');
            key.push_str(&file_identity(l)?);
        }
        Ok(dir.join(format!("{:016x}.ssl3dcache", xxh3_64(key.as_bytes()))))
    }

    /// The deterministic prefix of item `i`, from the cache when there is one.
    pub fn preprocessed(&self, i: usize) -> Result<Arc<Sample>> {
        match &self.cache {
            // `new` refuses a disk cache without a folder.
            CacheMode::None | CacheMode::Disk { dir: None } => Ok(Arc::new(self.compute(i)?)),
            CacheMode::Ram { .. } => {
                if let Some(s) = self.ram[i].get() {
                    return Ok(s.clone());
                }
                let s = Arc::new(self.compute(i)?);
                Ok(self.ram[i].get_or_init(|| s).clone())
            }
            CacheMode::Disk { dir: Some(dir) } => {
                let path = self.disk_path(dir, i)?;
                if let Ok(bytes) = std::fs::read(&path) {
                    if let Some(mut s) = cache_file::decode(&bytes) {
                        s.source = Some(self.items[i].image.clone());
                        return Ok(Arc::new(s));
                    }
                    eprintln!(
                        "warning: cache entry {} is corrupt or from another version; recomputing",
                        path.display()
                    );
                }
                let s = self.compute(i)?;
                cache_file::write_atomic(&path, &s)?;
                Ok(Arc::new(s))
            }
        }
    }

    /// Reads every item once before training, in parallel, and reports every problem at once
    /// (a NaN voxel or an unknown label value found at epoch 40 costs the run). With a cache this
    /// fills it; without one it only loads each volume with its checks. A progress bar on a
    /// terminal.
    pub fn load_all(&self) -> Result<()> {
        let what = if self.cache == CacheMode::None {
            "checking"
        } else {
            "caching"
        };
        let bar = ProgressBar::new(self.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{what} [{{bar:30}}] {{pos}}/{{len}} volumes, ETA {{eta}}"
            ))
            .expect("valid template"),
        );
        let problems: Vec<Error> = (0..self.len())
            .into_par_iter()
            .filter_map(|i| {
                let loaded = match self.cache {
                    CacheMode::None => {
                        let item = &self.items[i];
                        let pipeline = self.spec.build();
                        pipeline.load(&item.image, item.label.as_deref()).map(drop)
                    }
                    _ => self.preprocessed(i).map(drop),
                };
                bar.inc(1);
                loaded.err()
            })
            .collect();
        bar.finish_and_clear();
        report_all(problems)
    }

    /// The random part of item `i` for `epoch` of a run seeded `run_seed`: the same inputs always
    /// give the same samples, whichever thread computes them.
    pub fn get(&self, i: usize, run_seed: u64, epoch: u64) -> Result<Vec<Sample>> {
        let pre = self.preprocessed(i)?;
        let mut p = self.spec.build();
        p.set_random_state(item_seed(run_seed, epoch, i as u64));
        p.augment_ref(&pre)
    }
}
