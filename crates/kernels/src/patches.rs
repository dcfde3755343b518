//! Cutting a volume into patch rows for the patch embedding's GEMM: on the CPU an untracked input
//! (an image, not an activation) is copied in runs of voxels, in parallel; elsewhere, and for
//! tracked inputs, it is Burn's reshape-permute-reshape.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorMetadata};
use rayon::prelude::*;

use super::dispatch::{CpuTrain, OnCpu, back, flex_tensor, float, on_cpu, primitive, same};

/// `(B, C, X, Y, Z)` → `(B·N, C·px·py·pz)`: row `b·N + t` holds patch `t` of item `b`, its
/// voxels in `(c, i, j, k)` order.
pub fn patches<B: Backend>(x: Tensor<B, 5>, patch: [usize; 3]) -> Tensor<B, 2> {
    let [b, c, sx, sy, sz] = x.dims();
    let [px, py, pz] = patch;
    let (n, patch_len) = ((sx / px) * (sy / py) * (sz / pz), c * px * py * pz);
    // On the CPU, an untracked input (an image, not an activation) is copied in runs of `pz`
    // voxels; Flex walks the 8-D permute below element by element, 20× slower.
    let generic = |x: Tensor<B, 5>| {
        x.reshape([b, c, sx / px, px, sy / py, py, sz / pz, pz])
            .permute([0, 2, 4, 6, 1, 3, 5, 7])
            .reshape([b * n, patch_len])
    };
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return generic(x);
    }
    match on_cpu(x) {
        OnCpu::Train(x) if !x.is_require_grad() => {
            let rows =
                Tensor::<Flex, 2>::from_primitive(float(flex_patches(primitive(x.inner()), patch)));
            same(Tensor::<CpuTrain, 2>::from_inner(rows))
        }
        OnCpu::Infer(x) => back::<Flex, B, 2>(flex_patches(primitive(x), patch)),
        x => generic(x.into_generic()),
    }
}

fn flex_patches(x: FlexTensor, patch: [usize; 3]) -> FlexTensor {
    let x = x.to_contiguous();
    let dims: [usize; 5] = x.shape().dims();
    match x.dtype() {
        DType::F64 => patch_rows(x.storage::<f64>(), dims, patch),
        _ => patch_rows(x.storage::<f32>(), dims, patch),
    }
}

/// The kernel of [`patches`] on a contiguous `(B, C, X, Y, Z)` buffer, one patch per task.
fn patch_rows<T: burn::tensor::Element + bytemuck::Pod + Send + Sync + Default>(
    src: &[T],
    [b, c, sx, sy, sz]: [usize; 5],
    [px, py, pz]: [usize; 3],
) -> FlexTensor {
    let [gx, gy, gz] = [sx / px, sy / py, sz / pz];
    let (n, patch_len) = (gx * gy * gz, c * px * py * pz);
    let mut rows = vec![T::default(); b * n * patch_len];
    rows.par_chunks_mut(patch_len.max(1))
        .enumerate()
        .for_each(|(row, out)| {
            let (item, t) = (row / n, row % n);
            let (ix, iy, iz) = (t / (gy * gz), t / gz % gy, t % gz);
            let mut runs = out.chunks_exact_mut(pz);
            for ch in 0..c {
                for i in 0..px {
                    for j in 0..py {
                        let start = (((item * c + ch) * sx + ix * px + i) * sy + iy * py + j) * sz
                            + iz * pz;
                        runs.next()
                            .expect("one run per (c, i, j)")
                            .copy_from_slice(&src[start..start + pz]);
                    }
                }
            }
        });
    flex_tensor(rows, [b * n, patch_len])
}
