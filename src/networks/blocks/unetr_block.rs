//! MONAI's `unetr_block` (docs/MONAI_COMPAT.md, "UNETR and its blocks"): the encoder's
//! `UnetrBasicBlock` and `UnetrPrUpBlock` and the decoder's `UnetrUpBlock`.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::dynunet_block::{TransposedConvolution, UnetResBlock, UnetResBlockConfig};

/// `UnetrBasicBlock(res_block=True)`: one `UnetResBlock` under the name `layer`.
#[derive(Module, Debug)]
pub struct UnetrBasicBlock<B: Backend> {
    pub layer: UnetResBlock<B>,
}

impl<B: Backend> UnetrBasicBlock<B> {
    pub fn new(in_channels: usize, out_channels: usize, device: &B::Device) -> Self {
        UnetrBasicBlock {
            layer: UnetResBlockConfig::new(in_channels, out_channels).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.layer.forward(x)
    }
}

/// One upsampling stage of `UnetrPrUpBlock`: MONAI's `Sequential(ConvTranspose, UnetResBlock)`,
/// children `0` and `1` (named `up` and `res` here; the checkpoint mapping renames them).
#[derive(Module, Debug)]
pub struct PrUpStage<B: Backend> {
    pub up: TransposedConvolution<B>,
    pub res: UnetResBlock<B>,
}

/// `UnetrPrUpBlock(num_layer)`: a transposed conv, then `num_layer` (transposed conv + res block).
#[derive(Module, Debug)]
pub struct UnetrPrUpBlock<B: Backend> {
    pub transp_conv_init: TransposedConvolution<B>,
    pub blocks: Vec<PrUpStage<B>>,
}

impl<B: Backend> UnetrPrUpBlock<B> {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        num_layer: usize,
        device: &B::Device,
    ) -> Self {
        UnetrPrUpBlock {
            transp_conv_init: TransposedConvolution::new([in_channels, out_channels], device),
            blocks: (0..num_layer)
                .map(|_| PrUpStage {
                    up: TransposedConvolution::new([out_channels, out_channels], device),
                    res: UnetResBlockConfig::new(out_channels, out_channels).init(device),
                })
                .collect(),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let mut x = self.transp_conv_init.forward(x);
        for stage in &self.blocks {
            x = stage.res.forward(stage.up.forward(x));
        }
        x
    }
}

/// `UnetrUpBlock`: upsample, concatenate with the skip (upsampled first), `UnetResBlock(2·out, out)`.
#[derive(Module, Debug)]
pub struct UnetrUpBlock<B: Backend> {
    pub transp_conv: TransposedConvolution<B>,
    pub conv_block: UnetResBlock<B>,
}

impl<B: Backend> UnetrUpBlock<B> {
    pub fn new(in_channels: usize, out_channels: usize, device: &B::Device) -> Self {
        UnetrUpBlock {
            transp_conv: TransposedConvolution::new([in_channels, out_channels], device),
            conv_block: UnetResBlockConfig::new(2 * out_channels, out_channels).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>, skip: Tensor<B, 5>) -> Tensor<B, 5> {
        let up = self.transp_conv.forward(x);
        self.conv_block.forward(Tensor::cat(vec![up, skip], 1))
    }
}
