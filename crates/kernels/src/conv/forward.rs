//! 3-D convolution forward as tiled im2col + GEMM, parallel over tiles of output positions.
//!
//! Flex's own convolution converts the input to channels-last and runs its im2col per tile; at
//! UNETR's full resolution (16→16 channels, 3³, 96³) it reaches about a quarter of what the same
//! GEMM gives on the channels-first columns of [`tile_columns`] (`ssl-bench --model conv`).

use ndarray::LinalgScalar;
use rayon::prelude::*;

use super::im2col::{Taps, tile_columns, tiles};
use super::tap_gemm;
use super::tile_gemm::{Operand, tile_gemm};

/// A tile: `(batch item, first grid row, end row)`.
type Tile = (usize, usize, usize);

/// `out[b, co, o] = Σ_{c, t} weight[co, c·K + t] · src[b, c, tap(o, t)]` over `taps.grid`,
/// shaped `[batch, out_channels, grid…]` (the weight is `[C_out, C_in, k…]`, no groups, no bias):
/// stride-1 convolutions read the padded input in place ([`tap_gemm`]), others build columns.
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
    if tap_gemm::reads_in_place(taps) {
        tap_gemm::convolve(src, src_channels, weight, out_channels, batch, taps)
    } else {
        convolve_im2col(src, src_channels, weight, out_channels, batch, taps)
    }
}

/// [`convolve`] by tiled im2col + GEMM, for any stride.
pub(crate) fn convolve_im2col<T>(
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
    let n_in = src_channels * k_volume;
    let [g0, g1, g2] = taps.grid;
    let rows = g0 * g1;
    let grid_len = rows * g2;
    let src_len: usize = taps.src_dims.iter().product();
    assert_eq!(
        src.len(),
        batch * src_channels * src_len,
        "convolve: `src` has the wrong size"
    );
    assert_eq!(
        weight.len(),
        out_channels * n_in,
        "convolve: `weight` has the wrong size"
    );
    let mut out = vec![T::zero(); batch * out_channels * grid_len];
    if out.is_empty() {
        return out;
    }

    // Each tile's share of every output channel plane: disjoint slices, written in parallel.
    let mut work: Vec<(Tile, Vec<&mut [T]>)> = Vec::new();
    for (b, item) in out.chunks_mut(out_channels * grid_len).enumerate() {
        let first = work.len();
        let item_tiles = tiles(1, taps, n_in);
        work.extend(
            item_tiles
                .iter()
                .map(|&(_, r0, r1)| ((b, r0, r1), Vec::with_capacity(out_channels))),
        );
        for plane in item.chunks_mut(grid_len) {
            let mut rest = plane;
            for (k, &(_, r0, r1)) in item_tiles.iter().enumerate() {
                let (piece, tail) = rest.split_at_mut((r1 - r0) * g2);
                work[first + k].1.push(piece);
                rest = tail;
            }
        }
    }
    // The GEMM writes one tile's [C_out, tile] block into a per-thread buffer that stays in cache.
    work.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(columns, tile_out), ((b, r0, r1), planes)| {
            let tile_len = (r1 - r0) * g2;
            if tile_out.len() < out_channels * tile_len {
                tile_out.resize(out_channels * tile_len, T::zero());
            }
            let src_b = &src[b * src_channels * src_len..(b + 1) * src_channels * src_len];
            let columns = tile_columns(columns, src_b, taps, r0, r1);
            let tile_out = &mut tile_out[..out_channels * tile_len];
            tile_gemm(
                (out_channels, tile_len, n_in),
                tile_out,
                false,
                Operand::rows(weight, n_in),
                Operand::rows(columns, tile_len),
            );
            for (plane, values) in planes.into_iter().zip(tile_out.chunks(tile_len)) {
                plane.copy_from_slice(values);
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::im2col::test_support::{sample_taps, values};
    use super::super::weight_grad::correlate;
    use super::*;

    /// The convolution and the (separately tested) weight correlation are adjoint:
    /// `⟨a, conv(src, W)⟩ = ⟨W, correlate(a, src)⟩` for every `a` and `W`.
    #[test]
    fn the_convolution_is_the_adjoint_of_the_weight_correlation() {
        for taps in sample_taps() {
            let (batch, c_in, c_out) = (2, 3, 4);
            let k: usize = taps.kernel.iter().product();
            let grid: usize = taps.grid.iter().product();
            let src = values(batch * c_in * taps.src_dims.iter().product::<usize>(), 1);
            let weight = values(c_out * c_in * k, 2);
            let a = values(batch * c_out * grid, 3);
            let out = convolve(&src, c_in, &weight, c_out, batch, &taps);
            let lhs: f64 = a.iter().zip(&out).map(|(p, q)| p * q).sum();
            let rhs: f64 = weight
                .iter()
                .zip(correlate(&a, c_out, &src, c_in, batch, &taps))
                .map(|(p, q)| p * q)
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "{taps:?}: {lhs} vs {rhs}"
            );
        }
    }
}
