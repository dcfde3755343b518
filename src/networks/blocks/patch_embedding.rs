//! MONAI's `PatchEmbeddingBlock` with `proj_type="conv"` and a learnable position embedding
//! (docs/MONAI_COMPAT.md, "PatchEmbeddingBlock"): a strided Conv3d cuts the volume into patches,
//! tokens are the C-order flattening of the patch grid, and a (1, N, hidden) position embedding is
//! added.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::tensor::Distribution;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use ssl3d_kernels::conv::conv3d;
use ssl3d_kernels::patches::patches;

#[derive(Config, Debug)]
pub struct PatchEmbeddingConfig {
    pub in_channels: usize,
    pub img_size: [usize; 3],
    pub patch_size: [usize; 3],
    pub hidden_size: usize,
}

impl PatchEmbeddingConfig {
    pub(crate) fn n_patches(&self) -> usize {
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
        let tokens = match self.tiles_the_volume(&x.dims()) {
            true => self.embed_patches(x),
            false => {
                let x = conv3d(&self.patch_embeddings, x);
                let [b, h, gx, gy, gz] = x.dims();
                x.reshape([b, h, gx * gy * gz]).swap_dims(1, 2)
            }
        };
        tokens + self.position_embeddings.val()
    }

    /// Whether the convolution cuts `dims` into whole, non-overlapping patches (stride = kernel,
    /// no padding, dilation or groups): MONAI's patch embedding always does.
    fn tiles_the_volume(&self, dims: &[usize; 5]) -> bool {
        let conv = &self.patch_embeddings;
        let no_padding = match conv.padding {
            PaddingConfig3d::Valid => true,
            PaddingConfig3d::Explicit(a, b, c) => [a, b, c] == [0; 3],
            PaddingConfig3d::Same => false,
        };
        conv.stride == conv.kernel_size
            && conv.dilation == [1; 3]
            && conv.groups == 1
            && no_padding
            && (0..3).all(|d| dims[2 + d].is_multiple_of(conv.kernel_size[d]))
    }

    /// The same convolution as one matrix product, `patches · Wᵀ + bias`: each row of `patches`
    /// is one patch's voxels in the weight's `(c, i, j, k)` order, rows in token order. A 16³
    /// kernel makes the convolution a single GEMM with a 4096-long reduction; run as one, it
    /// streams the weight once instead of once per tile of an im2col convolution, and its
    /// `(B·N, hidden)` result is already the token layout.
    fn embed_patches(&self, x: Tensor<B, 5>) -> Tensor<B, 3> {
        let conv = &self.patch_embeddings;
        let [b, c, sx, sy, sz] = x.dims();
        let [px, py, pz] = conv.kernel_size;
        let [gx, gy, gz] = [sx / px, sy / py, sz / pz];
        let (n, patch_len) = (gx * gy * gz, c * px * py * pz);
        let patches = patches(x, [px, py, pz]);
        let hidden = conv.weight.dims()[0];
        let weight = conv.weight.val().reshape([hidden, patch_len]);
        let mut tokens = patches.matmul(weight.transpose());
        if let Some(bias) = &conv.bias {
            tokens = tokens + bias.val().unsqueeze::<2>();
        }
        tokens.reshape([b, n, hidden])
    }
}
