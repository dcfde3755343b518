//! im2col for 3-D convolutions, one tile of output positions at a time: the columns that both
//! the forward convolution and the weight gradient multiply with (see `forward.rs`,
//! `weight_grad.rs`).

use ndarray::LinalgScalar;

/// Where each kernel tap reads: tap `t` at position `o` of `grid` reads `src` at
/// `o·stride + t·dilation − padding` on each axis, and zero outside `src_dims`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Taps {
    pub grid: [usize; 3],
    pub src_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    pub padding: [usize; 3],
}

/// Column-buffer size aimed at per tile (elements): 1 MiB of f32, so a tile's columns stay in
/// the core's L2 cache while the GEMM reads them. With UNETR's 16 output channels each column
/// value is used for only 16 multiply-adds; in a micro-benchmark on the 2-core VM a 16×432 by
/// 432×600 product ran at ~140 GF/s against ~60 GF/s with 4 MiB tiles.
const TILE_ELEMENTS: usize = 1 << 18;

/// Grid rows (positions along the last axis, `grid[2]` each) per tile when a column holds
/// `column_len` values per position.
fn rows_per_tile(taps: &Taps, column_len: usize) -> usize {
    let [g0, g1, g2] = taps.grid;
    (TILE_ELEMENTS / (column_len * g2).max(1)).clamp(1, (g0 * g1).max(1))
}

/// The tiles `(batch item, first grid row, end row)` covering every item's grid.
pub fn tiles(batch: usize, taps: &Taps, column_len: usize) -> Vec<(usize, usize, usize)> {
    let rows = taps.grid[0] * taps.grid[1];
    let per_tile = rows_per_tile(taps, column_len);
    (0..batch)
        .flat_map(|b| {
            (0..rows)
                .step_by(per_tile)
                .map(move |r0| (b, r0, (r0 + per_tile).min(rows)))
        })
        .collect()
}

/// [`fill_columns`] into a buffer reused from tile to tile: grown when too short, never cleared
/// (every value of the tile's columns is written); returns the tile's part of it.
pub(crate) fn tile_columns<'a, T: LinalgScalar>(
    buffer: &'a mut Vec<T>,
    src_b: &[T],
    taps: &Taps,
    r0: usize,
    r1: usize,
) -> &'a [T] {
    let src_channels = src_b.len() / taps.src_dims.iter().product::<usize>().max(1);
    let k_volume: usize = taps.kernel.iter().product();
    let len = src_channels * k_volume * (r1 - r0) * taps.grid[2];
    if buffer.len() < len {
        buffer.resize(len, T::zero());
    }
    fill_columns(&mut buffer[..len], src_b, taps, r0, r1);
    &buffer[..len]
}

/// The im2col columns of one tile (grid rows `r0..r1`), laid out `[src_channels·K][tile]`.
pub(crate) fn fill_columns<T: LinalgScalar>(
    columns: &mut [T],
    src_b: &[T],
    taps: &Taps,
    r0: usize,
    r1: usize,
) {
    let [_, g1, g2] = taps.grid;
    let [s0, s1, s2] = taps.src_dims;
    let [_, k1, k2] = taps.kernel;
    let k_volume: usize = taps.kernel.iter().product();
    let tile_len = (r1 - r0) * g2;
    let plane_len = s0 * s1 * s2;
    for (j, row) in columns.chunks_mut(tile_len).enumerate() {
        let channel = j / k_volume;
        let t = j % k_volume;
        let (t0, t1, t2) = (t / (k1 * k2), (t / k2) % k1, t % k2);
        let plane = &src_b[channel * plane_len..(channel + 1) * plane_len];
        let off2 = t2 * taps.dilation[2];
        let (lo2, hi2) = valid_range(off2, taps.padding[2], taps.stride[2], s2, g2);
        for (i, r) in (r0..r1).enumerate() {
            let out = &mut row[i * g2..(i + 1) * g2];
            let c0 = source_index(r / g1, t0, taps, 0, s0);
            let c1 = source_index(r % g1, t1, taps, 1, s1);
            let (Some(c0), Some(c1)) = (c0, c1) else {
                out.fill(T::zero());
                continue;
            };
            let base = (c0 * s1 + c1) * s2;
            out[..lo2].fill(T::zero());
            out[hi2..].fill(T::zero());
            if lo2 < hi2 {
                // First source index read: lo2·stride + off2 − padding (≥ 0 by construction).
                let first = base + lo2 * taps.stride[2] + off2 - taps.padding[2];
                if taps.stride[2] == 1 {
                    out[lo2..hi2].copy_from_slice(&plane[first..first + (hi2 - lo2)]);
                } else {
                    for (k, o) in out[lo2..hi2].iter_mut().enumerate() {
                        *o = plane[first + k * taps.stride[2]];
                    }
                }
            }
        }
    }
}

/// The source index of tap `t` at position `o` on `axis`, or `None` when it falls in the padding.
fn source_index(o: usize, t: usize, taps: &Taps, axis: usize, size: usize) -> Option<usize> {
    (o * taps.stride[axis] + t * taps.dilation[axis])
        .checked_sub(taps.padding[axis])
        .filter(|&c| c < size)
}

/// Positions `lo..hi` (of `grid` many) whose source `o·stride + offset − padding` lies in
/// `0..size`.
fn valid_range(
    offset: usize,
    padding: usize,
    stride: usize,
    size: usize,
    grid: usize,
) -> (usize, usize) {
    let lo = padding.saturating_sub(offset).div_ceil(stride);
    let hi = if size + padding > offset {
        ((size - 1 + padding - offset) / stride + 1).min(grid)
    } else {
        0
    };
    (lo.min(hi), hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges_cover_exactly_the_inside_positions() {
        for (offset, padding, stride, size, grid) in [
            (0, 1, 1, 5, 5),
            (2, 1, 1, 5, 5),
            (0, 0, 2, 7, 3),
            (3, 1, 2, 4, 4),
            (5, 0, 1, 3, 3),
        ] {
            let (lo, hi) = valid_range(offset, padding, stride, size, grid);
            for o in 0..grid {
                let v = (o * stride + offset) as isize - padding as isize;
                assert_eq!(
                    (lo..hi).contains(&o),
                    v >= 0 && (v as usize) < size,
                    "{offset} {padding} {stride} {size} {grid} o={o}"
                );
            }
        }
    }
}

/// Inputs shared by the kernels' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Taps;

    /// Deterministic values in [-1, 1).
    pub fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n)
            .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0) - 1.0)
            .collect()
    }

    /// A "same" 3³ convolution; a strided, dilated, unevenly padded one; kernel = stride 4 (the
    /// patch embedding's shape); and k = s = 2 over an input grid (a transposed convolution's
    /// weight gradient).
    pub(crate) fn sample_taps() -> Vec<Taps> {
        let t = |grid, src_dims, kernel, stride, dilation, padding| Taps {
            grid,
            src_dims,
            kernel,
            stride,
            dilation,
            padding,
        };
        vec![
            t([5, 4, 6], [5, 4, 6], [3; 3], [1; 3], [1; 3], [1; 3]),
            t(
                [3, 2, 3],
                [7, 6, 8],
                [2, 3, 2],
                [2, 1, 3],
                [1, 2, 1],
                [0, 1, 0],
            ),
            t([2, 3, 2], [8, 12, 8], [4; 3], [4; 3], [1; 3], [0; 3]),
            t([3, 4, 2], [6, 8, 4], [2; 3], [2; 3], [1; 3], [0; 3]),
        ]
    }
}
