//! Stride-1 3-D convolutions as one small matrix product per kernel tap, reading the zero-padded
//! input in place instead of building im2col columns.
//!
//! In the padded grid `P = src + 2·padding`, the input under tap `(a, b, c)` at output position
//! `(d, h, w)` sits at linear index `v + shift`, with `v = (d·P1 + h)·P2 + w` and
//! `shift = (a·dil0·P1 + b·dil1)·P2 + c·dil2`. So for every tap, a tile of consecutive output rows
//! reads one contiguous stretch of each channel, and
//! - the convolution of a tile is `Σ_t W_t (C_out × C_in) · X[:, v0 + shift_t ..] (C_in × tile)`;
//! - the weight gradient is `dW_t += A_tile · X[:, v0 + shift_t ..]ᵀ` over the tiles,
//!
//! with no columns written. Each tile row is computed over the padded row's `P2` positions and the
//! last `P2 − grid[2]` dropped (2 of 98 at 96³ with a 3³ kernel). Why: building the columns took a
//! fifth of a CNN training step on the CPU (`perf`, docs/BENCHMARKS.md).

use ndarray::LinalgScalar;
use rayon::prelude::*;

use super::im2col::Taps;
use super::tile_gemm::{Operand, tile_gemm};

/// Output values aimed at per tile (elements): 64 KiB of f32, so the tile being accumulated tap
/// after tap stays in the core's L1/L2 cache.
const TILE_OUTPUT: usize = 1 << 14;

/// Tiles of a weight gradient are summed in this many fixed parts (in parallel), then the parts
/// in order, so the result does not depend on the thread count (exact resume).
const PARTS: usize = 16;

/// Tile lengths are rounded up to a multiple of this: the `gemm` crate reads an operand in place
/// only when its length is a whole number of SIMD vectors (16 f32 with AVX-512), and otherwise
/// copies ("packs") it first, which costs what the columns would.
const WHOLE_VECTORS: usize = 16;

/// Whether [`convolve`] and [`correlate`] compute the sums of `taps`: stride 1 (any padding and
/// dilation), a non-empty source and a grid the padded source covers.
pub(crate) fn reads_in_place(taps: &Taps) -> bool {
    taps.stride == [1; 3]
        && (0..3).all(|i| {
            let span = taps.dilation[i] * (taps.kernel[i].max(1) - 1);
            taps.src_dims[i] > 0
                && taps.grid[i] > 0
                && taps.grid[i] + span <= taps.src_dims[i] + 2 * taps.padding[i]
        })
}

/// The zero-padded layout of one batch item: each channel `P0·P1·P2` values and some slack, so
/// the last tile's dropped positions still read inside the channel.
struct Padded {
    dims: [usize; 3],
    channel_len: usize,
}

impl Padded {
    fn new(taps: &Taps) -> Self {
        let dims = [0, 1, 2].map(|i| taps.src_dims[i] + 2 * taps.padding[i]);
        Padded {
            dims,
            channel_len: dims[0] * dims[1] * dims[2] + dims[2] + WHOLE_VECTORS,
        }
    }

    /// The linear index of padded row `(d, h)`'s first value.
    fn row_start(&self, d: usize, h: usize) -> usize {
        (d * self.dims[1] + h) * self.dims[2]
    }

    /// The positions a tile of `rows` rows computes: whole padded rows, rounded up.
    fn tile_len(&self, rows: usize) -> usize {
        (rows * self.dims[2]).next_multiple_of(WHOLE_VECTORS)
    }

    /// Each tap's offset, in the kernel's `(a, b, c)` order.
    fn shifts(&self, taps: &Taps) -> Vec<usize> {
        let [k0, k1, k2] = taps.kernel;
        let [d0, d1, d2] = taps.dilation;
        let mut shifts = Vec::with_capacity(k0 * k1 * k2);
        for a in 0..k0 {
            for b in 0..k1 {
                for c in 0..k2 {
                    shifts.push(self.row_start(a * d0, b * d1) + c * d2);
                }
            }
        }
        shifts
    }

    /// `src_b` (`[channels, src_dims…]`) zero-padded into this layout.
    fn fill<T: LinalgScalar + Send + Sync>(&self, src_b: &[T], taps: &Taps) -> Vec<T> {
        let [_, s1, s2] = taps.src_dims;
        let [p0, p1, p2] = taps.padding;
        let src_len: usize = taps.src_dims.iter().product();
        let channels = src_b.len() / src_len;
        let mut padded = vec![T::zero(); channels * self.channel_len];
        padded
            .par_chunks_mut(self.channel_len)
            .zip(src_b.par_chunks(src_len))
            .for_each(|(dst, src)| {
                for (i, row) in src.chunks(s2).enumerate() {
                    let at = self.row_start(i / s1 + p0, i % s1 + p1) + p2;
                    dst[at..at + s2].copy_from_slice(row);
                }
            });
        padded
    }
}

