//! MONAI's `WindowAttention` (Swin Transformer, Liu et al. 2021): multi-head self-attention inside
//! each window of tokens, plus a learned bias per relative position (`relative_position_bias_table`)
//! and, for shifted windows, MONAI's −100 mask between tokens from different regions.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::token_linear::token_linear;
use ssl3d_kernels::permute::permute_contiguous;
use ssl3d_kernels::window_softmax::window_softmax;

/// MONAI's `relative_position_index` for a `window`: row-major over the window's voxels, entry
/// `(i, j)` is the table row of the offset from voxel `j` to voxel `i`. MONAI keeps it as a buffer
/// and slices it to `[:n, :n]` when a stage's window shrinks to the volume; so does ssl3d.
pub fn relative_position_index(window: [usize; 3]) -> Vec<usize> {
    let [wd, wh, ww] = window;
    let coords: Vec<[usize; 3]> = (0..wd)
        .flat_map(|d| (0..wh).flat_map(move |h| (0..ww).map(move |w| [d, h, w])))
        .collect();
    let n = coords.len();
    let mut index = Vec::with_capacity(n * n);
    for a in &coords {
        for b in &coords {
            let rel = |k: usize, size: usize| a[k] + size - 1 - b[k];
            index.push(
                rel(0, wd) * (2 * wh - 1) * (2 * ww - 1) + rel(1, wh) * (2 * ww - 1) + rel(2, ww),
            );
        }
    }
    index
}

#[derive(Module, Debug)]
pub struct WindowAttention<B: Backend> {
    pub qkv: Linear<B>,
    pub proj: Linear<B>,
    /// `((2·wd − 1)(2·wh − 1)(2·ww − 1), heads)`.
    pub relative_position_bias_table: Param<Tensor<B, 2>>,
    pub num_heads: usize,
    /// The configured window (the index is MONAI's for it).
    pub window: Vec<usize>,
}

impl<B: Backend> WindowAttention<B> {
    pub fn new(
        dim: usize,
        num_heads: usize,
        window: [usize; 3],
        qkv_bias: bool,
        device: &B::Device,
    ) -> Self {
        let rows = window.iter().map(|w| 2 * w - 1).product::<usize>();
        WindowAttention {
            qkv: LinearConfig::new(dim, 3 * dim)
                .with_bias(qkv_bias)
                .init(device),
            proj: LinearConfig::new(dim, dim).init(device),
            relative_position_bias_table: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([rows, num_heads], device),
            num_heads,
            window: window.to_vec(),
        }
    }

    /// The configured window.
    pub fn window(&self) -> [usize; 3] {
        [self.window[0], self.window[1], self.window[2]]
    }

    /// `x`: `(windows·B, n, C)`; `mask`: `(windows, n, n)` for shifted windows.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 3>>) -> Tensor<B, 3> {
        let [bw, n, c] = x.dims();
        let heads = self.num_heads;
        let hd = c / heads;
        let device = x.device();
        let qkv = token_linear(&self.qkv, x).reshape([bw, n, 3, heads, hd]);
        let qkv = permute_contiguous(qkv, [2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).squeeze_dim::<4>(0);
        let (q, k, v) = (part(0), part(1), part(2));
        let q = q * (hd as f64).powf(-0.5);
        let attn = q.matmul(k.swap_dims(2, 3));
        let window = self.window();
        let full = window.iter().product::<usize>();
        let index: Vec<i64> = relative_position_index(window)
            .chunks(full)
            .take(n)
            .flat_map(|row| row[..n].iter().map(|&i| i as i64))
            .collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [n * n]), &device);
        let bias = (self.relative_position_bias_table.val())
            .select(0, index)
            .reshape([n, n, heads])
            .permute([2, 0, 1]);
        let probs = window_softmax(attn, bias, mask);
        let out = permute_contiguous(probs.matmul(v), [0, 2, 1, 3]).reshape([bw, n, c]);
        token_linear(&self.proj, out)
    }
}
