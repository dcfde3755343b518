//! MONAI's `PatchEmbeddingBlock` with `proj_type="conv"` and a learnable position embedding
//! (SPEC §6.2): a strided Conv3d cuts the volume into patches, tokens are the C-order flattening
//! of the patch grid, and a (1, N, hidden) position embedding is added.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::tensor::Distribution;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

#[derive(Config, Debug)]
pub struct PatchEmbeddingConfig {
    pub in_channels: usize,
    pub img_size: [usize; 3],
    pub patch_size: [usize; 3],
    pub hidden_size: usize,
}

impl PatchEmbeddingConfig {
    pub fn n_patches(&self) -> usize {
        (0..3)
            .map(|d| self.img_size[d] / self.patch_size[d])
            .product()
    }

    pub fn grid(&self) -> [usize; 3] {
        std::array::from_fn(|d| self.img_size[d] / self.patch_size[d])
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> PatchEmbeddingBlock<B> {
        for d in 0..3 {
            assert!(
                self.img_size[d].is_multiple_of(self.patch_size[d]),
                "img_size {:?} must be divisible by patch_size {:?}",
                self.img_size,
                self.patch_size
            );
        }
        // trunc_normal(std 0.02, a=-2, b=2): the cut-offs are ±100 σ, so this is N(0, 0.02²).
        let pos = Tensor::random(
            [1, self.n_patches(), self.hidden_size],
            Distribution::Normal(0.0, 0.02),
            device,
        );
        PatchEmbeddingBlock {
            patch_embeddings: Conv3dConfig::new(
                [self.in_channels, self.hidden_size],
                self.patch_size,
            )
            .with_stride(self.patch_size)
            .init(device),
            position_embeddings: Param::from_tensor(pos),
        }
    }
}

#[derive(Module, Debug)]
pub struct PatchEmbeddingBlock<B: Backend> {
    pub patch_embeddings: Conv3d<B>,
    pub position_embeddings: Param<Tensor<B, 3>>,
}

impl<B: Backend> PatchEmbeddingBlock<B> {
    /// `(B, C, X, Y, Z)` → `(B, N, hidden)`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 3> {
        let x = crate::networks::conv::conv3d(&self.patch_embeddings, x);
        let [b, h, gx, gy, gz] = x.dims();
        let tokens = x.reshape([b, h, gx * gy * gz]).swap_dims(1, 2);
        tokens + self.position_embeddings.val()
    }
}
