//! Line-chart panels for training curves, e.g. the SSL tutorial's 2×2 `loss_plots.png` (training
//! loss, validation loss, training contrastive loss, training reconstruction loss).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::FONT;
use super::png::write_png;
use super::records::{PretrainRecord, Record, SslEpochRecord};
use crate::error::Result;

/// One panel: a title, an x-axis label and its (x, y) points.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub points: Vec<(f64, f64)>,
}

fn range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Draws one line panel on `area`.
pub(crate) fn draw_line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> std::result::Result<(), String> {
    let (x0, x1) = range(p.points.iter().map(|q| q.0));
    let (y0, y1) = range(p.points.iter().map(|q| q.1));
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, (FONT, 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(p.x_label)
        .label_style((FONT, 12))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(p.points.iter().copied(), &BLUE))
        .map_err(|e| e.to_string())?;
    // Few points (early in a run): mark them, a single point draws no line.
    if p.points.len() <= 60 {
        chart
            .draw_series(p.points.iter().map(|&q| Circle::new(q, 2, BLUE.filled())))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Draws `panels` in a grid of `cols` columns into a PNG at `out` (written atomically).
pub fn write_panels(out: &Path, panels: &[Panel], cols: usize) -> Result<()> {
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols);
    write_png(
        out,
        (420 * cols as u32, 360 * rows as u32),
        "plot",
        |root| {
            for (area, p) in root.split_evenly((rows, cols)).iter().zip(panels) {
                draw_line_panel(area, p)?;
            }
            Ok(())
        },
    )
}

/// The SSL tutorial's 2×2 `loss_plots.png` from a pretraining log's epoch and validation records.
pub(crate) fn write_ssl_loss_plots(out: &Path, records: &[PretrainRecord]) -> Result<()> {
    let epochs = |value: fn(&SslEpochRecord) -> f64| -> Vec<(f64, f64)> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Epoch(e) => Some((e.epoch as f64, value(e))),
                _ => None,
            })
            .collect()
    };
    let validation = records
        .iter()
        .filter_map(|r| match r {
            Record::Val(v) => Some((v.epoch as f64, v.val_l1)),
            _ => None,
        })
        .collect();
    let panel = |title, points| Panel {
        title,
        x_label: "epoch",
        points,
    };
    let panels = [
        panel("Training Loss", epochs(|e| e.total)),
        panel("Validation Loss", validation),
        panel("Training Contrastive Loss", epochs(|e| e.contrastive)),
        panel("Training Recon Loss", epochs(|e| e.recon)),
    ];
    write_panels(out, &panels, 2)
}
