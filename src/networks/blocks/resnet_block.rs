//! torchvision's residual blocks with its key names: `BasicBlock` (two 3×3 convolutions; ResNet-18
//! and -34) and `Bottleneck` (1×1 → 3×3 → 1×1 with four times the width out, the stride on the 3×3
//! as torchvision's "ResNet v1.5"; ResNet-50 and deeper). One struct holds both: a bottleneck is
//! the block with a `conv3`. The projection shortcut is torchvision's `downsample` `Sequential`
//! (`downsample.0` the 1×1 convolution, `downsample.1` its batch norm).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use super::batch_norm::{BatchNorm2d, BatchNorm2dConfig};

/// torchvision's convolution initialisation: Kaiming normal, fan-out, ReLU gain.
pub(crate) fn torchvision_conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Conv2dConfig {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: 2f64.sqrt(),
            fan_out_only: true,
        })
}

#[derive(Config, Debug)]
pub struct ResNetBlockConfig {
    pub in_channels: usize,
    /// torchvision's `planes`: the block's inner width.
    pub planes: usize,
    pub stride: usize,
    /// A `Bottleneck` (expansion 4) rather than a `BasicBlock` (expansion 1).
    pub bottleneck: bool,
}

impl ResNetBlockConfig {
    /// Channels out: `planes` times the block's expansion.
    pub fn out_channels(&self) -> usize {
        self.planes * if self.bottleneck { 4 } else { 1 }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNetBlock<B> {
        let (p, out, s) = (self.planes, self.out_channels(), self.stride);
        let bn = |c: usize| BatchNorm2dConfig::new(c).init(device);
        let (conv1, conv2, conv3) = if self.bottleneck {
            (
                torchvision_conv([self.in_channels, p], 1, 1, 0).init(device),
                torchvision_conv([p, p], 3, s, 1).init(device),
                Some(torchvision_conv([p, out], 1, 1, 0).init(device)),
            )
        } else {
            (
                torchvision_conv([self.in_channels, p], 3, s, 1).init(device),
                torchvision_conv([p, p], 3, 1, 1).init(device),
                None,
            )
        };
        let downsample = (s != 1 || self.in_channels != out).then(|| Downsample {
            conv: torchvision_conv([self.in_channels, out], 1, s, 0).init(device),
            bn: bn(out),
        });
        ResNetBlock {
            conv1,
            bn1: bn(p),
            conv2,
            bn2: bn(p),
            bn3: conv3.as_ref().map(|_| bn(out)),
            conv3,
            downsample,
        }
    }
}

/// The shortcut's projection: torchvision's `downsample.0` / `downsample.1`.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: BatchNorm2d<B>,
}

#[derive(Module, Debug)]
pub struct ResNetBlock<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm2d<B>,
    pub conv2: Conv2d<B>,
    pub bn2: BatchNorm2d<B>,
    pub conv3: Option<Conv2d<B>>,
    pub bn3: Option<BatchNorm2d<B>>,
    pub downsample: Option<Downsample<B>>,
}

impl<B: Backend> ResNetBlock<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(self.conv1.forward(x)));
        let out = self.bn2.forward(self.conv2.forward(out));
        let out = match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => bn3.forward(conv3.forward(relu(out))),
            _ => out,
        };
        relu(out + identity)
    }
}
