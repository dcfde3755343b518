//! `CropForegroundd(source_key, select_fn = x > 0, margin 0, allow_smaller)`: crop every key to the
//! bounding box of the source's foreground (SPEC §6.11.5). No foreground gives MONAI's empty crop.

use ndarray::{Array4, Axis, s};
use rayon::prelude::*;

use super::meta::{MetaImage, Sample};
use crate::error::Result;

/// Bounding box `[start, end)` of voxels `> 0` in any channel; `([0;3], [0;3])` when there are none.
pub fn foreground_box(data: &Array4<f32>) -> ([usize; 3], [usize; 3]) {
    let nx = data.shape()[1];
    // Per x-plane: any foreground, and the y/z extent within it.
    let planes: Vec<Option<(usize, usize, usize, usize)>> = (0..nx)
        .into_par_iter()
        .map(|x| {
            let mut b: Option<(usize, usize, usize, usize)> = None;
            for c in 0..data.shape()[0] {
                let plane = data.index_axis(Axis(0), c);
                let plane = plane.index_axis(Axis(0), x);
                for ((y, z), &v) in plane.indexed_iter() {
                    if v > 0.0 {
                        b = Some(match b {
                            None => (y, y, z, z),
                            Some((y0, y1, z0, z1)) => (y0.min(y), y1.max(y), z0.min(z), z1.max(z)),
                        });
                    }
                }
            }
            b
        })
        .collect();
    let xs: Vec<usize> = (0..nx).filter(|&x| planes[x].is_some()).collect();
    if xs.is_empty() {
        return ([0; 3], [0; 3]);
    }
    let (mut y0, mut y1, mut z0, mut z1) = (usize::MAX, 0, usize::MAX, 0);
    for b in planes.iter().flatten() {
        y0 = y0.min(b.0);
        y1 = y1.max(b.1);
        z0 = z0.min(b.2);
        z1 = z1.max(b.3);
    }
    ([xs[0], y0, z0], [xs[xs.len() - 1] + 1, y1 + 1, z1 + 1])
}

/// Crops an image to `[start, end)`; the affine's origin moves to the crop's first voxel.
pub fn crop(img: &MetaImage, start: [usize; 3], end: [usize; 3]) -> MetaImage {
    let data = img
        .data
        .slice(s![.., start[0]..end[0], start[1]..end[1], start[2]..end[2]])
        .to_owned();
    let mut affine = img.affine;
    for r in 0..3 {
        affine[r][3] += (0..3)
            .map(|c| img.affine[r][c] * start[c] as f64)
            .sum::<f64>();
    }
    MetaImage { data, affine }
}

/// Dict version: the box from `source_key`, applied to `keys`; records
/// `foreground_start_coord` / `foreground_end_coord`.
pub struct CropForegroundd {
    pub keys: Vec<String>,
    pub source_key: String,
}

impl super::compose::Transform for CropForegroundd {
    fn name(&self) -> &'static str {
        "CropForegroundd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let (start, end) = foreground_box(&sample.get(&self.source_key)?.data);
        if end == [0; 3] {
            eprintln!(
                "warning: {}: no foreground (no voxel > 0 after intensity scaling); the crop is empty, as in MONAI",
                sample
                    .source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        for k in &self.keys {
            let img = sample.take(k)?;
            sample.images.insert(k.clone(), crop(&img, start, end));
        }
        sample.meta.insert(
            "foreground_start_coord".into(),
            start.iter().map(|&v| v as i64).collect(),
        );
        sample.meta.insert(
            "foreground_end_coord".into(),
            end.iter().map(|&v| v as i64).collect(),
        );
        Ok(vec![sample])
    }
}
