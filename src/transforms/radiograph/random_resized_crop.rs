//! torchvision's `RandomResizedCrop.get_params`: up to ten tries of an area share drawn from
//! `scale` and a log-uniform aspect ratio from `ratio`, rounded half-to-even as Python's `round`;
//! the first box that fits is placed uniformly, else the central crop clamped to `ratio`. The
//! draws come from ssl3d's seeded generator, not torch's: the same maths, other random numbers.

use crate::transforms::rng::RandomState;

/// A crop box: top row, left column, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// The box for an image of `height × width`.
pub fn crop_box(
    rng: &mut RandomState,
    height: usize,
    width: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
) -> CropBox {
    let area = (height * width) as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.uniform(scale.0, scale.1);
        let aspect = rng.uniform(log_lo, log_hi).exp();
        let w = (target * aspect).sqrt().round_ties_even() as usize;
        let h = (target / aspect).sqrt().round_ties_even() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.randint(0, (height - h + 1) as i64) as usize;
            let left = rng.randint(0, (width - w + 1) as i64) as usize;
            return CropBox {
                top,
                left,
                height: h,
                width: w,
            };
        }
    }
    central_box(height, width, ratio)
}

/// The fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
pub fn central_box(height: usize, width: usize, ratio: (f64, f64)) -> CropBox {
    let in_ratio = width as f64 / height as f64;
    let (min_r, max_r) = (ratio.0.min(ratio.1), ratio.0.max(ratio.1));
    let (h, w) = if in_ratio < min_r {
        ((width as f64 / min_r).round_ties_even() as usize, width)
    } else if in_ratio > max_r {
        (height, (height as f64 * max_r).round_ties_even() as usize)
    } else {
        (height, width)
    };
    CropBox {
        top: (height - h) / 2,
        left: (width - w) / 2,
        height: h,
        width: w,
    }
}