/// Tiles of one batch item's grid: `(d, first row h, end row)`, rows never crossing a plane.
fn tiles(taps: &Taps, padded: &Padded, tile_channels: usize) -> Vec<(usize, usize, usize)> {
    let [g0, g1, _] = taps.grid;
    let per_tile = (TILE_OUTPUT / (tile_channels * padded.dims[2]).max(1)).clamp(1, g1);
    (0..g0)
        .flat_map(|d| {
            (0..g1)
                .step_by(per_tile)
                .map(move |h| (d, h, (h + per_tile).min(g1)))
        })
        .collect()
}

/// `out[b, co, o] = Σ_{c, t} weight[co, c·K + t] · src[b, c, tap(o, t)]` over `taps.grid` for
/// [`reads_in_place`] taps: the same sum as the im2col convolution.
pub(crate) fn convolve<T>(
    src: &[T],
    src_channels: usize,
    weight: &[T],
    out_channels: usize,
    batch: usize,
    taps: &Taps,
) -> Vec<T>
where
    T: LinalgScalar + Send + Sync,
{
    let k_volume: usize = taps.kernel.iter().product();
    let [_, g1, g2] = taps.grid;
    let grid_len: usize = taps.grid.iter().product();
    let src_len: usize = taps.src_dims.iter().product();
    let padded = Padded::new(taps);
    let row = padded.dims[2];
    let shifts = padded.shifts(taps);
    // Each tap's `[C_out, C_in]` matrix, contiguous.
    let mut per_tap = vec![T::zero(); weight.len()];
    for (j, &w) in weight.iter().enumerate() {
        let (co_c, t) = (j / k_volume, j % k_volume);
        per_tap[t * out_channels * src_channels + co_c] = w;
    }
    let tap_len = out_channels * src_channels;
    let mut out = vec![T::zero(); batch * out_channels * grid_len];
    if out.is_empty() {
        return out;
    }
    let tiles = tiles(taps, &padded, out_channels);
    for (b, item) in out.chunks_mut(out_channels * grid_len).enumerate() {
        let x = padded.fill(
            &src[b * src_channels * src_len..][..src_channels * src_len],
            taps,
        );
        // Each tile's rows of every output channel plane: disjoint slices, written in parallel.
        let mut work: Vec<_> = tiles
            .iter()
            .map(|&tile| (tile, Vec::with_capacity(out_channels)))
            .collect();
        for plane in item.chunks_mut(grid_len) {
            let mut rest = plane;
            for (k, &(_, h0, h1)) in tiles.iter().enumerate() {
                let (piece, tail) = rest.split_at_mut((h1 - h0) * g2);
                work[k].1.push(piece);
                rest = tail;
            }
        }
        debug_assert!(tiles.iter().all(|&(_, h0, h1)| h0 < h1 && h1 <= g1));
        work.into_par_iter().for_each_init(
            Vec::new,
            |tile_out, ((d, h0, h1), planes): (_, Vec<&mut [T]>)| {
                let tile_len = padded.tile_len(h1 - h0);
                tile_out.resize(out_channels * tile_len, T::zero());
                let v0 = padded.row_start(d, h0);
                for (t, &shift) in shifts.iter().enumerate() {
                    tile_gemm(
                        (out_channels, tile_len, src_channels),
                        tile_out,
                        t > 0,
                        Operand::rows(&per_tap[t * tap_len..(t + 1) * tap_len], src_channels),
                        Operand::rows(&x[v0 + shift..], padded.channel_len),
                    );
                }
                for (plane, values) in planes.into_iter().zip(tile_out.chunks(tile_len)) {
                    for (dst, src) in plane.chunks_mut(g2).zip(values.chunks(row)) {
                        dst.copy_from_slice(&src[..g2]);
                    }
                }
            },
        );
    }
    out
}

