//! `ssl-data views`: the three orthogonal mid-slices of a volume, with labels as a colour overlay,
//! in radiological display convention (patient's right on the left of the screen, anterior up on
//! axial slices), so a person can see at a glance what a file holds and whether labels sit right.

use std::path::Path;

use ndarray::Array3;
use plotters::prelude::*;

use super::colours::{label_colour, overlay};
use super::font::{FONT, ensure_font};
use crate::error::{Error, Result};
use crate::io::{Affine, LabelVolume, Volume};

/// For each RAS axis: which array axis holds it and whether the array runs against it.
fn ras_axes(affine: &Affine) -> Result<[(usize, bool); 3]> {
    let mut out = [(usize::MAX, false); 3];
    for col in 0..3 {
        let row = (0..3)
            .max_by(|&a, &b| affine[a][col].abs().total_cmp(&affine[b][col].abs()))
            .unwrap();
        if out[row].0 != usize::MAX {
            return Err(Error::InvalidArgument(
                "affine maps two array axes onto the same world axis".into(),
            ));
        }
        out[row] = (col, affine[row][col] < 0.0);
    }
    Ok(out)
}

/// A volume reindexed in RAS order (nearest, no resampling): `get([x, y, z])`, x towards the left,
/// y anterior, z superior.
struct RasView<'a, T> {
    data: &'a Array3<T>,
    axes: [(usize, bool); 3],
    shape: [usize; 3],
    spacing: [f64; 3],
}

impl<'a, T: Copy> RasView<'a, T> {
    fn new(data: &'a Array3<T>, affine: &Affine, spacing: [f64; 3]) -> Result<Self> {
        let axes = ras_axes(affine)?;
        let shape = axes.map(|(a, _)| data.shape()[a]);
        let spacing = axes.map(|(a, _)| spacing[a]);
        Ok(RasView {
            data,
            axes,
            shape,
            spacing,
        })
    }

    fn get(&self, ras: [usize; 3]) -> T {
        let mut idx = [0usize; 3];
        for (w, &(a, flip)) in self.axes.iter().enumerate() {
            idx[a] = if flip {
                self.shape[w] - 1 - ras[w]
            } else {
                ras[w]
            };
        }
        self.data[idx]
    }
}

