//! Label colours shared by every figure, and the overlay blend.

/// Distinct colours for labels 1, 2, …; larger labels cycle.
const LABEL_COLOURS: [(u8, u8, u8); 13] = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
];

/// Colour of label `l` (≥ 1).
pub(crate) fn label_colour(l: u8) -> (u8, u8, u8) {
    LABEL_COLOURS[(l as usize - 1) % LABEL_COLOURS.len()]
}

/// A grey level with label `l` laid over it (45 % colour); label 0 leaves the grey.
pub fn overlay(grey: u8, l: u8) -> (u8, u8, u8) {
    if l == 0 {
        return (grey, grey, grey);
    }
    let c = label_colour(l);
    let mix = |b: u8| (0.55 * grey as f64 + 0.45 * b as f64) as u8;
    (mix(c.0), mix(c.1), mix(c.2))
}
