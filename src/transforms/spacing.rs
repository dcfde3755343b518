//! `Spacing(pixdim, mode, padding_mode="border", align_corners=False, diagonal=False)`: resample
//! to a new voxel size keeping the rotation (SPEC §6.11.4). Output shape by round-half-even,
//! output voxel 0 on input voxel 0, trilinear or nearest sampling with border clamping in f64.

use ndarray::{Array4, ArrayView4, Axis};
use rayon::prelude::*;

use super::linalg::{cholesky_upper, inverse, solve};
use super::meta::{MetaImage, Sample};
use crate::error::Result;
use crate::io::Affine;
use crate::io::affine::spacing_of;

/// MONAI's `AFFINE_TOL`.
const AFFINE_TOL: f64 = 1e-3;

/// Interpolation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interp {
    /// Trilinear ("bilinear" in MONAI/torch).
    Bilinear,
    /// Nearest neighbour, ties to even.
    Nearest,
}

/// The output grid `Spacing` resamples onto: its shape, affine, and the map from output voxel
/// index to input continuous index.
#[derive(Debug, Clone)]
pub struct SpacingPlan {
    pub out_shape: [usize; 3],
    pub out_affine: Affine,
    /// `A⁻¹·N`: output voxel (homogeneous) → input voxel coordinates.
    pub xform: Affine,
    /// Nothing to resample (MONAI skips when `xform ≈ I` and the shape is unchanged).
    pub identity: bool,
}

/// `zoom_affine(A, out_d, diagonal=False)`: keep the rotation, drop shear, zero translation.
fn zoom_affine(a: &Affine, out_d: [f64; 3]) -> Affine {
    let rzs = [
        [a[0][0], a[0][1], a[0][2]],
        [a[1][0], a[1][1], a[1][2]],
        [a[2][0], a[2][1], a[2][2]],
    ];
    let mut mtm = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            mtm[i][j] = (0..3).map(|k| rzs[k][i] * rzs[k][j]).sum();
        }
    }
    let mut n = crate::io::affine::identity();
    let Some(zs) = cholesky_upper(&mtm) else {
        // Degenerate affine: fall back to the diagonal of the new spacing.
        for (d, row) in n.iter_mut().take(3).enumerate() {
            row[d] = out_d[d];
        }
        return n;
    };
    let mut zs4 = crate::io::affine::identity();
    for i in 0..3 {
        zs4[i][..3].copy_from_slice(&zs[i]);
    }
    let zs_inv = inverse(&zs4).expect("Cholesky factor is invertible");
    for i in 0..3 {
        for j in 0..3 {
            let rot: f64 = (0..3).map(|k| rzs[i][k] * zs_inv[k][j]).sum();
            n[i][j] = rot * zs[j][j].signum() * out_d[j].abs();
        }
    }
    n
}

/// Computes the output grid for an input of `shape` with `affine` resampled to `pixdim`.
pub fn plan(shape: [usize; 3], affine: &Affine, pixdim: [f64; 3]) -> SpacingPlan {
    let mut orig = spacing_of(affine);
    for o in &mut orig {
        if *o == 0.0 {
            *o = 1.0;
        }
    }
    let mut out_d = [0.0; 3];
    for d in 0..3 {
        out_d[d] = if pixdim[d] <= 0.0 || (orig[d] - pixdim[d]).abs() <= AFFINE_TOL {
            orig[d]
        } else {
            pixdim[d]
        };
    }
    let mut n = zoom_affine(affine, out_d);
    // compute_shape_offset: corners of the input in output voxel coordinates.
    let rel = solve(&n, affine).expect("zoomed affine is invertible");
    let mut corners_in = Vec::with_capacity(8);
    for cx in [0.0, shape[0] as f64 - 1.0] {
        for cy in [0.0, shape[1] as f64 - 1.0] {
            for cz in [0.0, shape[2] as f64 - 1.0] {
                corners_in.push([cx, cy, cz]);
            }
        }
    }
    let apply = |m: &Affine, c: &[f64; 3]| -> [f64; 3] {
        let mut o = [0.0; 3];
        for (r, out) in o.iter_mut().enumerate() {
            *out = m[r][0] * c[0] + m[r][1] * c[1] + m[r][2] * c[2] + m[r][3];
        }
        o
    };
    let corners_out: Vec<[f64; 3]> = corners_in.iter().map(|c| apply(&rel, c)).collect();
    let mut out_shape = [0usize; 3];
    for d in 0..3 {
        let lo = corners_out
            .iter()
            .map(|c| c[d])
            .fold(f64::INFINITY, f64::min);
        let hi = corners_out
            .iter()
            .map(|c| c[d])
            .fold(f64::NEG_INFINITY, f64::max);
        out_shape[d] = ((hi - lo) + 1.0).round_ties_even().max(1.0) as usize;
    }
    // Offset: world position of the input corner that is smallest in every output dimension.
    let mut offset = None;
    for (i, ci) in corners_out.iter().enumerate() {
        let smallest = corners_out
            .iter()
            .all(|c| (0..3).all(|d| c[d] - ci[d] >= -1e-12));
        if smallest {
            offset = Some(apply(affine, &corners_in[i]));
            break;
        }
    }
    let offset = offset.unwrap_or_else(|| {
        // Centre-aligned fallback.
        let mut o = [0.0; 3];
        for (r, out) in o.iter_mut().enumerate() {
            *out = (0..3)
                .map(|c| affine[r][c] * shape[c] as f64 / 2.0 - n[r][c] * out_shape[c] as f64 / 2.0)
                .sum::<f64>()
                + affine[r][3];
        }
        o
    });
    for r in 0..3 {
        n[r][3] = offset[r];
    }
    let xform = solve(affine, &n).expect("input affine is invertible");
    let near_identity = xform.iter().enumerate().all(|(i, row)| {
        row.iter()
            .enumerate()
            .all(|(j, &v)| (v - if i == j { 1.0 } else { 0.0 }).abs() <= AFFINE_TOL)
    });
    SpacingPlan {
        out_shape,
        out_affine: n,
        xform,
        identity: near_identity && out_shape == shape,
    }
}

