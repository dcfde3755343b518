//! The tutorial's "Augmented View 1 & 2" figure: for each crop a pipeline produced, rows of axial
//! slices through the patch — the original crop and the two self-supervised views for pretraining
//! (in-painting, out-painting, pixel shuffling), or the crop with its label overlay for fine-tuning.

use std::path::Path;

use plotters::prelude::*;

use super::colours::overlay;
use super::font::{FONT, ensure_font};
use crate::error::{Error, Result};
use crate::transforms::Sample;

const SLICES: usize = 5;
const SCALE: u32 = 2;

/// Draws the figure for `samples` (one pipeline call) into a PNG at `out`.
pub fn write_augmentation_views(samples: &[Sample], title: &str, out: &Path) -> Result<()> {
    ensure_font();
    let pretrain = samples
        .first()
        .is_some_and(|s| s.images.contains_key("gt_image"));
    let rows: Vec<(usize, &str, &str)> = samples
        .iter()
        .enumerate()
        .flat_map(|(i, _)| {
            if pretrain {
                vec![
                    (i, "gt_image", "original crop"),
                    (i, "image", "view 1"),
                    (i, "image_2", "view 2"),
                ]
            } else {
                vec![(i, "image", "crop with label")]
            }
        })
        .collect();
    let first = samples
        .first()
        .ok_or_else(|| Error::InvalidArgument("no samples to draw".into()))?
        .get("image")?;
    let [nx, ny, nz] = first.spatial_shape();
    let (pw, ph) = (nx as u32 * SCALE, ny as u32 * SCALE);
    let (margin, left, top, row_gap) = (10u32, 150u32, 50u32, 10u32);
    let width = left + SLICES as u32 * (pw + margin) + margin;
    let height = top + rows.len() as u32 * (ph + row_gap) + margin;
    let zs: Vec<usize> = (1..=SLICES).map(|k| k * nz / (SLICES + 1)).collect();
    let err = |e: String| Error::bad_file(out, format!("cannot draw the figure: {e}"));
    let root = BitMapBackend::new(out, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    root.draw(&Text::new(
        title.to_string(),
        (margin as i32, 10),
        (FONT, 18).into_font().color(&BLACK),
    ))
    .map_err(|e| err(e.to_string()))?;
    for (k, z) in zs.iter().enumerate() {
        let x0 = left + k as u32 * (pw + margin);
        root.draw(&Text::new(
            format!("axial z = {z}"),
            (x0 as i32, 32),
            (FONT, 13).into_font().color(&BLACK),
        ))
        .map_err(|e| err(e.to_string()))?;
    }
    for (r, (i, key, name)) in rows.iter().enumerate() {
        let y0 = top + r as u32 * (ph + row_gap);
        let s = &samples[*i];
        let img = &s.get(key)?.data;
        let label = (!pretrain)
            .then(|| s.get("label").ok())
            .flatten()
            .map(|l| &l.data);
        root.draw(&Text::new(
            format!("crop {} — {name}", i + 1),
            (margin as i32, (y0 + ph / 2) as i32 - 8),
            (FONT, 13).into_font().color(&BLACK),
        ))
        .map_err(|e| err(e.to_string()))?;
        for (k, &z) in zs.iter().enumerate() {
            let x0 = left + k as u32 * (pw + margin);
            for px in 0..pw {
                for py in 0..ph {
                    let (x, y) = ((px / SCALE) as usize, (py / SCALE) as usize);
                    let v = img[[0, x, y, z]];
                    let g = (v.clamp(0.0, 1.0) * 255.0) as u8;
                    let c = overlay(g, label.map_or(0, |l| l[[0, x, y, z]] as u8));
                    root.draw_pixel(
                        ((x0 + px) as i32, (y0 + py) as i32),
                        &RGBColor(c.0, c.1, c.2),
                    )
                    .map_err(|e| err(e.to_string()))?;
                }
            }
        }
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}
