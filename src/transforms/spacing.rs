//! `Spacing(pixdim, mode, padding_mode="border", align_corners=False, diagonal=False)`: resample
//! to a new voxel size keeping the rotation (docs/MONAI_COMPAT.md, "Spacing"). Output shape by
//! round-half-even, output voxel 0 on input voxel 0, trilinear or nearest sampling with border
//! clamping in f64.

use ndarray::{Array4, ArrayView3, ArrayView4, Axis, ShapeBuilder};
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
    /// Nearest neighbour: MONAI's coordinate rounded half to even (`monai_nearest_axis`).
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
    /// For a grid that only scales each axis (both affines diagonal, same origin): the per-axis
    /// scale as MONAI computes it (`np.linalg.solve`: output spacing × the reciprocal of the
    /// input's), from which nearest-neighbour sampling follows MONAI's own float64 steps
    /// ([`monai_nearest_axis`]). `None` for rotated or shifted grids.
    pub axis_scales: Option<[f64; 3]>,
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
    let diagonal = |m: &Affine| (0..3).all(|i| (0..3).all(|j| i == j || m[i][j] == 0.0));
    let same_origin = (0..3).all(|r| n[r][3] == affine[r][3]);
    let axis_scales = (diagonal(affine) && diagonal(&n) && same_origin)
        .then(|| std::array::from_fn(|d| n[d][d] * (1.0 / affine[d][d])));
    SpacingPlan {
        out_shape,
        out_affine: n,
        xform,
        identity: near_identity && out_shape == shape,
        axis_scales,
    }
}

/// The input index MONAI's `Spacing(mode="nearest")` samples for each of `n_out` output voxels
/// along an axis of `n_in` input voxels scaled by `scale` (docs/MONAI_COMPAT.md, "Spacing"). It
/// follows MONAI's float64 steps in their order, because at exact half-voxel ties (2:1 spacing
/// ratios) their last-bit rounding, not a rounding rule, decides which neighbour is taken:
/// `to_norm_affine` (normalise the input and output index ranges to [-1, 1], `np.linalg.inv` of
/// the output's, which LAPACK applies as a multiplication by the reciprocal, products summed in
/// order), torch's `affine_grid` base grid (`linspace(-1, 1, n)`, whose CPU kernel fuses its
/// multiply-add on AVX2 and AVX-512 machines, times `(n - 1) / n`), the grid coordinate, then
/// `grid_sample`'s unnormalisation, border clamp and `nearbyint`.
pub fn monai_nearest_axis(n_in: usize, n_out: usize, scale: f64) -> Vec<usize> {
    let (fi, fo) = (n_in as f64, n_out as f64);
    let (src_scale, src_shift) = (2.0 / fi, 1.0 / fi - 1.0);
    let (dst_scale, dst_shift) = (2.0 / fo, 1.0 / fo - 1.0);
    let inv_scale = 1.0 / dst_scale;
    let inv_shift = -dst_shift * inv_scale;
    let p = src_scale * scale;
    let (theta_scale, theta_shift) = (p * inv_scale, p * inv_shift + src_shift);
    let step = 2.0 / (fo - 1.0);
    (0..n_out)
        .map(|i| {
            let base = if n_out <= 1 {
                0.0
            } else {
                let lin = if i < n_out / 2 {
                    step.mul_add(i as f64, -1.0)
                } else {
                    (-step).mul_add((n_out - i - 1) as f64, 1.0)
                };
                lin * (fo - 1.0) / fo
            };
            let grid = base * theta_scale + theta_shift;
            let x = ((grid + 1.0) * fi - 1.0) / 2.0;
            x.clamp(0.0, fi - 1.0).round_ties_even() as usize
        })
        .collect()
}

/// Linear sampling along one axis after border clamping: (low index, high index, low weight, high
/// weight). The high neighbour is out of bounds only when its weight is 0.
fn linear_weights(x: f64, n_in: usize) -> (usize, usize, f64, f64) {
    let x = x.clamp(0.0, (n_in - 1) as f64);
    let x0 = x.floor();
    let f = x - x0;
    let i0 = x0 as usize;
    (i0, (i0 + 1).min(n_in - 1), 1.0 - f, f)
}

fn nearest_index(x: f64, n_in: usize) -> usize {
    x.clamp(0.0, (n_in - 1) as f64).round_ties_even() as usize
}

