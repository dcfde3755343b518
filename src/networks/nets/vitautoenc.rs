//! MONAI's `ViTAutoEnc` (docs/MONAI_COMPAT.md, "ViTAutoEnc"): the ViT backbone, then two
//! transposed convolutions (kernel and stride √patch each, with bias, no activation) back to the
//! input size.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{ConvTranspose3d, ConvTranspose3dConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::vit::{Vit, VitConfig, tokens_to_grid};
use ssl3d_kernels::conv::conv_transpose3d;

/// Defaults: the tutorial's `ViTAutoEnc(in 1, img 96³, patch 16³, hidden 768, mlp 3072)`.
#[derive(Config, Debug)]
pub struct VitAutoEncConfig {
    pub vit: VitConfig,
    #[config(default = 1)]
    pub out_channels: usize,
    #[config(default = 16)]
    pub deconv_chns: usize,
}

impl VitAutoEncConfig {
    /// The tutorial's model.
    pub fn tutorial() -> Self {
        VitAutoEncConfig::new(VitConfig::new())
    }

    /// `int(sqrt(patch))` per dim; MONAI requires the patch size to be a perfect square.
    pub(crate) fn up_kernel(&self) -> [usize; 3] {
        self.vit.patch_size.map(|p| {
            let r = (p as f64).sqrt().round() as usize;
            assert_eq!(r * r, p, "ViTAutoEnc needs square patch sizes, got {p}");
            r
        })
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> VitAutoEnc<B> {
        let k = self.up_kernel();
        let h = self.vit.hidden_size;
        VitAutoEnc {
            vit: self.vit.init(device),
            conv3d_transpose: ConvTranspose3dConfig::new([h, self.deconv_chns], k)
                .with_stride(k)
                .init(device),
            conv3d_transpose_1: ConvTranspose3dConfig::new(
                [self.deconv_chns, self.out_channels],
                k,
            )
            .with_stride(k)
            .init(device),
            grid: self.vit.patch_grid(),
        }
    }
}

/// The backbone sits under `vit` here; MONAI keeps its keys at the top level, which the
/// state-dict mapping accounts for (so the backbone moves into `UNETR.vit` as a whole).
#[derive(Module, Debug)]
pub struct VitAutoEnc<B: Backend> {
    pub vit: Vit<B>,
    pub conv3d_transpose: ConvTranspose3d<B>,
    pub conv3d_transpose_1: ConvTranspose3d<B>,
    pub grid: [usize; 3],
}

impl<B: Backend> VitAutoEnc<B> {
    /// `(reconstruction (B, out, X, Y, Z), hidden states after each block)`.
    pub fn forward(&self, x: Tensor<B, 5>) -> (Tensor<B, 5>, Vec<Tensor<B, 3>>) {
        let (x, hidden) = self.vit.forward(x);
        let x = tokens_to_grid(x, self.grid);
        let x = conv_transpose3d(&self.conv3d_transpose, x);
        (conv_transpose3d(&self.conv3d_transpose_1, x), hidden)
    }
}
