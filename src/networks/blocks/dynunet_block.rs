//! MONAI's `dynunet_block` pieces UNETR uses (docs/MONAI_COMPAT.md, "UNETR and its blocks"):
//! bias-free convolutions wrapped like MONAI's `Convolution` (hence keys `...conv1.conv.weight`),
//! `UnetResBlock` with parameter-free InstanceNorm and LeakyReLU(0.01), and `UnetOutBlock` (1×1×1
//! conv with bias).

use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::leaky_relu;
use burn::tensor::backend::Backend;

pub use ssl3d_kernels::instance_norm::instance_norm;

/// A `Conv3d` as MONAI's `Convolution` wraps it (`<name>.conv.weight`).
#[derive(Module, Debug)]
pub struct Convolution<B: Backend> {
    pub conv: Conv3d<B>,
}

impl<B: Backend> Convolution<B> {
    /// Stride 1, "same" padding `(k − 1)/2`, no bias unless asked.
    pub fn new(channels: [usize; 2], kernel: usize, bias: bool, device: &B::Device) -> Self {
        Self::strided(channels, kernel, 1, bias, device)
    }

    /// Any stride, with the padding of MONAI's `Convolution` (`(k − 1)/2`, whatever the stride).
    pub fn strided(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        bias: bool,
        device: &B::Device,
    ) -> Self {
        let pad = (kernel - 1) / 2;
        Convolution {
            conv: Conv3dConfig::new(channels, [kernel; 3])
                .with_stride([stride; 3])
                .with_padding(PaddingConfig3d::Explicit(pad, pad, pad))
                .with_bias(bias)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        ssl3d_kernels::conv::conv3d(&self.conv, x)
    }
}

/// A bias-free `ConvTranspose3d(k=2, s=2)` as MONAI's `Convolution(is_transposed=True)` wraps it.
#[derive(Module, Debug)]
pub struct TransposedConvolution<B: Backend> {
    pub conv: ConvTranspose3d<B>,
}

impl<B: Backend> TransposedConvolution<B> {
    pub fn new(channels: [usize; 2], device: &B::Device) -> Self {
        TransposedConvolution {
            conv: ConvTranspose3dConfig::new(channels, [2; 3])
                .with_stride([2; 3])
                .with_bias(false)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        ssl3d_kernels::conv::conv_transpose3d(&self.conv, x)
    }
}

#[derive(Config, Debug)]
pub struct UnetResBlockConfig {
    pub in_channels: usize,
    pub out_channels: usize,
}

impl UnetResBlockConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> UnetResBlock<B> {
        let (i, o) = (self.in_channels, self.out_channels);
        UnetResBlock {
            conv1: Convolution::new([i, o], 3, false, device),
            conv2: Convolution::new([o, o], 3, false, device),
            conv3: (i != o).then(|| Convolution::new([i, o], 1, false, device)),
        }
    }
}

/// `lrelu(IN(conv2(lrelu(IN(conv1(x))))) + residual)`, the residual through a 1×1×1 conv and IN
/// when the channel count changes.
#[derive(Module, Debug)]
pub struct UnetResBlock<B: Backend> {
    pub conv1: Convolution<B>,
    pub conv2: Convolution<B>,
    pub conv3: Option<Convolution<B>>,
}

impl<B: Backend> UnetResBlock<B> {
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let out = leaky_relu(instance_norm(self.conv1.forward(x.clone())), 0.01);
        let out = instance_norm(self.conv2.forward(out));
        let residual = match &self.conv3 {
            Some(c) => instance_norm(c.forward(x)),
            None => x,
        };
        leaky_relu(out + residual, 0.01)
    }
}

/// `UnetOutBlock`: a 1×1×1 convolution with bias to the class logits.
#[derive(Module, Debug)]
pub struct UnetOutBlock<B: Backend> {
    pub conv: Convolution<B>,
}

impl<B: Backend> UnetOutBlock<B> {
    pub fn new(in_channels: usize, out_channels: usize, device: &B::Device) -> Self {
        UnetOutBlock {
            conv: Convolution::new([in_channels, out_channels], 1, true, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        self.conv.forward(x)
    }
}
