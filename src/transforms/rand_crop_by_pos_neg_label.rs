//! `RandCropByPosNegLabeld(spatial_size, pos, neg, num_samples, image_key, image_threshold)`: crops
//! centred on a foreground voxel with probability pos/(pos+neg), else on a background voxel of the
//! body (image > threshold, label 0), with MONAI's centre correction (docs/MONAI_COMPAT.md,
//! "RandCropByPosNegLabel").

use super::compose::Transform;
use super::crop_foreground::crop;
use super::meta::{FgBgIndices, Sample};
use super::rng::RandomState;
use crate::error::Result;

pub struct RandCropByPosNegLabeld {
    pub keys: Vec<String>,
    pub label_key: String,
    pub image_key: Option<String>,
    pub spatial_size: [usize; 3],
    pub pos: f64,
    pub neg: f64,
    pub num_samples: usize,
    pub image_threshold: f32,
    rng: RandomState,
}

impl RandCropByPosNegLabeld {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        keys: Vec<String>,
        label_key: String,
        image_key: Option<String>,
        spatial_size: [usize; 3],
        pos: f64,
        neg: f64,
        num_samples: usize,
        image_threshold: f32,
    ) -> Self {
        RandCropByPosNegLabeld {
            keys,
            label_key,
            image_key,
            spatial_size,
            pos,
            neg,
            num_samples,
            image_threshold,
            rng: RandomState::new(0),
        }
    }
}

/// [`FgBgIndices`] of a sample's label (and image, when given).
fn fg_bg_indices(
    sample: &Sample,
    label_key: &str,
    image_key: Option<&str>,
    threshold: f32,
) -> Result<FgBgIndices> {
    let label = sample.get(label_key)?;
    let shape = label.spatial_shape();
    let lab = label.data.as_standard_layout();
    let img = match image_key {
        Some(k) => Some(sample.get(k)?.data.as_standard_layout()),
        None => None,
    };
    let n = shape.iter().product::<usize>();
    let lab_flat = lab.as_slice().expect("standard layout");
    let img_flat = img.as_ref().map(|i| i.as_slice().expect("standard layout"));
    let (lc, ic) = (lab.shape()[0], img.as_ref().map_or(0, |i| i.shape()[0]));
    let (mut fg, mut bg) = (Vec::new(), Vec::new());
    for i in 0..n {
        if (0..lc).any(|c| lab_flat[c * n + i] != 0.0) {
            fg.push(i as u32);
        } else if img_flat.is_none_or(|im| (0..ic).any(|c| im[c * n + i] > threshold)) {
            bg.push(i as u32);
        }
    }
    Ok(FgBgIndices {
        fg,
        bg,
        shape,
        threshold,
    })
}

/// MONAI's `FgBgToIndicesd`: computes the index lists once in the deterministic prefix, so a
/// cached volume carries them and `RandCropByPosNegLabeld` does not rescan it every step.
pub struct FgBgToIndicesd {
    pub label_key: String,
    pub image_key: Option<String>,
    pub image_threshold: f32,
}

impl Transform for FgBgToIndicesd {
    fn name(&self) -> &'static str {
        "FgBgToIndicesd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let ix = fg_bg_indices(
            &sample,
            &self.label_key,
            self.image_key.as_deref(),
            self.image_threshold,
        )?;
        sample.fg_bg = Some(std::sync::Arc::new(ix));
        Ok(vec![sample])
    }
}

/// `correct_crop_centers` for one dim: clamp to `[size//2, uint16(S + 1 − size/2) − 1]`.
fn correct_centre(c: usize, size: usize, dim: usize) -> usize {
    let lo = size / 2;
    let mut hi = ((dim as f64 + 1.0) - size as f64 / 2.0) as u16 as usize;
    if lo == hi {
        hi += 1;
    }
    c.max(lo).min(hi - 1)
}

impl Transform for RandCropByPosNegLabeld {
    fn name(&self) -> &'static str {
        "RandCropByPosNegLabeld"
    }

    fn apply(&mut self, sample: Sample) -> Result<Vec<Sample>> {
        self.apply_ref(&sample)
    }

    fn apply_ref(&mut self, sample: &Sample) -> Result<Vec<Sample>> {
        let label = sample.get(&self.label_key)?;
        let shape = label.spatial_shape();
        if (0..3).any(|d| shape[d] < self.spatial_size[d]) {
            return Err(sample.error(format!(
                "RandCropByPosNegLabeld: the crop {:?} is larger than the image {:?} after preprocessing \
                 (MONAI raises here too; use a smaller spatial_size or a finer pixdim)",
                self.spatial_size, shape
            )));
        }
        // MONAI recomputes the index lists on every call; a preprocessed sample may carry them
        // (FgBgToIndicesd), which gives the same lists without the scan.
        let computed;
        let indices: &FgBgIndices = match &sample.fg_bg {
            Some(ix) if ix.shape == shape && ix.threshold == self.image_threshold => ix,
            _ => {
                computed = fg_bg_indices(
                    sample,
                    &self.label_key,
                    self.image_key.as_deref(),
                    self.image_threshold,
                )?;
                &computed
            }
        };
        let (fg, bg) = (&indices.fg, &indices.bg);
        let mut pos_ratio = self.pos / (self.pos + self.neg);
        if fg.is_empty() && bg.is_empty() {
            return Err(sample.error(
                "RandCropByPosNegLabeld: no foreground and no background voxel to centre a crop on",
            ));
        }
        if fg.is_empty() || bg.is_empty() {
            pos_ratio = if fg.is_empty() { 0.0 } else { 1.0 };
            eprintln!(
                "warning: {}: {} is empty, crops are drawn from {} only (pos ratio {pos_ratio})",
                sample
                    .source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                if fg.is_empty() {
                    "the label's foreground"
                } else {
                    "the background"
                },
                if fg.is_empty() {
                    "background"
                } else {
                    "foreground"
                }
            );
        }
        let mut centres = Vec::with_capacity(self.num_samples);
        for _ in 0..self.num_samples {
            let set = if self.rng.random_sample() < pos_ratio {
                &fg
            } else {
                &bg
            };
            let idx = set[self.rng.randint(0, set.len() as i64) as usize] as usize;
            let c = [
                idx / (shape[1] * shape[2]),
                (idx / shape[2]) % shape[1],
                idx % shape[2],
            ];
            centres.push([
                correct_centre(c[0], self.spatial_size[0], shape[0]),
                correct_centre(c[1], self.spatial_size[1], shape[1]),
                correct_centre(c[2], self.spatial_size[2], shape[2]),
            ]);
        }
        let mut out = Vec::with_capacity(centres.len());
        for c in centres {
            let start: [usize; 3] =
                std::array::from_fn(|d| c[d].saturating_sub(self.spatial_size[d] / 2));
            let end: [usize; 3] =
                std::array::from_fn(|d| (start[d] + self.spatial_size[d]).min(shape[d]));
            let mut s = sample.without(&self.keys);
            for k in &self.keys {
                let cropped = crop(sample.get(k)?, start, end);
                s.images.insert(k.clone(), cropped);
            }
            s.meta
                .insert("crop_center".into(), c.iter().map(|&v| v as i64).collect());
            out.push(s);
        }
        Ok(out)
    }

    fn is_random(&self) -> bool {
        true
    }

    fn set_random_state(&mut self, seed: u32) {
        self.rng = RandomState::new(seed);
    }
}
