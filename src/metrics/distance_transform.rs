//! Exact Euclidean distance transform with anisotropic voxel spacing (scipy's
//! `distance_transform_edt(..., sampling=spacing)`), by Felzenszwalb & Huttenlocher's separable
//! lower-envelope algorithm: O(N) per axis.

use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

/// Squared distance transform of one line in place: `f[p] ← min_q ((p − q)·s)² + f[q]`.
fn line_transform(f: &mut [f64], s: f64, v: &mut Vec<usize>, z: &mut Vec<f64>) {
    let n = f.len();
    let pos = |i: usize| i as f64 * s;
    v.clear();
    z.clear();
    for q in 0..n {
        if !f[q].is_finite() {
            continue;
        }
        loop {
            let Some(&last) = v.last() else {
                v.push(q);
                z.push(f64::NEG_INFINITY);
                break;
            };
            let (a1, a2) = (pos(last), pos(q));
            let x = ((f[q] + a2 * a2) - (f[last] + a1 * a1)) / (2.0 * (a2 - a1));
            if x <= *z.last().unwrap() {
                v.pop();
                z.pop();
            } else {
                v.push(q);
                z.push(x);
                break;
            }
        }
    }
    if v.is_empty() {
        return; // no feature on this line: everything stays infinite
    }
    let src: Vec<f64> = v.iter().map(|&q| f[q]).collect();
    let mut k = 0;
    for (p, out) in f.iter_mut().enumerate() {
        let x = pos(p);
        while k + 1 < v.len() && z[k + 1] < x {
            k += 1;
        }
        let d = x - pos(v[k]);
        *out = d * d + src[k];
    }
}

/// Distance (mm when `spacing` is in mm) from every voxel to the nearest voxel where `features`
/// is true; infinite everywhere when there is none.
pub(crate) fn distance_to(features: ArrayView3<bool>, spacing: [f64; 3]) -> Array3<f64> {
    let mut d = features.mapv(|f| if f { 0.0 } else { f64::INFINITY });
    for (axis, &s) in spacing.iter().enumerate() {
        let lanes: Vec<_> = d.lanes_mut(Axis(axis)).into_iter().collect();
        lanes.into_par_iter().for_each_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(buf, v, z), mut lane| {
                buf.clear();
                buf.extend(lane.iter().copied());
                line_transform(buf, s, v, z);
                lane.iter_mut().zip(buf.iter()).for_each(|(o, b)| *o = *b);
            },
        );
    }
    d.mapv_inplace(f64::sqrt);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force_with_spacing() {
        let shape = (7, 5, 6);
        let feat =
            ndarray::Array3::from_shape_fn(shape, |(i, j, k)| (i * 3 + j * 5 + k * 7) % 11 == 0);
        let sp = [0.8, 1.3, 2.5];
        let d = distance_to(feat.view(), sp);
        for ((i, j, k), &got) in d.indexed_iter() {
            let mut best = f64::INFINITY;
            for ((a, b, c), &f) in feat.indexed_iter() {
                if f {
                    let dx = (i as f64 - a as f64) * sp[0];
                    let dy = (j as f64 - b as f64) * sp[1];
                    let dz = (k as f64 - c as f64) * sp[2];
                    best = best.min((dx * dx + dy * dy + dz * dz).sqrt());
                }
            }
            assert!((got - best).abs() < 1e-9, "({i},{j},{k}): {got} vs {best}");
        }
    }
}
