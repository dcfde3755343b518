//! The study's figures: learning curves (13-organ Dice against iteration, mean over seeds with a
//! ±sd band) per network and training set, and Dice against the number of labelled volumes
//! (mean with its 95 % interval) per network, random init beside pretrained.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::font::FONT;
use super::png::{Canvas, write_png};
use super::study::{Study, StudyCell, row_name};
use crate::error::Result;

/// Random init grey-blue, pretrained orange, in every study figure.
fn init_colour(init: &str) -> RGBColor {
    if init == "pretrained" {
        RGBColor(255, 127, 14)
    } else {
        RGBColor(31, 119, 180)
    }
}

const INITS: [&str; 2] = ["random", "pretrained"];

/// Panels in a grid of at most three columns.
fn grid(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 3);
    (n.div_ceil(cols).max(1), cols)
}

/// A grid of `panels` panels, 420×320 each, drawn by `draw` into the PNG `out`.
fn draw_png(
    out: &Path,
    panels: usize,
    draw: impl FnOnce(&[Canvas]) -> std::result::Result<(), String>,
) -> Result<()> {
    let (rows, cols) = grid(panels);
    let size = (420 * cols as u32, 320 * rows as u32);
    write_png(out, size, "figure", |root| {
        draw(&root.split_evenly((rows, cols)))
    })
}

type DiceChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A panel with x in `[0, x_max]` and 13-organ Dice (%) up the side.
fn dice_axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_max: f64,
    x_desc: &str,
) -> std::result::Result<DiceChart<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..100.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("13-organ Dice %")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style((FONT, 11))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut DiceChart<'a, DB>,
) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 11))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())
}

/// One learning-curve panel: each init's mean line and ±sd band.
fn curve_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    cells: &[&StudyCell],
) -> std::result::Result<(), String> {
    let x_max = cells
        .iter()
        .flat_map(|c| c.curve.iter().map(|p| p.iteration))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = dice_axes(area, title, x_max, "iteration")?;
    for c in cells {
        let colour = init_colour(&c.key.init);
        let pts = |f: &dyn Fn(f64, f64) -> f64| -> Vec<(f64, f64)> {
            c.curve
                .iter()
                .map(|p| (p.iteration as f64, f(p.mean, p.sd) * 100.0))
                .collect()
        };
        let mut band = pts(&|m, sd| (m + sd).min(1.0));
        band.extend(pts(&|m, sd| (m - sd).max(0.0)).into_iter().rev());
        if c.seeds.len() > 1 {
            chart
                .draw_series(std::iter::once(Polygon::new(band, colour.mix(0.2))))
                .map_err(|e| e.to_string())?;
        }
        let mean = pts(&|m, _| m);
        chart
            .draw_series(LineSeries::new(mean.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("{} ({} seeds)", c.key.init, c.seeds.len()))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
        chart
            .draw_series(mean.iter().map(|&q| Circle::new(q, 2, colour.filled())))
            .map_err(|e| e.to_string())?;
    }
    draw_legend(&mut chart)
}

/// `learning_curves.png`: a panel per network and training set.
pub(crate) fn write_learning_curves(study: &Study, out: &Path) -> Result<()> {
    let mut rows: Vec<(String, usize)> = study
        .cells
        .iter()
        .map(|c| (c.key.network.clone(), c.key.train_volumes))
        .collect();
    rows.dedup();
    draw_png(out, rows.len(), |areas| {
        for ((net, n), area) in rows.iter().zip(areas) {
            let cells: Vec<&StudyCell> = study
                .cells
                .iter()
                .filter(|c| &c.key.network == net && c.key.train_volumes == *n)
                .collect();
            curve_panel(area, &row_name(net, *n), &cells)?;
        }
        Ok(())
    })
}

/// One Dice-vs-volumes panel: each init's mean over seeds against the training volumes, with
/// its 95 % interval where there are two seeds or more.
fn volumes_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    network: &str,
    study: &Study,
) -> std::result::Result<(), String> {
    let cells: Vec<&StudyCell> = study
        .cells
        .iter()
        .filter(|c| c.key.network == network)
        .collect();
    let x_max = cells.iter().map(|c| c.key.train_volumes).max().unwrap_or(1) as f64;
    let title = format!("{network}: Dice vs labelled volumes");
    let mut chart = dice_axes(area, &title, x_max + 1.0, "labelled training volumes")?;
    for (i, init) in INITS.iter().enumerate() {
        let colour = init_colour(init);
        // Side by side, so the two inits' intervals do not hide each other.
        let dx = (i as f64 - 0.5) * 0.12;
        let pts: Vec<(f64, f64, Option<[f64; 2]>)> = cells
            .iter()
            .filter(|c| c.key.init == *init)
            .filter_map(|c| {
                c.foreground_dice.as_ref().map(|s| {
                    (
                        c.key.train_volumes as f64 + dx,
                        s.mean * 100.0,
                        s.ci95.map(|[lo, hi]| [lo * 100.0, hi * 100.0]),
                    )
                })
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(init.to_string())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.0, p.1), 3, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(pts.iter().filter_map(|p| {
                p.2.map(|[lo, hi]| {
                    ErrorBar::new_vertical(
                        p.0,
                        lo.clamp(0.0, 100.0),
                        p.1,
                        hi.clamp(0.0, 100.0),
                        colour.stroke_width(1),
                        8,
                    )
                })
            }))
            .map_err(|e| e.to_string())?;
    }
    draw_legend(&mut chart)
}

/// `dice_vs_volumes.png`: a panel per network.
pub(crate) fn write_dice_vs_volumes(study: &Study, out: &Path) -> Result<()> {
    let mut networks: Vec<String> = study.cells.iter().map(|c| c.key.network.clone()).collect();
    networks.dedup();
    draw_png(out, networks.len(), |areas| {
        for (net, area) in networks.iter().zip(areas) {
            volumes_panel(area, net, study)?;
        }
        Ok(())
    })
}
