//! MONAI's Swin Transformer stage (`BasicLayer`): `depth` blocks of window attention, every second
//! one on windows shifted by half a window (with MONAI's region mask), then patch merging. Tokens
//! are `(B, D, H, W, C)` inside a stage, as in MONAI.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::mlp::{MlpBlock, MlpConfig};
use super::token_linear::token_linear;
use super::window_attention::WindowAttention;
use ssl3d_kernels::permute::permute_contiguous;

/// MONAI's `get_window_size`: a side no longer than the window is one window, unshifted.
pub fn window_for(
    dims: [usize; 3],
    window: [usize; 3],
    shift: [usize; 3],
) -> ([usize; 3], [usize; 3]) {
    let mut w = window;
    let mut s = shift;
    for d in 0..3 {
        if dims[d] <= window[d] {
            w[d] = dims[d];
            s[d] = 0;
        }
    }
    (w, s)
}

/// `(B, D, H, W, C)` → `(B·windows, wd·wh·ww, C)`, windows in row-major order (MONAI's
/// `window_partition`).
pub fn window_partition<B: Backend>(x: Tensor<B, 5>, w: [usize; 3]) -> Tensor<B, 3> {
    let [b, d, h, wd, c] = x.dims();
    let blocks = x.reshape([b, d / w[0], w[0], h / w[1], w[1], wd / w[2], w[2], c]);
    permute_contiguous(blocks, [0, 1, 3, 5, 2, 4, 6, 7]).reshape([
        b * (d / w[0]) * (h / w[1]) * (wd / w[2]),
        w[0] * w[1] * w[2],
        c,
    ])
}

/// The inverse of [`window_partition`] for a `(B, D, H, W)` volume.
pub fn window_reverse<B: Backend>(
    windows: Tensor<B, 3>,
    w: [usize; 3],
    [b, d, h, wd]: [usize; 4],
) -> Tensor<B, 5> {
    let c = windows.dims()[2];
    let windows = windows.reshape([b, d / w[0], h / w[1], wd / w[2], w[0], w[1], w[2], c]);
    permute_contiguous(windows, [0, 1, 4, 2, 5, 3, 6, 7]).reshape([b, d, h, wd, c])
}

/// MONAI's `compute_mask`: the shifted volume's regions (three per axis: before the last window,
/// the last window's unshifted part, the wrapped-around shift), then per window 0 between tokens
/// of one region and −100 between regions. `(windows, n, n)`.
pub fn shift_mask<B: Backend>(
    dims: [usize; 3],
    w: [usize; 3],
    s: [usize; 3],
    device: &B::Device,
) -> Tensor<B, 3> {
    // MONAI's slices with a zero shift: `slice(-0, None)` is the whole axis, one region.
    let region = |i: usize, size: usize, w: usize, s: usize| -> usize {
        if s == 0 {
            2
        } else if i < size - w {
            0
        } else if i < size - s {
            1
        } else {
            2
        }
    };
    let [d, h, wd] = dims;
    let mut labels = vec![0f32; d * h * wd];
    for z in 0..d {
        for y in 0..h {
            for x in 0..wd {
                let r = region(z, d, w[0], s[0]) * 9
                    + region(y, h, w[1], s[1]) * 3
                    + region(x, wd, w[2], s[2]);
                labels[(z * h + y) * wd + x] = r as f32;
            }
        }
    }
    let img = Tensor::<B, 1>::from_floats(labels.as_slice(), device).reshape([1, d, h, wd, 1]);
    let windows = window_partition(img, w).squeeze_dim::<2>(2);
    let [nw, n] = windows.dims();
    let diff = windows.clone().reshape([nw, 1, n]) - windows.reshape([nw, n, 1]);
    diff.not_equal_elem(0.0).float() * -100.0
}

/// `SwinTransformerBlock`: pre-norm window attention and MLP, each residual.
#[derive(Module, Debug)]
pub struct SwinTransformerBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: WindowAttention<B>,
    pub norm2: LayerNorm<B>,
    pub mlp: MlpBlock<B>,
    /// Half a window on every second block, 0 on the others.
    pub shift: Vec<usize>,
}

impl<B: Backend> SwinTransformerBlock<B> {
    /// `x`: `(B, D, H, W, C)`; `mask` is the stage's, used when this block shifts.
    pub fn forward(&self, x: Tensor<B, 5>, mask: &Tensor<B, 3>) -> Tensor<B, 5> {
        let [b, d, h, wd, c] = x.dims();
        let shift = [self.shift[0], self.shift[1], self.shift[2]];
        let (w, s) = window_for([d, h, wd], self.attn.window(), shift);
        let shortcut = x.clone();
        let mut y = self.norm1.forward(x);
        // Zero padding at the far end of each axis up to whole windows.
        let mut size = [d, h, wd];
        for axis in 0..3 {
            let pad = (w[axis] - size[axis] % w[axis]) % w[axis];
            if pad > 0 {
                let mut shape = y.dims();
                shape[axis + 1] = pad;
                let zeros = Tensor::zeros(shape, &y.device());
                y = Tensor::cat(vec![y, zeros], axis + 1);
                size[axis] += pad;
            }
        }
        let shifted = s.iter().any(|&v| v > 0);
        // Burn's `roll(k)` moves element k to the front: torch's `roll(-k)`, MONAI's shift.
        if shifted {
            y = y.roll(&[s[0] as i64, s[1] as i64, s[2] as i64], &[1, 2, 3]);
        }
        let windows = window_partition(y, w);
        let attended = self.attn.forward(windows, shifted.then(|| mask.clone()));
        let mut y = window_reverse(attended, w, [b, size[0], size[1], size[2]]);
        if shifted {
            y = y.roll(
                &[-(s[0] as i64), -(s[1] as i64), -(s[2] as i64)],
                &[1, 2, 3],
            );
        }
        if size != [d, h, wd] {
            y = y.slice([0..b, 0..d, 0..h, 0..wd, 0..c]);
        }
        let x = shortcut + y;
        let tokens = x.clone().reshape([b, d * h * wd, c]);
        let mlp = self.mlp.forward(self.norm2.forward(tokens));
        x + mlp.reshape([b, d, h, wd, c])
    }
}

