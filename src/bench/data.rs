//! The data side's speed (what `ssl-data bench` prints): reading a NIfTI file, each stage of the
//! tutorial pipelines, the cached loader feeding a consumer, sliding-window stitching.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::Array5;

use super::timing::median;
use crate::data::synthetic::{PhantomKind, SynthSize, synthesize};
use crate::data::{CacheMode, LoaderConfig, Split, VolumeDataset, epoch_batches, load_datalist};
use crate::error::{Error, Result};
use crate::inferers::SlidingWindow;
use crate::io::{HeaderInfo, read_header, read_nifti, write_volume};
use crate::transforms::pipelines::PipelineSpec;
use crate::transforms::{Pipeline, PipelineKind};

/// Reading one file into f32, `repeat` times after one untimed read.
#[derive(Debug, Clone)]
pub struct ReadTimes {
    pub header: HeaderInfo,
    pub bytes_on_disk: u64,
    pub median_s: f64,
    pub min_s: f64,
    pub runs: usize,
}

pub fn time_read(file: &Path, repeat: usize) -> Result<ReadTimes> {
    let bytes_on_disk = std::fs::metadata(file)
        .map_err(|e| Error::io(file, e))?
        .len();
    let header = read_nifti(file)?.header;
    let mut times = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        drop(read_nifti(file)?);
        times.push(t.elapsed().as_secs_f64());
    }
    let min_s = times.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(ReadTimes {
        header,
        bytes_on_disk,
        median_s: median(times.clone()),
        min_s,
        runs: times.len(),
    })
}

/// Median seconds per stage of one pipeline.
#[derive(Debug, Clone)]
pub struct StageTimes {
    pub kind: PipelineKind,
    pub stages: Vec<(&'static str, f64)>,
}

/// Per-stage medians of the pretraining chain, and of the fine-tuning training chain when there
/// is a label, over `repeat` seeded runs after one warm-up. Without an image, a full-size
/// synthetic abdomen is written to a temporary folder and used.
pub fn time_transforms(
    image: Option<&Path>,
    label: Option<&Path>,
    repeat: usize,
) -> Result<(PathBuf, HeaderInfo, Vec<StageTimes>)> {
    let tmp = std::env::temp_dir().join(format!("ssl3d-bench-{}", std::process::id()));
    let (image, label) = match image {
        Some(i) => (i.to_path_buf(), label.map(Path::to_path_buf)),
        None => {
            let v = synthesize(PhantomKind::Abdomen, SynthSize::Full, 0, 1);
            let (i, l) = (tmp.join("img.nii.gz"), tmp.join("label.nii.gz"));
            write_volume(&i, &v.hu, &v.affine)?;
            write_volume(
                &l,
                v.labels.as_ref().expect("abdomens are labelled"),
                &v.affine,
            )?;
            (i, Some(l))
        }
    };
    let header = read_header(&image)?;
    let mut kinds = vec![PipelineKind::Pretrain];
    if label.is_some() {
        kinds.push(PipelineKind::FinetuneTrain);
    }
    let mut out = Vec::new();
    for kind in kinds {
        let mut p = Pipeline::from_config(kind, None)?;
        let mut runs: Vec<Vec<(&'static str, f64)>> = Vec::new();
        for i in 0..=repeat.max(1) {
            p.set_random_state(i as u32);
            let (_, times) = p.run_timed(&image, label.as_deref())?;
            if i > 0 {
                runs.push(times.iter().map(|(n, t)| (*n, t.as_secs_f64())).collect());
            }
        }
        let stages = (0..runs[0].len())
            .map(|s| (runs[0][s].0, median(runs.iter().map(|r| r[s].1).collect())))
            .collect();
        out.push(StageTimes { kind, stages });
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok((image, header, out))
}

/// One epoch of the cached loader against a consumer that takes `consumer` per batch.
#[derive(Debug, Clone, Copy)]
pub struct EpochThroughput {
    pub crops: usize,
    pub seconds: f64,
    /// Seconds the consumer waited for batches.
    pub wait_s: f64,
}

/// The loader over a datalist's training volumes (RAM cache, shuffled): a cold epoch that fills
/// the cache, then a warm one. Returns the dataset size and both epochs.
pub fn time_loader(
    spec: PipelineSpec,
    datalist: &Path,
    data_dir: Option<&Path>,
    volumes_per_batch: usize,
    consumer: Duration,
) -> Result<(usize, [EpochThroughput; 2])> {
    let items = load_datalist(datalist, Split::Training, data_dir, spec.needs_label())?;
    let cache = CacheMode::Ram {
        budget_bytes: 16 << 30,
    };
    let ds = Arc::new(VolumeDataset::new(items, spec, cache)?);
    let cfg = LoaderConfig {
        volumes_per_batch,
        shuffle: true,
        drop_last: false,
        prefetch: 2,
        run_seed: 0,
        shard: crate::data::shard::Shard::WHOLE,
    };
    let mut epochs = [EpochThroughput {
        crops: 0,
        seconds: 0.0,
        wait_s: 0.0,
    }; 2];
    for (epoch, e) in epochs.iter_mut().enumerate() {
        let start = Instant::now();
        for b in epoch_batches(ds.clone(), cfg, epoch as u64) {
            let b = b?;
            e.crops += b.tensors.values().next().map_or(0, |t| t.shape()[0]);
            e.wait_s += b.wait.as_secs_f64();
            std::thread::sleep(consumer);
        }
        e.seconds = start.elapsed().as_secs_f64();
    }
    Ok((ds.len(), epochs))
}

/// Sliding-window inference of the tutorial's settings over a `size` volume with a free
/// "network" (the window broadcast to `channels`): the cost of tiling, padding and blending.
/// Returns the windows per run and the median seconds of `repeat` runs after one warm-up.
pub fn time_sliding_window(
    size: [usize; 3],
    channels: usize,
    repeat: usize,
) -> Result<(usize, f64)> {
    let input =
        Array5::<f32>::from_shape_fn((1, 1, size[0], size[1], size[2]), |(_, _, i, j, k)| {
            ((i + 2 * j + 3 * k) % 97) as f32 / 97.0
        });
    let sw = SlidingWindow::default();
    let mut times = Vec::new();
    let mut windows = 0;
    for _ in 0..=repeat.max(1) {
        let t = Instant::now();
        windows = 0;
        let out = sw.infer(input.view(), |x| {
            windows += x.shape()[0];
            let [n, _, a, b, c]: [usize; 5] = x.shape().try_into().expect("5-D windows");
            Ok(x.broadcast((n, channels, a, b, c))
                .expect("one input channel")
                .to_owned())
        })?;
        times.push(t.elapsed().as_secs_f64());
        drop(out);
    }
    times.remove(0);
    Ok((windows, median(times)))
}
