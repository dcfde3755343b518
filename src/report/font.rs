//! Registers an embedded font with plotters once, so figures have text on machines without any
//! system fonts (CI, containers).

use std::sync::Once;

use plotters::style::{FontStyle, register_font};

/// The family name every ssl3d figure uses.
pub(crate) const FONT: &str = "sans-serif";

pub(crate) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("embedded DejaVu Sans is a valid font"));
        register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .unwrap_or_else(|_| panic!("embedded DejaVu Sans Bold is a valid font"));
    });
}
