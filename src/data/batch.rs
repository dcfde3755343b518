//! Typed batches: the loader collates MONAI-style keyed samples (`image`, `image_2`, `gt_image`,
//! `label`), and each training job takes them as a struct with named fields, so a renamed key
//! is one clear error at the border instead of a lookup deep inside a step.

use std::collections::BTreeMap;

use ndarray::Array5;

use crate::error::{Error, Result};

/// What a job's step takes, built from a collated batch (for volumes: its keyed arrays).
pub trait FromCollated<T = BTreeMap<String, Array5<f32>>>: Sized {
    fn from_collated(arrays: T) -> Result<Self>;
}

fn take(arrays: &mut BTreeMap<String, Array5<f32>>, key: &str) -> Result<Array5<f32>> {
    arrays.remove(key).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "the batch has no \"{key}\" (it has {:?}); the transform pipeline does not match the job",
            arrays.keys().collect::<Vec<_>>()
        ))
    })
}

/// A self-supervised batch `(B, 1, X, Y, Z)`: two augmented views of each crop and the clean crop.
#[derive(Debug, Clone)]
pub struct SslBatch {
    pub view1: Array5<f32>,
    pub view2: Array5<f32>,
    pub clean: Array5<f32>,
}

impl FromCollated for SslBatch {
    fn from_collated(mut arrays: BTreeMap<String, Array5<f32>>) -> Result<Self> {
        Ok(SslBatch {
            view1: take(&mut arrays, "image")?,
            view2: take(&mut arrays, "image_2")?,
            clean: take(&mut arrays, "gt_image")?,
        })
    }
}

/// A segmentation batch: CT crops `(B, 1, X, Y, Z)` and their label maps (values 0..classes).
#[derive(Debug, Clone)]
pub struct SegBatch {
    pub image: Array5<f32>,
    pub label: Array5<f32>,
}

impl FromCollated for SegBatch {
    fn from_collated(mut arrays: BTreeMap<String, Array5<f32>>) -> Result<Self> {
        Ok(SegBatch {
            image: take(&mut arrays, "image")?,
            label: take(&mut arrays, "label")?,
        })
    }
}

/// The rows of each micro-batch of a batch of `crops` crops for gradient accumulation: volume
/// `i`'s crops (`crops_per_volume` in a row) go to part `i mod parts`, the way a `parts`-process
/// run deals the same volumes out (each process takes every `parts`-th volume), so the
/// micro-batches are exactly the batches those processes would see. A batch with fewer volumes
/// (an epoch's short last one) gives one part a volume.
fn micro_batch_rows(
    crops: usize,
    parts: usize,
    crops_per_volume: usize,
) -> Result<Vec<Vec<usize>>> {
    let per = crops_per_volume.max(1);
    if !crops.is_multiple_of(per) {
        return Err(Error::InvalidArgument(format!(
            "a batch of {crops} crops is not whole volumes of {per} crops"
        )));
    }
    let volumes = crops / per;
    let parts = parts.clamp(1, volumes.max(1));
    Ok((0..parts)
        .map(|part| {
            (part..volumes)
                .step_by(parts)
                .flat_map(|v| v * per..(v + 1) * per)
                .collect()
        })
        .collect())
}

/// A batch that splits into micro-batches of whole volumes for gradient accumulation.
pub trait MicroBatches: Sized {
    /// The batch's number of crops, after checking every array has as many.
    fn crops(&self) -> Result<usize>;
    /// The batch of these crops only.
    fn select(&self, rows: &[usize]) -> Self;
    /// This batch as up to `parts` micro-batches of whole volumes ([`micro_batch_rows`]).
    fn micro_batches(&self, parts: usize, crops_per_volume: usize) -> Result<Vec<Self>> {
        Ok(micro_batch_rows(self.crops()?, parts, crops_per_volume)?
            .iter()
            .map(|r| self.select(r))
            .collect())
    }
}

/// `rows` of a batch array.
fn rows(a: &Array5<f32>, rows: &[usize]) -> Array5<f32> {
    a.select(ndarray::Axis(0), rows)
}

/// The crops of `arrays` (named), which must all have as many.
fn common_crops(arrays: &[(&str, &Array5<f32>)]) -> Result<usize> {
    let crops = arrays[0].1.shape()[0];
    match arrays.iter().find(|(_, a)| a.shape()[0] != crops) {
        None => Ok(crops),
        Some((name, a)) => Err(Error::InvalidArgument(format!(
            "a batch of {crops} {} has {} {name}",
            arrays[0].0,
            a.shape()[0]
        ))),
    }
}

impl MicroBatches for SegBatch {
    fn crops(&self) -> Result<usize> {
        common_crops(&[("crops", &self.image), ("labels", &self.label)])
    }
    fn select(&self, r: &[usize]) -> Self {
        SegBatch {
            image: rows(&self.image, r),
            label: rows(&self.label, r),
        }
    }
}

impl MicroBatches for SslBatch {
    fn crops(&self) -> Result<usize> {
        common_crops(&[
            ("clean crops", &self.clean),
            ("first views", &self.view1),
            ("second views", &self.view2),
        ])
    }
    fn select(&self, r: &[usize]) -> Self {
        SslBatch {
            view1: rows(&self.view1, r),
            view2: rows(&self.view2, r),
            clean: rows(&self.clean, r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `volumes` volumes of `crops` crops, each crop's voxels its volume's number.
    fn batch(volumes: usize, crops: usize) -> SegBatch {
        let image =
            Array5::from_shape_fn((volumes * crops, 1, 1, 1, 2), |(i, ..)| (i / crops) as f32);
        SegBatch {
            label: image.clone(),
            image,
        }
    }

    fn volumes_of(part: &SegBatch, crops: usize) -> Vec<f32> {
        part.image
            .outer_iter()
            .step_by(crops)
            .map(|c| c[[0, 0, 0, 0]])
            .collect()
    }

    /// Volume i goes to part i mod parts with all its crops, as the processes of a data-parallel
    /// run share the volumes out.
    #[test]
    fn micro_batches_deal_whole_volumes_like_the_processes_of_a_run() {
        let parts = batch(4, 2).micro_batches(2, 2).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(volumes_of(&parts[0], 2), [0.0, 2.0]);
        assert_eq!(volumes_of(&parts[1], 2), [1.0, 3.0]);
        for part in &parts {
            assert_eq!(part.image.shape()[0], 4);
            assert_eq!(part.label, part.image);
        }
        // An epoch's short last batch: no empty parts.
        assert_eq!(batch(1, 2).micro_batches(2, 2).unwrap().len(), 1);
        let uneven = batch(3, 1).micro_batches(2, 1).unwrap();
        assert_eq!(volumes_of(&uneven[0], 1), [0.0, 2.0]);
        assert_eq!(volumes_of(&uneven[1], 1), [1.0]);
        // Crops that are not whole volumes are refused.
        let err = batch(3, 1).micro_batches(2, 2).unwrap_err().to_string();
        assert!(err.contains("not whole volumes"), "{err}");
    }
}
