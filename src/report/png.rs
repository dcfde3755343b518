//! Every ssl3d figure is written the same way: drawn into a temporary PNG beside its destination
//! with the embedded font, then renamed into place, so a reader never sees half a figure.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::ensure_font;
use crate::error::{Error, Result};

/// The drawing area a figure is drawn on.
pub(crate) type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws a `size` (width, height) PNG with `draw` on a white canvas and renames it to `out`; a
/// drawing error names the file and `what` was being drawn ("plot", "chart", "figure").
pub(crate) fn write_png(
    out: &Path,
    size: (u32, u32),
    what: &str,
    draw: impl FnOnce(&Canvas) -> std::result::Result<(), String>,
) -> Result<()> {
    ensure_font();
    let err = |e: String| Error::bad_file(out, format!("cannot draw the {what}: {e}"));
    let tmp = out.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        draw(&root).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
}
