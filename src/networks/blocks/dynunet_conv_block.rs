//! The blocks of MONAI's DynUNet (`monai.networks.blocks.dynunet_block`) with per-axis kernels and
//! strides and affine instance norm: `UnetBasicBlock` (conv → norm → LeakyReLU, twice; the first
//! conv may stride), `UnetResBlock` (the same with a residual, through a 1×1×1 strided conv and
//! norm when the shape changes) and `UnetUpBlock` (a transposed conv, the skip concatenated, a
//! basic block). Convolutions pad `(k − s + 1) / 2` per axis, MONAI's `get_padding`, so a stride-2
//! conv halves an even side exactly. Keys match MONAI's (`conv1.conv.weight`, `norm1.weight`, ...).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::{Initializer, PaddingConfig3d};
use burn::tensor::Tensor;
use burn::tensor::activation::leaky_relu;
use burn::tensor::backend::Backend;

use super::affine_instance_norm::AffineInstanceNorm;

/// MONAI's LeakyReLU slope.
const SLOPE: f64 = 0.01;

/// DynUNet's `initialize_weights`: `kaiming_normal_(a=0.01)` (fan in) for every convolution.
fn kaiming(a: f64) -> Initializer {
    Initializer::KaimingNormal {
        gain: (2.0 / (1.0 + a * a)).sqrt(),
        fan_out_only: false,
    }
}

/// DynUNet's `initialize_weights` sets every convolution bias to 0.
fn zero_bias<B: Backend>(
    bias: Option<Param<Tensor<B, 1>>>,
    device: &B::Device,
) -> Option<Param<Tensor<B, 1>>> {
    bias.map(|b| Param::from_tensor(Tensor::zeros(b.dims(), device)))
}

/// MONAI's `get_padding`: `(k − s + 1) / 2` per axis (refused when negative, before this).
pub(crate) fn same_padding(kernel: [usize; 3], stride: [usize; 3]) -> [usize; 3] {
    std::array::from_fn(|d| (kernel[d] + 1 - stride[d]) / 2)
}

/// A `Conv3d` wrapped as MONAI's `Convolution` (`<name>.conv.weight`), any kernel and stride.
#[derive(Module, Debug)]
pub struct StridedConvolution<B: Backend> {
    pub conv: Conv3d<B>,
}

impl<B: Backend> StridedConvolution<B> {
    pub fn new(
        channels: [usize; 2],
        kernel: [usize; 3],
        stride: [usize; 3],
        bias: bool,
        device: &B::Device,
    ) -> Self {
        let [p0, p1, p2] = same_padding(kernel, stride);
        let mut conv = Conv3dConfig::new(channels, kernel)
            .with_stride(stride)
            .with_padding(PaddingConfig3d::Explicit(p0, p1, p2))
            .with_bias(bias)
            .with_initializer(kaiming(SLOPE))
            .init(device);
        conv.bias = zero_bias(conv.bias, device);
        StridedConvolution { conv }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        ssl3d_kernels::conv::conv3d(&self.conv, x)
    }
}

/// The up-sampling transposed convolution (`transp_conv.conv.weight`): kernel = stride.
#[derive(Module, Debug)]
pub struct UpConvolution<B: Backend> {
    pub conv: ConvTranspose3d<B>,
}

impl<B: Backend> UpConvolution<B> {
    pub fn new(channels: [usize; 2], kernel: [usize; 3], bias: bool, device: &B::Device) -> Self {
        let padding = same_padding(kernel, kernel);
        // MONAI's get_output_padding: 2p + s − k.
        let padding_out = std::array::from_fn(|d| 2 * padding[d]);
        let mut conv = ConvTranspose3dConfig::new(channels, kernel)
            .with_stride(kernel)
            .with_padding(padding)
            .with_padding_out(padding_out)
            .with_bias(bias)
            .with_initializer(kaiming(SLOPE))
            .init(device);
        conv.bias = zero_bias(conv.bias, device);
        UpConvolution { conv }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        ssl3d_kernels::conv::conv_transpose3d(&self.conv, x)
    }
}

/// `UnetBasicBlock` or, with `conv3`/`norm3` or `residual`, `UnetResBlock`.
#[derive(Module, Debug)]
pub struct DynUnetConvBlock<B: Backend> {
    pub conv1: StridedConvolution<B>,
    pub conv2: StridedConvolution<B>,
    pub norm1: AffineInstanceNorm<B>,
    pub norm2: AffineInstanceNorm<B>,
    /// The residual's 1×1×1 strided convolution, when channels or size change.
    pub conv3: Option<StridedConvolution<B>>,
    pub norm3: Option<AffineInstanceNorm<B>>,
    /// A residual block (`UnetResBlock`); the identity residual has no parameters to say so.
    pub residual: bool,
}

impl<B: Backend> DynUnetConvBlock<B> {
    pub fn new(
        channels: [usize; 2],
        kernel: [usize; 3],
        stride: [usize; 3],
        residual: bool,
        device: &B::Device,
    ) -> Self {
        let [i, o] = channels;
        let reshapes = residual && (i != o || stride != [1; 3]);
        DynUnetConvBlock {
            conv1: StridedConvolution::new([i, o], kernel, stride, false, device),
            conv2: StridedConvolution::new([o, o], kernel, [1; 3], false, device),
            norm1: AffineInstanceNorm::new(o, device),
            norm2: AffineInstanceNorm::new(o, device),
            conv3: reshapes.then(|| StridedConvolution::new([i, o], [1; 3], stride, false, device)),
            norm3: reshapes.then(|| AffineInstanceNorm::new(o, device)),
            residual,
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let out = leaky_relu(self.norm1.forward(self.conv1.forward(x.clone())), SLOPE);
        let out = self.norm2.forward(self.conv2.forward(out));
        if !self.residual {
            return leaky_relu(out, SLOPE);
        }
        let residual = match (&self.conv3, &self.norm3) {
            (Some(c), Some(n)) => n.forward(c.forward(x)),
            _ => x,
        };
        leaky_relu(out + residual, SLOPE)
    }
}

/// `UnetUpBlock`: transposed conv up, the skip concatenated on channels, a basic block.
#[derive(Module, Debug)]
pub struct DynUnetUpBlock<B: Backend> {
    pub transp_conv: UpConvolution<B>,
    pub conv_block: DynUnetConvBlock<B>,
}

impl<B: Backend> DynUnetUpBlock<B> {
    pub fn new(
        channels: [usize; 2],
        kernel: [usize; 3],
        up_kernel: [usize; 3],
        trans_bias: bool,
        device: &B::Device,
    ) -> Self {
        let [i, o] = channels;
        DynUnetUpBlock {
            transp_conv: UpConvolution::new([i, o], up_kernel, trans_bias, device),
            conv_block: DynUnetConvBlock::new([2 * o, o], kernel, [1; 3], false, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>, skip: Tensor<B, 5>) -> Tensor<B, 5> {
        let up = self.transp_conv.forward(x);
        self.conv_block.forward(Tensor::cat(vec![up, skip], 1))
    }
}