/// Per-axis sampling table for an axis-aligned transform: (low index, high index, low weight,
/// high weight) per output index, after border clamping.
fn linear_table(
    n_out: usize,
    scale: f64,
    shift: f64,
    n_in: usize,
) -> Vec<(usize, usize, f64, f64)> {
    (0..n_out)
        .map(|i| {
            let x = (scale * i as f64 + shift).clamp(0.0, (n_in - 1) as f64);
            let x0 = x.floor();
            let f = x - x0;
            let i0 = x0 as usize;
            // The high neighbour is out of bounds only when f == 0: it then has weight 0.
            (i0, (i0 + 1).min(n_in - 1), 1.0 - f, f)
        })
        .collect()
}

fn nearest_index(x: f64, n_in: usize) -> usize {
    x.clamp(0.0, (n_in - 1) as f64).round_ties_even() as usize
}

/// Resamples `data` (any layout) onto the plan's grid; C-ordered f32 output.
pub fn resample(data: ArrayView4<f32>, plan: &SpacingPlan, mode: Interp) -> Array4<f32> {
    let (c, [ox, oy, oz]) = (data.shape()[0], plan.out_shape);
    let [nx, ny, nz] = [data.shape()[1], data.shape()[2], data.shape()[3]];
    let m = &plan.xform;
    let axis_aligned = (0..3).all(|i| (0..3).all(|j| i == j || m[i][j] == 0.0));
    let mut out = Array4::<f32>::zeros((c, ox, oy, oz));
    let src = &data;
    out.axis_chunks_iter_mut(Axis(0), 1)
        .into_par_iter()
        .enumerate()
        .for_each(|(ch, mut out_c)| {
            let mut out_c = out_c.index_axis_mut(Axis(0), 0);
            let inp = src.index_axis(Axis(0), ch);
            if axis_aligned {
                match mode {
                    Interp::Bilinear => {
                        let tx = linear_table(ox, m[0][0], m[0][3], nx);
                        let ty = linear_table(oy, m[1][1], m[1][3], ny);
                        let tz = linear_table(oz, m[2][2], m[2][3], nz);
                        out_c
                            .axis_iter_mut(Axis(0))
                            .into_par_iter()
                            .enumerate()
                            .for_each(|(i, mut plane)| {
                                let (x0, x1, wx0, wx1) = tx[i];
                                for (j, &(y0, y1, wy0, wy1)) in ty.iter().enumerate() {
                                    for (k, &(z0, z1, wz0, wz1)) in tz.iter().enumerate() {
                                        // torch's grid_sample order: corners X-major, weight
                                        // products (z·y)·x in its (W, H, D) naming.
                                        let v = inp[[x0, y0, z0]] as f64 * (wz0 * wy0 * wx0)
                                            + inp[[x0, y0, z1]] as f64 * (wz1 * wy0 * wx0)
                                            + inp[[x0, y1, z0]] as f64 * (wz0 * wy1 * wx0)
                                            + inp[[x0, y1, z1]] as f64 * (wz1 * wy1 * wx0)
                                            + inp[[x1, y0, z0]] as f64 * (wz0 * wy0 * wx1)
                                            + inp[[x1, y0, z1]] as f64 * (wz1 * wy0 * wx1)
                                            + inp[[x1, y1, z0]] as f64 * (wz0 * wy1 * wx1)
                                            + inp[[x1, y1, z1]] as f64 * (wz1 * wy1 * wx1);
                                        plane[[j, k]] = v as f32;
                                    }
                                }
                            });
                    }
                    Interp::Nearest => {
                        let ix: Vec<usize> = (0..ox)
                            .map(|i| nearest_index(m[0][0] * i as f64 + m[0][3], nx))
                            .collect();
                        let iy: Vec<usize> = (0..oy)
                            .map(|j| nearest_index(m[1][1] * j as f64 + m[1][3], ny))
                            .collect();
                        let iz: Vec<usize> = (0..oz)
                            .map(|k| nearest_index(m[2][2] * k as f64 + m[2][3], nz))
                            .collect();
                        out_c
                            .axis_iter_mut(Axis(0))
                            .into_par_iter()
                            .enumerate()
                            .for_each(|(i, mut plane)| {
                                for (j, &y) in iy.iter().enumerate() {
                                    for (k, &z) in iz.iter().enumerate() {
                                        plane[[j, k]] = inp[[ix[i], y, z]];
                                    }
                                }
                            });
                    }
                }
            } else {
                out_c
                    .axis_iter_mut(Axis(0))
                    .into_par_iter()
                    .enumerate()
                    .for_each(|(i, mut plane)| {
                        for j in 0..oy {
                            for k in 0..oz {
                                let (fi, fj, fk) = (i as f64, j as f64, k as f64);
                                let p = [
                                    m[0][0] * fi + m[0][1] * fj + m[0][2] * fk + m[0][3],
                                    m[1][0] * fi + m[1][1] * fj + m[1][2] * fk + m[1][3],
                                    m[2][0] * fi + m[2][1] * fj + m[2][2] * fk + m[2][3],
                                ];
                                plane[[j, k]] = match mode {
                                    Interp::Nearest => {
                                        inp[[
                                            nearest_index(p[0], nx),
                                            nearest_index(p[1], ny),
                                            nearest_index(p[2], nz),
                                        ]]
                                    }
                                    Interp::Bilinear => {
                                        let t = |x: f64, n: usize| linear_table(1, 0.0, x, n)[0];
                                        let (x0, x1, wx0, wx1) = t(p[0], nx);
                                        let (y0, y1, wy0, wy1) = t(p[1], ny);
                                        let (z0, z1, wz0, wz1) = t(p[2], nz);
                                        let v = inp[[x0, y0, z0]] as f64 * (wz0 * wy0 * wx0)
                                            + inp[[x0, y0, z1]] as f64 * (wz1 * wy0 * wx0)
                                            + inp[[x0, y1, z0]] as f64 * (wz0 * wy1 * wx0)
                                            + inp[[x0, y1, z1]] as f64 * (wz1 * wy1 * wx0)
                                            + inp[[x1, y0, z0]] as f64 * (wz0 * wy0 * wx1)
                                            + inp[[x1, y0, z1]] as f64 * (wz1 * wy0 * wx1)
                                            + inp[[x1, y1, z0]] as f64 * (wz0 * wy1 * wx1)
                                            + inp[[x1, y1, z1]] as f64 * (wz1 * wy1 * wx1);
                                        v as f32
                                    }
                                };
                            }
                        }
                    });
            }
        });
    out
}