/// Grey level window: soft-tissue CT window for HU data, else the 1st–99th percentile.
fn window(volume: &Volume) -> (f32, f32) {
    let mut sample: Vec<f32> = volume.data.iter().step_by(97).copied().collect();
    sample.sort_by(f32::total_cmp);
    let lo = sample[sample.len() / 100];
    let hi = sample[sample.len() * 99 / 100];
    if lo <= -500.0 && hi > 0.0 {
        (40.0 - 200.0, 40.0 + 200.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

/// One panel: a 2-D slice given by the two RAS axes it shows (screen x, screen y downwards) and
/// the fixed third.
struct Panel {
    title: String,
    /// (RAS axis, reversed) for screen x and screen y.
    x: (usize, bool),
    y: (usize, bool),
    fixed: (usize, usize),
}

/// Renders the three mid-slices of `volume` (and `labels`, when given) into a PNG at `out`.
pub fn write_views(volume: &Volume, labels: Option<&LabelVolume>, out: &Path) -> Result<()> {
    ensure_font();
    let img = RasView::new(&volume.data, &volume.affine, volume.spacing())?;
    let lab = labels
        .map(|l| RasView::new(&l.data, &volume.affine, volume.spacing()))
        .transpose()?;
    let (lo, hi) = window(volume);
    let mid = img.shape.map(|n| n / 2);
    let panels = [
        Panel {
            title: format!("axial (slice {} of {})", mid[2], img.shape[2]),
            x: (0, false),
            y: (1, true),
            fixed: (2, mid[2]),
        },
        Panel {
            title: format!("coronal (slice {} of {})", mid[1], img.shape[1]),
            x: (0, false),
            y: (2, true),
            fixed: (1, mid[1]),
        },
        Panel {
            title: format!("sagittal (slice {} of {})", mid[0], img.shape[0]),
            x: (1, true),
            y: (2, true),
            fixed: (0, mid[0]),
        },
    ];
    // Physical extents in mm decide each panel's size on screen.
    let extent = |ax: usize| img.shape[ax] as f64 * img.spacing[ax];
    let max_h = panels.iter().map(|p| extent(p.y.0)).fold(0.0, f64::max);
    let px_per_mm = 360.0 / max_h;
    let sizes: Vec<(u32, u32)> = panels
        .iter()
        .map(|p| {
            (
                (extent(p.x.0) * px_per_mm).round().max(16.0) as u32,
                (extent(p.y.0) * px_per_mm).round().max(16.0) as u32,
            )
        })
        .collect();
    let margin = 20u32;
    let top = 60u32;
    let legend_h = if labels.is_some() { 90 } else { 20 };
    let width = sizes.iter().map(|s| s.0 + margin).sum::<u32>() + margin;
    let height = top + sizes.iter().map(|s| s.1).max().unwrap() + legend_h + 20;
    let err = |e: String| Error::bad_file(out, format!("cannot draw the figure: {e}"));
    {
        let root = BitMapBackend::new(out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let name = volume
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let sp = volume.spacing();
        let header = format!(
            "{name}   {:?} voxels, {:.2}×{:.2}×{:.2} mm, window [{lo:.0}, {hi:.0}]",
            volume.data.shape(),
            sp[0],
            sp[1],
            sp[2]
        );
        root.draw(&Text::new(
            header,
            (margin as i32, 12),
            (FONT, 18).into_font().color(&BLACK),
        ))
        .map_err(|e| err(e.to_string()))?;
        let mut x0 = margin;
        let mut present = [false; 256];
        for (panel, &(w, h)) in panels.iter().zip(&sizes) {
            root.draw(&Text::new(
                panel.title.clone(),
                (x0 as i32, (top - 22) as i32),
                (FONT, 15).into_font().color(&BLACK),
            ))
            .map_err(|e| err(e.to_string()))?;
            let (nx, ny) = (img.shape[panel.x.0], img.shape[panel.y.0]);
            for sy in 0..h {
                for sx in 0..w {
                    let mut vx = ((sx as f64 + 0.5) / w as f64 * nx as f64) as usize;
                    let mut vy = ((sy as f64 + 0.5) / h as f64 * ny as f64) as usize;
                    if panel.x.1 {
                        vx = nx - 1 - vx;
                    }
                    if panel.y.1 {
                        vy = ny - 1 - vy;
                    }
                    let mut ras = [0usize; 3];
                    ras[panel.x.0] = vx;
                    ras[panel.y.0] = vy;
                    ras[panel.fixed.0] = panel.fixed.1;
                    let v = img.get(ras);
                    let g = (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0) as u8;
                    let l = lab.as_ref().map_or(0, |l| l.get(ras));
                    present[l as usize] = true;
                    let rgb = overlay(g, l);
                    root.draw_pixel(
                        ((x0 + sx) as i32, (top + sy) as i32),
                        &RGBColor(rgb.0, rgb.1, rgb.2),
                    )
                    .map_err(|e| err(e.to_string()))?;
                }
            }
            x0 += w + margin;
        }
        // Orientation hints and the label legend.
        let mut legend_y = (top + sizes.iter().map(|s| s.1).max().unwrap() + 8) as i32;
        root.draw(&Text::new(
            "radiological view: patient right on the left; axial anterior up",
            (margin as i32, legend_y),
            (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(|e| err(e.to_string()))?;
        let mut lx = margin as i32;
        for l in (1..=255u8).filter(|&l| present[l as usize]) {
            let (r, g, b) = label_colour(l);
            let name = crate::data::btcv::label_legend(l);
            root.draw(&Rectangle::new(
                [(lx, legend_y + 22), (lx + 12, legend_y + 34)],
                RGBColor(r, g, b).filled(),
            ))
            .map_err(|e| err(e.to_string()))?;
            root.draw(&Text::new(
                name.clone(),
                (lx + 16, legend_y + 21),
                (FONT, 12).into_font().color(&BLACK),
            ))
            .map_err(|e| err(e.to_string()))?;
            lx += 24 + 7 * name.len() as i32;
            if lx > width as i32 - 200 {
                lx = margin as i32;
                legend_y += 18;
            }
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(())
}
