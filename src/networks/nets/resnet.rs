//! torchvision's ResNet without its classifier (`fc`): the image encoder of ConVIRT, whose
//! reference keeps `resnet.children()[:-1]` and flattens the pooled features. Maths and key names
//! are torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`, …), so
//! torchvision `.pth` weights load by name (docs/CONVIRT.md, "Networks").

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;

use crate::error::Error;
use crate::networks::blocks::batch_norm::{BatchNorm2d, BatchNorm2dConfig};
use crate::networks::blocks::resnet_block::{ResNetBlock, ResNetBlockConfig, torchvision_conv};

/// torchvision's depths: name, blocks per stage, bottleneck blocks.
const TORCHVISION: [(&str, [usize; 4], bool); 5] = [
    ("resnet18", [2, 2, 2, 2], false),
    ("resnet34", [3, 4, 6, 3], false),
    ("resnet50", [3, 4, 6, 3], true),
    ("resnet101", [3, 4, 23, 3], true),
    ("resnet152", [3, 8, 36, 3], true),
];

#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Blocks in each of the four stages.
    pub layers: [usize; 4],
    /// Bottleneck blocks (ResNet-50 and deeper) rather than basic blocks.
    pub bottleneck: bool,
    #[config(default = 3)]
    pub in_channels: usize,
}

impl ResNetConfig {
    /// torchvision's network of that name (`resnet18` … `resnet152`).
    pub fn torchvision(name: &str) -> crate::error::Result<Self> {
        TORCHVISION
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, layers, bottleneck)| Self::new(*layers, *bottleneck))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown ResNet {name:?}: one of {}",
                    TORCHVISION.map(|t| t.0).join(", ")
                ))
            })
    }

    /// Length of the pooled feature vector (torchvision's `fc.in_features`).
    pub fn num_features(&self) -> usize {
        512 * if self.bottleneck { 4 } else { 1 }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet<B> {
        let mut in_channels = 64;
        let mut stage = |planes: usize, blocks: usize, stride: usize| -> Vec<ResNetBlock<B>> {
            (0..blocks)
                .map(|i| {
                    let cfg = ResNetBlockConfig::new(
                        in_channels,
                        planes,
                        if i == 0 { stride } else { 1 },
                        self.bottleneck,
                    );
                    in_channels = cfg.out_channels();
                    cfg.init(device)
                })
                .collect()
        };
        let layer1 = stage(64, self.layers[0], 1);
        let layer2 = stage(128, self.layers[1], 2);
        let layer3 = stage(256, self.layers[2], 2);
        let layer4 = stage(512, self.layers[3], 2);
        ResNet {
            conv1: torchvision_conv([self.in_channels, 64], 7, 2, 3).init(device),
            bn1: BatchNorm2dConfig::new(64).init(device),
            layer1,
            layer2,
            layer3,
            layer4,
        }
    }
}

#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm2d<B>,
    pub layer1: Vec<ResNetBlock<B>>,
    pub layer2: Vec<ResNetBlock<B>>,
    pub layer3: Vec<ResNetBlock<B>>,
    pub layer4: Vec<ResNetBlock<B>>,
}

impl<B: Backend> ResNet<B> {
    /// The pooled features `[batch, num_features]`: the stages, then the global average pool.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let y = self.forward_stages(x, 4);
        let [n, c, h, w] = y.dims();
        y.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
    }

    /// The stem (7×7 convolution, batch norm, ReLU, 3×3 max pool) and the first `stages` stages.
    pub fn forward_stages(&self, x: Tensor<B, 4>, stages: usize) -> Tensor<B, 4> {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        let mut x = max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], false);
        for layer in [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .take(stages)
        {
            for block in layer {
                x = block.forward(x);
            }
        }
        x
    }
}
