//! The attention's row softmax and its backward, one row of probabilities at a time.
//!
//! Written per lane (eight running maxima and f64 sums) so that the compiler vectorises them,
//! and for f32 compiled for AVX2 too and picked at run time; f32 rows exponentiate with the
//! branch-free [`vector_math::exp`] (within 2 ulp; PyTorch's vectorised softmax also uses a
//! polynomial exp),
//! f64 rows with libm's. Sums are taken in f64 either way.

use ndarray::LinalgScalar;

use super::dispatch::Real;
use super::vector_math;

const LANES: usize = 8;

/// An element type of the CPU attention kernels.
pub(crate) trait RowSoftmax: Real + LinalgScalar {
    /// `row ← softmax(row)`.
    fn softmax(row: &mut [Self]);
    /// `∂s ← p ⊙ (∂p − Σ_j ∂p_j·p_j)` over `dp`, given the row's probabilities `p`.
    fn softmax_backward(dp: &mut [Self], p: &[Self]);
}

impl RowSoftmax for f64 {
    fn softmax(row: &mut [f64]) {
        softmax_with(row, f64::exp)
    }
    fn softmax_backward(dp: &mut [f64], p: &[f64]) {
        softmax_backward_lanes(dp, p)
    }
}

impl RowSoftmax for f32 {
    fn softmax(row: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { softmax_f32_avx2(row) };
        }
        softmax_with(row, vector_math::exp)
    }
    fn softmax_backward(dp: &mut [f32], p: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { softmax_backward_f32_avx2(dp, p) };
        }
        softmax_backward_lanes(dp, p)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn softmax_f32_avx2(row: &mut [f32]) {
    softmax_with(row, vector_math::exp)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn softmax_backward_f32_avx2(dp: &mut [f32], p: &[f32]) {
    softmax_backward_lanes(dp, p)
}

/// `exp(x − max) / Σ exp(x − max)`, in three passes that each vectorise: the maximum and the
/// sum over eight lanes, the exponentials as a plain map.
#[inline(always)]
fn softmax_with<T: Real + LinalgScalar>(row: &mut [T], exp: impl Fn(T) -> T) {
    let mut maxima = [f64::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, v) in maxima.iter_mut().zip(chunk) {
            *m = m.max(v.widen());
        }
    }
    let tail_max = chunks.remainder().iter().map(|v| v.widen());
    let max = T::from_f64(
        maxima
            .into_iter()
            .chain(tail_max)
            .fold(f64::NEG_INFINITY, f64::max),
    );
    row.iter_mut().for_each(|v| *v = exp(*v - max));
    let inv = T::from_f64(1.0 / lane_dot(row, None));
    row.iter_mut().for_each(|v| *v = *v * inv);
}

/// `Σ a_i·b_i` in f64 over eight running sums (an order that vectorises); `b = None` sums `a`.
#[inline(always)]
fn lane_dot<T: Real>(a: &[T], b: Option<&[T]>) -> f64 {
    let mut sums = [0.0f64; LANES];
    let mut a_chunks = a.chunks_exact(LANES);
    let tail: f64 = match b {
        None => {
            for chunk in &mut a_chunks {
                for (s, v) in sums.iter_mut().zip(chunk) {
                    *s += v.widen();
                }
            }
            a_chunks.remainder().iter().map(|v| v.widen()).sum()
        }
        Some(b) => {
            let mut b_chunks = b.chunks_exact(LANES);
            for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
                for ((s, x), y) in sums.iter_mut().zip(x).zip(y) {
                    *s += x.widen() * y.widen();
                }
            }
            a_chunks
                .remainder()
                .iter()
                .zip(b_chunks.remainder())
                .map(|(x, y)| x.widen() * y.widen())
                .sum()
        }
    };
    sums.iter().sum::<f64>() + tail
}

#[inline(always)]
fn softmax_backward_lanes<T: Real + LinalgScalar>(dp: &mut [T], p: &[T]) {
    assert_eq!(
        dp.len(),
        p.len(),
        "softmax backward: rows of different lengths"
    );
    let dot = T::from_f64(lane_dot(dp, Some(p)));
    dp.iter_mut().zip(p).for_each(|(a, &b)| *a = b * (*a - dot));
}
#[cfg(test)]
mod tests {
    use super::*;

    fn row(len: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 37 % 23) as f64 - 11.0) * 0.7)
            .collect()
    }

    /// Both element types and every tail length agree with the textbook softmax in f64.
    /// The AVX2 build (when this CPU has it) rounds exactly as the portable loops.
    #[test]
    fn dispatched_f32_rows_equal_the_portable_loops_bit_for_bit() {
        let x: Vec<f32> = row(219).iter().map(|&v| v as f32).collect();
        let (mut a, mut b) = (x.clone(), x.clone());
        f32::softmax(&mut a);
        softmax_with(&mut b, vector_math::exp);
        assert_eq!(a, b, "softmax");
        let (mut da, mut db) = (x.clone(), x);
        f32::softmax_backward(&mut da, &a);
        softmax_backward_lanes(&mut db, &b);
        assert_eq!(da, db, "backward");
    }

    #[test]
    fn softmax_and_its_backward_match_the_definition() {
        for len in [1, 7, 8, 9, 216] {
            let x = row(len);
            let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = x.iter().map(|v| (v - max).exp()).sum();
            let exact: Vec<f64> = x.iter().map(|v| (v - max).exp() / total).collect();
            let mut ours64 = x.clone();
            f64::softmax(&mut ours64);
            let mut ours32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            f32::softmax(&mut ours32);
            for i in 0..len {
                assert!((ours64[i] - exact[i]).abs() <= 1e-15, "f64 {len} {i}");
                assert!(
                    (ours32[i] as f64 - exact[i]).abs() <= 1e-6 * exact[i] + 1e-12,
                    "f32 {len} {i}"
                );
            }

            let g: Vec<f64> = (0..len).map(|i| (i as f64 * 0.31).sin()).collect();
            let dot: f64 = g.iter().zip(&exact).map(|(a, b)| a * b).sum();
            let expected: Vec<f64> = g.iter().zip(&exact).map(|(a, p)| p * (a - dot)).collect();
            let mut ds = g.clone();
            f64::softmax_backward(&mut ds, &exact);
            let mut ds32: Vec<f32> = g.iter().map(|&v| v as f32).collect();
            let p32: Vec<f32> = exact.iter().map(|&v| v as f32).collect();
            f32::softmax_backward(&mut ds32, &p32);
            for i in 0..len {
                assert!(
                    (ds[i] - expected[i]).abs() <= 1e-15,
                    "f64 backward {len} {i}"
                );
                assert!(
                    (ds32[i] as f64 - expected[i]).abs() <= 1e-6,
                    "f32 backward {len} {i}"
                );
            }
        }
    }
}
