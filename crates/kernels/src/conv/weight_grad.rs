//! Weight gradients of 3-D convolutions as tiled im2col + GEMM.
//!
//! Burn's default weight gradient runs a convolution whose "kernel" is the whole output gradient
//! (96³ at UNETR's full resolution); on the CPU backend that builds an im2col matrix of the
//! full volume per channel and is the bulk of a training step. Here the same sum is a GEMM over
//! tiles of output positions: `dW += A_tile · col_tileᵀ`, with columns built for one tile at a
//! time (a few MB), tiles split into a fixed number of parts so the result does not depend on the
//! thread count (exact resume needs bit-identical gradients).

use ndarray::LinalgScalar;
use rayon::prelude::*;

use super::im2col::{Taps, tile_columns, tiles};
use super::tap_gemm;
use super::tile_gemm::{Operand, tile_gemm};

/// Tiles are summed in this many fixed parts (in parallel), then the parts in order.
const PARTS: usize = 16;

/// `out[i, c·K + t] = Σ_b Σ_o a[b, i, o] · src[b, c, tap(o, t)]`, shaped
/// `[a_channels, src_channels·K]` with `K` the kernel volume.
///
/// For a convolution, `a` is the output gradient over the output grid and `src` the input: the
/// result is the weight gradient `[C_out, C_in, k…]`. For a transposed convolution, `a` is the
/// input over the input grid and `src` the output gradient: the result is `[C_in, C_out, k…]`.
/// Stride-1 sums read the padded source in place ([`tap_gemm`]), others build columns.
pub(crate) fn correlate<T>(
    a: &[T],
    a_channels: usize,
    src: &[T],
    src_channels: usize,
    batch: usize,
    taps: &Taps,
) -> Vec<T>
where
    T: LinalgScalar + Send + Sync,
{
    if tap_gemm::reads_in_place(taps) {
        tap_gemm::correlate(a, a_channels, src, src_channels, batch, taps)
    } else {
        correlate_im2col(a, a_channels, src, src_channels, batch, taps)
    }
}

/// [`correlate`] by tiled im2col + GEMM, for any stride.
pub(crate) fn correlate_im2col<T>(
    a: &[T],
    a_channels: usize,
    src: &[T],
    src_channels: usize,
    batch: usize,
    taps: &Taps,
) -> Vec<T>
where
    T: LinalgScalar + Send + Sync,
{
    let k_volume: usize = taps.kernel.iter().product();
    let n_out = src_channels * k_volume;
    let [g0, g1, g2] = taps.grid;
    let rows = g0 * g1;
    let grid_len = rows * g2;
    let src_len: usize = taps.src_dims.iter().product();
    assert_eq!(
        a.len(),
        batch * a_channels * grid_len,
        "correlate: `a` has the wrong size"
    );
    assert_eq!(
        src.len(),
        batch * src_channels * src_len,
        "correlate: `src` has the wrong size"
    );
    let out_len = a_channels * n_out;
    if grid_len == 0 || out_len == 0 {
        return vec![T::zero(); out_len];
    }

    let tiles = tiles(batch, taps, n_out);
    let per_part = tiles.len().div_ceil(PARTS);

    let partials: Vec<Vec<T>> = tiles
        .par_chunks(per_part)
        .map(|part| {
            let mut acc = vec![T::zero(); out_len];
            let mut columns = Vec::new();
            for &(b, r0, r1) in part {
                let tile_len = (r1 - r0) * g2;
                let src_b = &src[b * src_channels * src_len..(b + 1) * src_channels * src_len];
                let columns = tile_columns(&mut columns, src_b, taps, r0, r1);
                let a_start = b * a_channels * grid_len + r0 * g2;
                let lhs = Operand {
                    values: &a[a_start..a_start + (a_channels - 1) * grid_len + tile_len],
                    row_stride: grid_len,
                    col_stride: 1,
                };
                // The columns transposed: `tile_len × n_out`.
                let rhs = Operand {
                    values: columns,
                    row_stride: 1,
                    col_stride: tile_len,
                };
                tile_gemm((a_channels, n_out, tile_len), &mut acc, true, lhs, rhs);
            }
            acc
        })
        .collect();

    let mut parts = partials.into_iter();
    let mut out = parts.next().unwrap_or_else(|| vec![T::zero(); out_len]);
    for part in parts {
        for (o, p) in out.iter_mut().zip(part) {
            *o = *o + p;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::im2col::test_support::{sample_taps, values};
    use super::*;

    /// The sum written out term by term, for small shapes.
    fn naive(a: &[f64], ca: usize, src: &[f64], cs: usize, batch: usize, taps: &Taps) -> Vec<f64> {
        let k: usize = taps.kernel.iter().product();
        let [g0, g1, g2] = taps.grid;
        let [s0, s1, s2] = taps.src_dims;
        let mut out = vec![0.0; ca * cs * k];
        for b in 0..batch {
            for i in 0..ca {
                for c in 0..cs {
                    for t in 0..k {
                        let tt = [
                            t / (taps.kernel[1] * taps.kernel[2]),
                            (t / taps.kernel[2]) % taps.kernel[1],
                            t % taps.kernel[2],
                        ];
                        let mut sum = 0.0;
                        for o0 in 0..g0 {
                            for o1 in 0..g1 {
                                for o2 in 0..g2 {
                                    let o = [o0, o1, o2];
                                    let mut idx = [0usize; 3];
                                    let mut inside = true;
                                    for ax in 0..3 {
                                        let v = (o[ax] * taps.stride[ax]
                                            + tt[ax] * taps.dilation[ax])
                                            as isize
                                            - taps.padding[ax] as isize;
                                        if v < 0 || v as usize >= taps.src_dims[ax] {
                                            inside = false;
                                        } else {
                                            idx[ax] = v as usize;
                                        }
                                    }
                                    if inside {
                                        let av =
                                            a[((b * ca + i) * g0 + o0) * g1 * g2 + o1 * g2 + o2];
                                        let sv = src[((b * cs + c) * s0 + idx[0]) * s1 * s2
                                            + idx[1] * s2
                                            + idx[2]];
                                        sum += av * sv;
                                    }
                                }
                            }
                        }
                        out[(i * cs + c) * k + t] += sum;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_tiled_sum_equals_the_sum_written_out() {
        for taps in sample_taps() {
            let (batch, ca, cs) = (2, 3, 2);
            let a = values(batch * ca * taps.grid.iter().product::<usize>(), 1);
            let src = values(batch * cs * taps.src_dims.iter().product::<usize>(), 2);
            let want = naive(&a, ca, &src, cs, batch, &taps);
            let got = correlate(&a, ca, &src, cs, batch, &taps);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-9, "{taps:?}: {g} vs {w}");
            }
        }
    }
}
