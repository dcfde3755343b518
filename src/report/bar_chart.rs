//! Grouped bar charts: categories along x, one coloured bar per series in each, with a legend.
//! Used for per-organ Dice and for the random-vs-pretrained table.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::FONT;

/// One series: a name for the legend and one value per category (NaN: no bar), with an error
/// bar of ± `errors[c]` where given (NaN: none).
pub(crate) struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<f64>,
    pub errors: Option<Vec<f64>>,
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(120, 120, 120),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

/// Draws a grouped bar chart with y in `[0, y_max]` on `area`.
pub(crate) fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    categories: &[String],
    series: &[Series],
    y_label: &str,
    y_max: f64,
) -> std::result::Result<(), String> {
    let n = categories.len().max(1);
    let k = series.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(if categories.iter().any(|c| c.len() > 6) {
            70
        } else {
            35
        })
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..n as f64, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_label)
        .label_style((FONT, 11))
        .draw()
        .map_err(|e| e.to_string())?;
    // Category names under the middle of each group, placed in pixels (tick positions that the
    // axis would choose need not fall on the groups).
    let (bx, by) = area.get_base_pixel();
    let style = TextStyle::from((FONT, 12).into_font()).color(&BLACK).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ),
    );
    for (c, name) in categories.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(c as f64 + 0.5, 0.0));
        area.draw_text(name, &style, (px - bx, py - by + 6))
            .map_err(|e| e.to_string())?;
    }
    let width = 0.8 / k as f64;
    for (s_i, s) in series.iter().enumerate() {
        let colour = COLOURS[s_i % COLOURS.len()];
        chart
            .draw_series(
                s.values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(c, &v)| {
                        let x0 = c as f64 + 0.1 + s_i as f64 * width;
                        Rectangle::new(
                            [(x0, 0.0), (x0 + width * 0.95, v.min(y_max))],
                            colour.filled(),
                        )
                    }),
            )
            .map_err(|e| e.to_string())?
            .label(s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        if let Some(errors) = &s.errors {
            let whiskers = (s.values.iter().zip(errors).enumerate())
                .filter(|(_, (v, e))| v.is_finite() && e.is_finite())
                .map(|(c, (&v, &e))| {
                    let x = c as f64 + 0.1 + s_i as f64 * width + width * 0.475;
                    let (lo, hi) = ((v - e).max(0.0), (v + e).min(y_max));
                    PathElement::new(vec![(x, lo), (x, hi)], BLACK.stroke_width(2))
                });
            chart.draw_series(whiskers).map_err(|e| e.to_string())?;
        }
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