/// Reads voxels of a contiguous 3-D view (any axis order or direction) by precomputed offsets.
struct Source<'a> {
    mem: &'a [f32],
    /// Position of voxel [0, 0, 0] in `mem`.
    base: isize,
    strides: [isize; 3],
}

impl<'a> Source<'a> {
    fn new(view: &'a ArrayView3<'a, f32>) -> Option<Self> {
        let mem = view.as_slice_memory_order()?;
        let strides = [view.strides()[0], view.strides()[1], view.strides()[2]];
        // The lowest address holds the last index along every reversed axis.
        let base = (0..3)
            .filter(|&d| strides[d] < 0)
            .map(|d| (view.shape()[d] as isize - 1) * -strides[d])
            .sum();
        Some(Source { mem, base, strides })
    }

    #[inline(always)]
    fn at(&self, off: isize) -> f64 {
        self.mem[(self.base + off) as usize] as f64
    }
}

/// Trilinear blend of the 8 neighbours in torch `grid_sample` order (corners X-major; weight
/// products (z·y)·x as torch forms them in its (W, H, D) naming). Offsets are stride-scaled.
#[inline(always)]
fn trilinear(
    s: &Source,
    (x0, x1, wx0, wx1): (isize, isize, f64, f64),
    (y0, y1, wy0, wy1): (isize, isize, f64, f64),
    (z0, z1, wz0, wz1): (isize, isize, f64, f64),
) -> f32 {
    (s.at(x0 + y0 + z0) * (wz0 * wy0 * wx0)
        + s.at(x0 + y0 + z1) * (wz1 * wy0 * wx0)
        + s.at(x0 + y1 + z0) * (wz0 * wy1 * wx0)
        + s.at(x0 + y1 + z1) * (wz1 * wy1 * wx0)
        + s.at(x1 + y0 + z0) * (wz0 * wy0 * wx1)
        + s.at(x1 + y0 + z1) * (wz1 * wy0 * wx1)
        + s.at(x1 + y1 + z0) * (wz0 * wy1 * wx1)
        + s.at(x1 + y1 + z1) * (wz1 * wy1 * wx1)) as f32
}

/// One axis's samples in stride-scaled offsets.
fn linear_axis(x: f64, n: usize, stride: isize) -> (isize, isize, f64, f64) {
    let (i0, i1, w0, w1) = linear_weights(x, n);
    (i0 as isize * stride, i1 as isize * stride, w0, w1)
}

