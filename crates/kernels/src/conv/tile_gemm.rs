//! One tile's matrix product for the convolutions, on the `gemm` crate (as the linear layers):
//! for the convolutions' shapes (few output channels, long tiles) it packs less than
//! `matrixmultiply`, which spent a fifth of SegResNet's step packing (`perf`, docs/BENCHMARKS.md).

use ndarray::LinalgScalar;

/// A row-major or strided operand: its values and (row, column) strides.
pub(crate) struct Operand<'a, T> {
    pub values: &'a [T],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> Operand<'a, T> {
    /// A row-major matrix whose rows are `row_len` long.
    pub fn rows(values: &'a [T], row_len: usize) -> Self {
        Operand {
            values,
            row_stride: row_len,
            col_stride: 1,
        }
    }

    /// The largest index an `r × c` view reaches, checked against the values.
    fn check(&self, r: usize, c: usize) {
        if r > 0 && c > 0 {
            let last = (r - 1) * self.row_stride + (c - 1) * self.col_stride;
            assert!(last < self.values.len(), "tile GEMM: operand out of bounds");
        }
    }
}

/// `dst (m × n, row-major) = [dst +] lhs (m × k) · rhs (k × n)` on one thread (the callers run
/// tiles in parallel). `T` is f32 or f64.
pub(crate) fn tile_gemm<T: LinalgScalar>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    lhs: Operand<T>,
    rhs: Operand<T>,
) {
    assert!(dst.len() >= m * n, "tile GEMM: destination too small");
    lhs.check(m, k);
    rhs.check(k, n);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: every index the strides reach was checked above; `dst` holds m·n values.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.values.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            if accumulate { T::one() } else { T::zero() },
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