/// Spacing on one image: plans the grid for `pixdim` (or takes `shape_hint` from a previous key,
/// MONAI's `ensure_same_shape`) and resamples.
pub fn spacing(
    img: &MetaImage,
    pixdim: [f64; 3],
    mode: Interp,
    shape_hint: Option<[usize; 3]>,
) -> MetaImage {
    let mut p = plan(img.spatial_shape(), &img.affine, pixdim);
    if let Some(s) = shape_hint {
        p.identity = p.identity && s == img.spatial_shape();
        p.out_shape = s;
    }
    if p.identity {
        return MetaImage {
            data: img.data.clone(),
            affine: img.affine,
        };
    }
    MetaImage {
        data: resample(img.data.view(), &p, mode),
        affine: p.out_affine,
    }
}

/// `Spacingd(keys, pixdim, mode)` with `ensure_same_shape`: a later key with the first key's input
/// shape gets the first key's output shape.
pub struct Spacingd {
    pub keys: Vec<(String, Interp)>,
    pub pixdim: [f64; 3],
}

impl super::compose::Transform for Spacingd {
    fn name(&self) -> &'static str {
        "Spacingd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        let mut first: Option<([usize; 3], [usize; 3])> = None;
        for (k, mode) in &self.keys {
            let img = sample.take(k)?;
            let in_shape = img.spatial_shape();
            let hint = first.filter(|(s, _)| *s == in_shape).map(|(_, o)| o);
            let out = spacing(&img, self.pixdim, *mode, hint);
            first.get_or_insert((in_shape, out.spatial_shape()));
            sample.images.insert(k.clone(), out);
        }
        Ok(vec![sample])
    }
}