/// Resamples `data` (any contiguous layout) onto the plan's grid. The output keeps the input's
/// memory order (x fastest for NIfTI data), so both reads and writes stream through memory.
pub fn resample(data: ArrayView4<f32>, plan: &SpacingPlan, mode: Interp) -> Array4<f32> {
    let c = data.shape()[0];
    let [ox, oy, oz] = plan.out_shape;
    let n = [data.shape()[1], data.shape()[2], data.shape()[3]];
    let fortran = data.strides()[1].abs() < data.strides()[3].abs();
    let mut out = if fortran {
        Array4::<f32>::zeros((c, ox, oy, oz).f())
    } else {
        Array4::<f32>::zeros((c, ox, oy, oz))
    };
    let m = plan.xform;
    let axis_aligned = (0..3).all(|i| (0..3).all(|j| i == j || m[i][j] == 0.0));
    for ch in 0..c {
        let owned;
        let mut inp = data.index_axis(Axis(0), ch);
        if inp.as_slice_memory_order().is_none() {
            owned = inp.as_standard_layout().into_owned();
            inp = owned.view();
        }
        let src = Source::new(&inp).expect("contiguous input");
        let st = src.strides;
        // Stride-scaled per-axis tables for the separable (axis-aligned) case.
        let table = |d: usize, len: usize| -> Vec<(isize, isize, f64, f64)> {
            (0..len)
                .map(|i| linear_axis(m[d][d] * i as f64 + m[d][3], n[d], st[d]))
                .collect()
        };
        let (tx, ty, tz) = if axis_aligned {
            (table(0, ox), table(1, oy), table(2, oz))
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        // Nearest-neighbour source offsets per axis: MONAI's own arithmetic for scaling-only
        // grids, the exact coordinate rounded half to even otherwise.
        let nearest = |d: usize, len: usize| -> Vec<isize> {
            match plan.axis_scales {
                Some(scale) => monai_nearest_axis(n[d], len, scale[d])
                    .into_iter()
                    .map(|i| i as isize * st[d])
                    .collect(),
                None => (0..len)
                    .map(|i| nearest_index(m[d][d] * i as f64 + m[d][3], n[d]) as isize * st[d])
                    .collect(),
            }
        };
        let (nx_, ny_, nz_) = match mode {
            Interp::Nearest if axis_aligned => (nearest(0, ox), nearest(1, oy), nearest(2, oz)),
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        let eval = |i: usize, j: usize, k: usize| -> f32 {
            let p = if axis_aligned {
                [
                    m[0][0] * i as f64 + m[0][3],
                    m[1][1] * j as f64 + m[1][3],
                    m[2][2] * k as f64 + m[2][3],
                ]
            } else {
                let (fi, fj, fk) = (i as f64, j as f64, k as f64);
                [
                    m[0][0] * fi + m[0][1] * fj + m[0][2] * fk + m[0][3],
                    m[1][0] * fi + m[1][1] * fj + m[1][2] * fk + m[1][3],
                    m[2][0] * fi + m[2][1] * fj + m[2][2] * fk + m[2][3],
                ]
            };
            match mode {
                Interp::Nearest if axis_aligned => src.at(nx_[i] + ny_[j] + nz_[k]) as f32,
                Interp::Nearest => src.at(nearest_index(p[0], n[0]) as isize * st[0]
                    + nearest_index(p[1], n[1]) as isize * st[1]
                    + nearest_index(p[2], n[2]) as isize * st[2])
                    as f32,
                Interp::Bilinear if axis_aligned => trilinear(&src, tx[i], ty[j], tz[k]),
                Interp::Bilinear => trilinear(
                    &src,
                    linear_axis(p[0], n[0], st[0]),
                    linear_axis(p[1], n[1], st[1]),
                    linear_axis(p[2], n[2], st[2]),
                ),
            }
        };
        let mut out_c = out.index_axis_mut(Axis(0), ch);
        if fortran && axis_aligned {
            // The hot path (NIfTI input, axis-aligned grid): per output row along x, the four
            // (y, z) neighbours and their weight products (z·y, torch's order) are fixed.
            out_c
                .axis_iter_mut(Axis(2))
                .into_par_iter()
                .enumerate()
                .for_each(|(k, mut plane)| {
                    for j in 0..oy {
                        match mode {
                            Interp::Nearest => {
                                let yz = ny_[j] + nz_[k];
                                for i in 0..ox {
                                    plane[[i, j]] = src.at(nx_[i] + yz) as f32;
                                }
                            }
                            Interp::Bilinear => {
                                let (y0, y1, wy0, wy1) = ty[j];
                                let (z0, z1, wz0, wz1) = tz[k];
                                let corners = [
                                    (y0 + z0, wz0 * wy0),
                                    (y0 + z1, wz1 * wy0),
                                    (y1 + z0, wz0 * wy1),
                                    (y1 + z1, wz1 * wy1),
                                ];
                                for i in 0..ox {
                                    let (x0, x1, wx0, wx1) = tx[i];
                                    let mut v = 0.0;
                                    for (o, w) in corners {
                                        v += src.at(x0 + o) * (w * wx0);
                                    }
                                    for (o, w) in corners {
                                        v += src.at(x1 + o) * (w * wx1);
                                    }
                                    plane[[i, j]] = v as f32;
                                }
                            }
                        }
                    }
                });
        } else if fortran {
            out_c
                .axis_iter_mut(Axis(2))
                .into_par_iter()
                .enumerate()
                .for_each(|(k, mut plane)| {
                    for j in 0..oy {
                        for i in 0..ox {
                            plane[[i, j]] = eval(i, j, k);
                        }
                    }
                });
        } else {
            out_c
                .axis_iter_mut(Axis(0))
                .into_par_iter()
                .enumerate()
                .for_each(|(i, mut plane)| {
                    for j in 0..oy {
                        for k in 0..oz {
                            plane[[j, k]] = eval(i, j, k);
                        }
                    }
                });
        }
    }
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
pub(crate) struct Spacingd {
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
