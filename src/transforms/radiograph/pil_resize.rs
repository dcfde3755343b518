//! PIL's bilinear `Image.resize` on 8-bit images, to the byte (Pillow's `Resample.c`): a triangle
//! filter widened by the scale when shrinking (so shrinking averages, as antialiasing), weights
//! normalised then rounded to 22-bit fixed point, a horizontal pass then a vertical one with the
//! intermediate rounded to bytes. torchvision's `Resize` and `RandomResizedCrop` call exactly this
//! on PIL images, which is how ConVIRT's reference reads its radiographs.

use crate::io::raster::Raster;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: the first input pixel, the count, and the fixed-point weights.
struct Coefficients {
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    ksize: usize,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter (support 1).
fn coefficients(in_size: usize, out_size: usize) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) cast truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let w = (1.0 - t.abs()).max(0.0);
            *kx = w;
            ww += w;
        }
        for x in 0..xmax {
            let w = if ww != 0.0 { k[x] / ww } else { k[x] };
            let fixed = w * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Coefficients {
        bounds,
        weights,
        ksize,
    }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// `img.resize((width, height), Image.BILINEAR)`.
pub fn resize_bilinear(img: &Raster, width: usize, height: usize) -> Raster {
    assert!(width > 0 && height > 0, "resize to an empty image");
    let c = img.channels;
    let need_h = width != img.width;
    let need_v = height != img.height;
    if !need_h && !need_v {
        return img.clone();
    }
    let vert = coefficients(img.height, height);
    let horiz = coefficients(img.width, width);
    // Only the rows the vertical pass reads go through the horizontal one.
    let (first, last) = if need_h {
        let (lmin, lcount) = vert.bounds[height - 1];
        (vert.bounds[0].0, lmin + lcount)
    } else {
        (0, img.height)
    };
    let temp = if need_h {
        let rows = last - first;
        let mut data = vec![0u8; width * rows * c];
        for y in 0..rows {
            let src = &img.data[(y + first) * img.width * c..(y + first + 1) * img.width * c];
            for (xx, &(xmin, count)) in horiz.bounds.iter().enumerate() {
                let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + count];
                for ch in 0..c {
                    let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                    for (x, &kx) in k.iter().enumerate() {
                        ss += src[(x + xmin) * c + ch] as i32 * kx;
                    }
                    data[(y * width + xx) * c + ch] = clip8(ss);
                }
            }
        }
        Raster::new(width, rows, c, data)
    } else {
        img.clone()
    };
    if !need_v {
        return temp;
    }
    let offset = if need_h { first } else { 0 };
    let mut data = vec![0u8; width * height * c];
    for (yy, &(ymin, count)) in vert.bounds.iter().enumerate() {
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + count];
        let ymin = ymin - offset;
        for xx in 0..width {
            for ch in 0..c {
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (y, &ky) in k.iter().enumerate() {
                    ss += temp.data[((y + ymin) * width + xx) * c + ch] as i32 * ky;
                }
                data[(yy * width + xx) * c + ch] = clip8(ss);
            }
        }
    }
    Raster::new(width, height, c, data)
}
