//! MONAI's `ViT` backbone (classification=False): patch embedding, transformer blocks, final
//! LayerNorm. Returns the normed output and every block's (pre-norm) output.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::networks::blocks::patch_embedding::{PatchEmbeddingBlock, PatchEmbeddingConfig};
use crate::networks::blocks::transformerblock::{TransformerBlock, TransformerBlockConfig};

/// Defaults: the tutorial's backbone (96³ input, 16³ patches, hidden 768, 12 layers, 12 heads).
#[derive(Config, Debug)]
pub struct VitConfig {
    #[config(default = 1)]
    pub in_channels: usize,
    #[config(default = "[96, 96, 96]")]
    pub img_size: [usize; 3],
    #[config(default = "[16, 16, 16]")]
    pub patch_size: [usize; 3],
    #[config(default = 768)]
    pub hidden_size: usize,
    #[config(default = 3072)]
    pub mlp_dim: usize,
    #[config(default = 12)]
    pub num_layers: usize,
    #[config(default = 12)]
    pub num_heads: usize,
    #[config(default = false)]
    pub qkv_bias: bool,
}

impl VitConfig {
    pub(crate) fn patch_grid(&self) -> [usize; 3] {
        std::array::from_fn(|d| self.img_size[d] / self.patch_size[d])
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Vit<B> {
        Vit {
            patch_embedding: PatchEmbeddingConfig::new(
                self.in_channels,
                self.img_size,
                self.patch_size,
                self.hidden_size,
            )
            .init(device),
            blocks: (0..self.num_layers)
                .map(|_| {
                    TransformerBlockConfig::new(self.hidden_size, self.mlp_dim, self.num_heads)
                        .with_qkv_bias(self.qkv_bias)
                        .init(device)
                })
                .collect(),
            norm: LayerNormConfig::new(self.hidden_size).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct Vit<B: Backend> {
    pub patch_embedding: PatchEmbeddingBlock<B>,
    pub blocks: Vec<TransformerBlock<B>>,
    pub norm: LayerNorm<B>,
}

impl<B: Backend> Vit<B> {
    /// `(normed tokens, hidden states after each block)`.
    pub fn forward(&self, x: Tensor<B, 5>) -> (Tensor<B, 3>, Vec<Tensor<B, 3>>) {
        let mut x = self.patch_embedding.forward(x);
        let mut hidden = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            x = block.forward(x);
            hidden.push(x.clone());
        }
        (self.norm.forward(x), hidden)
    }
}

/// Tokens `(B, N, hidden)` back onto the patch grid `(B, hidden, gx, gy, gz)` (token t = i·gy·gz +
/// j·gz + k), MONAI's `proj_feat` / ViTAutoEnc reshape.
///
/// One token (a window as large as a patch) is a plain reshape: the same memory. Burn 0.21's wgpu
/// backend gets the transposed form wrong for it (`[2, 1, 3]`, dims 1 and 2 swapped, reshaped to
/// `[2, 3, 1, 1, 1]`, gives `[0, 3, 0, 0, 0, 0]`: `examples/wgpu_repro.rs`).
pub fn tokens_to_grid<B: Backend>(x: Tensor<B, 3>, grid: [usize; 3]) -> Tensor<B, 5> {
    let [b, n, h] = x.dims();
    if n == 1 {
        return x.reshape([b, h, grid[0], grid[1], grid[2]]);
    }
    x.swap_dims(1, 2).reshape([b, h, grid[0], grid[1], grid[2]])
}