/// MONAI's `PatchMerging` (v1, `"merging"`) and `PatchMergingV2` (`"mergingv2"`): the eight
/// voxels of each 2³ cell side by side (in v1's or v2's order), LayerNorm, then a linear map to
/// twice the channels.
#[derive(Module, Debug)]
pub struct PatchMerging<B: Backend> {
    pub reduction: Linear<B>,
    pub norm: LayerNorm<B>,
    pub v2_order: bool,
}

impl<B: Backend> PatchMerging<B> {
    pub fn new(dim: usize, v2_order: bool, device: &B::Device) -> Self {
        PatchMerging {
            reduction: LinearConfig::new(8 * dim, 2 * dim)
                .with_bias(false)
                .init(device),
            norm: LayerNormConfig::new(8 * dim).init(device),
            v2_order,
        }
    }

    /// `(B, D, H, W, C)` → `(B, ⌈D/2⌉, ⌈H/2⌉, ⌈W/2⌉, 2C)`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let mut x = x;
        for axis in 1..4 {
            if x.dims()[axis] % 2 == 1 {
                let mut shape = x.dims();
                shape[axis] = 1;
                let zeros = Tensor::zeros(shape, &x.device());
                x = Tensor::cat(vec![x, zeros], axis);
            }
        }
        let [b, d, h, w, c] = x.dims();
        let n = b * (d / 2) * (h / 2) * (w / 2);
        // Each cell's eight voxels side by side, (i, j, k) with k fastest: v2's order.
        let cells = x.reshape([b, d / 2, 2, h / 2, 2, w / 2, 2, c]);
        let cells = permute_contiguous(cells, [0, 1, 3, 5, 2, 4, 6, 7]).reshape([n, 8, c]);
        const V1: [[usize; 3]; 8] = [
            [0, 0, 0],
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 1],
            [1, 1, 0],
            [1, 0, 1],
            [0, 1, 1],
            [1, 1, 1],
        ];
        let merged = if self.v2_order {
            cells
        } else {
            let order: Vec<i64> = V1
                .iter()
                .map(|[i, j, k]| (4 * i + 2 * j + k) as i64)
                .collect();
            let order =
                Tensor::<B, 1, Int>::from_data(TensorData::new(order, [8]), &cells.device());
            cells.select(1, order)
        };
        let y = self.norm.forward(merged.reshape([1, n, 8 * c]));
        token_linear(&self.reduction, y).reshape([b, d / 2, h / 2, w / 2, 2 * c])
    }
}

/// MONAI's `BasicLayer`: the blocks, then patch merging. `(B, C, D, H, W)` in and out.
#[derive(Module, Debug)]
pub struct SwinStage<B: Backend> {
    pub blocks: Vec<SwinTransformerBlock<B>>,
    pub downsample: PatchMerging<B>,
}

/// A stage's settings.
pub struct SwinStageSpec {
    pub dim: usize,
    pub depth: usize,
    pub num_heads: usize,
    pub window: [usize; 3],
    pub mlp_ratio: f64,
    pub qkv_bias: bool,
    pub v2_merging: bool,
}

impl<B: Backend> SwinStage<B> {
    pub fn new(spec: &SwinStageSpec, device: &B::Device) -> Self {
        let half = spec.window.map(|w| w / 2);
        let blocks = (0..spec.depth)
            .map(|i| SwinTransformerBlock {
                norm1: LayerNormConfig::new(spec.dim).init(device),
                attn: WindowAttention::new(
                    spec.dim,
                    spec.num_heads,
                    spec.window,
                    spec.qkv_bias,
                    device,
                ),
                norm2: LayerNormConfig::new(spec.dim).init(device),
                mlp: MlpConfig::new(spec.dim, (spec.dim as f64 * spec.mlp_ratio) as usize)
                    .init(device),
                shift: if i % 2 == 0 {
                    vec![0; 3]
                } else {
                    half.to_vec()
                },
            })
            .collect();
        SwinStage {
            blocks,
            downsample: PatchMerging::new(spec.dim, spec.v2_merging, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let [_, _, d, h, w] = x.dims();
        let mut y = permute_contiguous(x, [0, 2, 3, 4, 1]);
        if let Some(first) = self.blocks.first() {
            // The stage's mask, from its window as MONAI's `BasicLayer` computes it.
            let window = first.attn.window();
            let (ws, ss) = window_for([d, h, w], window, window.map(|v| v / 2));
            let padded = std::array::from_fn(|i| [d, h, w][i].div_ceil(ws[i]) * ws[i]);
            let mask = shift_mask::<B>(padded, ws, ss, &y.device());
            for block in &self.blocks {
                y = block.forward(y, &mask);
            }
        }
        permute_contiguous(self.downsample.forward(y), [0, 4, 1, 2, 3])
    }
}
