//! MONAI's `UNETR` (docs/MONAI_COMPAT.md, "UNETR and its blocks"): the ViT backbone under `vit`,
//! skips from transformer blocks 4, 7 and 10 and the normed output, a convolutional decoder to 14
//! class logits.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::vit::{Vit, VitConfig, tokens_to_grid};
use crate::networks::blocks::dynunet_block::UnetOutBlock;
use crate::networks::blocks::unetr_block::{UnetrBasicBlock, UnetrPrUpBlock, UnetrUpBlock};

/// Defaults: the tutorial's `UNETR(in 1, out 14, img 96³, feature 16, instance norm, res blocks)`.
#[derive(Config, Debug)]
pub struct UnetrConfig {
    pub vit: VitConfig,
    #[config(default = 14)]
    pub out_channels: usize,
    #[config(default = 16)]
    pub feature_size: usize,
}

impl UnetrConfig {
    pub fn tutorial() -> Self {
        UnetrConfig::new(VitConfig::new())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Unetr<B> {
        assert!(
            self.vit.num_layers >= 10,
            "UNETR takes skips from transformer blocks 4, 7 and 10: it needs at least 10 layers"
        );
        let (f, h, i) = (
            self.feature_size,
            self.vit.hidden_size,
            self.vit.in_channels,
        );
        Unetr {
            vit: self.vit.init(device),
            encoder1: UnetrBasicBlock::new(i, f, device),
            encoder2: UnetrPrUpBlock::new(h, 2 * f, 2, device),
            encoder3: UnetrPrUpBlock::new(h, 4 * f, 1, device),
            encoder4: UnetrPrUpBlock::new(h, 8 * f, 0, device),
            decoder5: UnetrUpBlock::new(h, 8 * f, device),
            decoder4: UnetrUpBlock::new(8 * f, 4 * f, device),
            decoder3: UnetrUpBlock::new(4 * f, 2 * f, device),
            decoder2: UnetrUpBlock::new(2 * f, f, device),
            out: UnetOutBlock::new(f, self.out_channels, device),
            grid: self.vit.patch_grid(),
        }
    }
}

#[derive(Module, Debug)]
pub struct Unetr<B: Backend> {
    pub vit: Vit<B>,
    pub encoder1: UnetrBasicBlock<B>,
    pub encoder2: UnetrPrUpBlock<B>,
    pub encoder3: UnetrPrUpBlock<B>,
    pub encoder4: UnetrPrUpBlock<B>,
    pub decoder5: UnetrUpBlock<B>,
    pub decoder4: UnetrUpBlock<B>,
    pub decoder3: UnetrUpBlock<B>,
    pub decoder2: UnetrUpBlock<B>,
    pub out: UnetOutBlock<B>,
    pub grid: [usize; 3],
}

impl<B: Backend> Unetr<B> {
    /// Class logits `(B, out_channels, X, Y, Z)`.
    pub fn forward(&self, x_in: Tensor<B, 5>) -> Tensor<B, 5> {
        let (x, hidden) = self.vit.forward(x_in.clone());
        let enc1 = self.encoder1.forward(x_in);
        let enc2 = self
            .encoder2
            .forward(tokens_to_grid(hidden[3].clone(), self.grid));
        let enc3 = self
            .encoder3
            .forward(tokens_to_grid(hidden[6].clone(), self.grid));
        let enc4 = self
            .encoder4
            .forward(tokens_to_grid(hidden[9].clone(), self.grid));
        let dec4 = tokens_to_grid(x, self.grid);
        let dec3 = self.decoder5.forward(dec4, enc4);
        let dec2 = self.decoder4.forward(dec3, enc3);
        let dec1 = self.decoder3.forward(dec2, enc2);
        let out = self.decoder2.forward(dec1, enc1);
        self.out.forward(out)
    }
}