/// `out[i, c·K + t] = Σ_b Σ_o a[b, i, o] · src[b, c, tap(o, t)]` for [`reads_in_place`] taps:
/// the same sum as the im2col weight correlation, shaped `[a_channels, src_channels·K]`.
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
    let k_volume: usize = taps.kernel.iter().product();
    let [_, g1, g2] = taps.grid;
    let grid_len: usize = taps.grid.iter().product();
    let src_len: usize = taps.src_dims.iter().product();
    let padded = Padded::new(taps);
    let row = padded.dims[2];
    let shifts = padded.shifts(taps);
    let tap_len = a_channels * src_channels;
    // Accumulated per tap, `[K, src_channels, a_channels]`, reordered at the end.
    let mut per_tap = vec![T::zero(); k_volume * tap_len];
    let tiles = tiles(taps, &padded, a_channels);
    let per_part = tiles.len().div_ceil(PARTS).max(1);
    for b in 0..batch {
        let x = padded.fill(
            &src[b * src_channels * src_len..][..src_channels * src_len],
            taps,
        );
        let a_b = &a[b * a_channels * grid_len..][..a_channels * grid_len];
        let partials: Vec<Vec<T>> = tiles
            .par_chunks(per_part)
            .map(|part| {
                let mut acc = vec![T::zero(); k_volume * tap_len];
                let mut a_tile = Vec::new();
                for &(d, h0, h1) in part {
                    let tile_len = padded.tile_len(h1 - h0);
                    // `a` over the tile's padded positions, position-major (`tile_len ×
                    // a_channels`, zero where positions are dropped): with the input's positions
                    // contiguous too, `gemm` reads both in place, tap after tap.
                    a_tile.clear();
                    a_tile.resize(tile_len * a_channels, T::zero());
                    let first = (d * g1 + h0) * g2;
                    for i in 0..a_channels {
                        let src_rows = &a_b[i * grid_len + first..][..(h1 - h0) * g2];
                        for (r, src_row) in src_rows.chunks(g2).enumerate() {
                            for (w, &value) in src_row.iter().enumerate() {
                                a_tile[(r * row + w) * a_channels + i] = value;
                            }
                        }
                    }
                    let v0 = padded.row_start(d, h0);
                    for (t, &shift) in shifts.iter().enumerate() {
                        tile_gemm(
                            (src_channels, a_channels, tile_len),
                            &mut acc[t * tap_len..(t + 1) * tap_len],
                            true,
                            Operand::rows(&x[v0 + shift..], padded.channel_len),
                            Operand::rows(&a_tile, a_channels),
                        );
                    }
                }
                acc
            })
            .collect();
        for part in partials {
            for (o, p) in per_tap.iter_mut().zip(part) {
                *o = *o + p;
            }
        }
    }
    let mut out = vec![T::zero(); per_tap.len()];
    for (j, o) in out.iter_mut().enumerate() {
        let (i, c, t) = (
            j / (src_channels * k_volume),
            (j / k_volume) % src_channels,
            j % k_volume,
        );
        *o = per_tap[(t * src_channels + c) * a_channels + i];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::im2col::test_support::values;
    use super::*;

    /// Stride-1 shapes: "same" 3³, no padding, 1³, uneven kernel/padding/dilation, padding
    /// beyond the kernel, and a grid smaller than the padded source allows.
    fn stride_one_taps() -> Vec<Taps> {
        let t = |grid, src_dims, kernel, dilation, padding| Taps {
            grid,
            src_dims,
            kernel,
            stride: [1; 3],
            dilation,
            padding,
        };
        vec![
            t([5, 4, 6], [5, 4, 6], [3; 3], [1; 3], [1; 3]),
            t([3, 2, 4], [5, 4, 6], [3; 3], [1; 3], [0; 3]),
            t([4, 3, 5], [4, 3, 5], [1; 3], [1; 3], [0; 3]),
            t([5, 4, 3], [6, 4, 5], [2, 3, 1], [2, 1, 1], [1, 1, 0]),
            t([9, 3, 7], [5, 1, 4], [3, 1, 2], [1; 3], [3, 1, 2]),
            t([2, 3, 4], [5, 4, 6], [3; 3], [1; 3], [1; 3]),
        ]
    }

    #[test]
    fn every_test_shape_reads_in_place_and_strided_ones_do_not() {
        assert!(stride_one_taps().iter().all(reads_in_place));
        let mut strided = stride_one_taps()[0];
        strided.stride = [2, 1, 1];
        assert!(!reads_in_place(&strided));
    }

    /// The padded, tap-by-tap sums equal the im2col ones (for dilation/padding/kernel shapes the
    /// networks do not use too).
    #[test]
    fn equal_the_im2col_convolution_and_correlation() {
        for taps in stride_one_taps() {
            let (batch, c_in, c_out) = (2, 3, 4);
            let k: usize = taps.kernel.iter().product();
            let grid: usize = taps.grid.iter().product();
            let src = values(batch * c_in * taps.src_dims.iter().product::<usize>(), 1);
            let weight = values(c_out * c_in * k, 2);
            let a = values(batch * c_out * grid, 3);
            let pairs = [
                (
                    convolve(&src, c_in, &weight, c_out, batch, &taps),
                    super::super::forward::convolve_im2col(
                        &src, c_in, &weight, c_out, batch, &taps,
                    ),
                ),
                (
                    correlate(&a, c_out, &src, c_in, batch, &taps),
                    super::super::weight_grad::correlate_im2col(
                        &a, c_out, &src, c_in, batch, &taps,
                    ),
                ),
            ];
            for (ours, im2col) in pairs {
                assert_eq!(ours.len(), im2col.len(), "{taps:?}");
                for (x, y) in ours.iter().zip(&im2col) {
                    assert!(
                        (x - y).abs() < 1e-9 * y.abs().max(1.0),
                        "{taps:?}: {x} vs {y}"
                    );
                }
            }
        }
    }
}
