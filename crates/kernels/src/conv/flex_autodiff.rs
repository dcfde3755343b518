//! Convolutions on `Autodiff<Flex>` (ssl3d's CPU training backend) with faster backward passes.
//!
//! Convolutions run as tiled im2col + GEMM ([`convolve`]); transposed convolutions forward are
//! Flex's own. The backward passes compute the same gradients as Burn's defaults by cheaper
//! routes at full resolution:
//! - weight gradients (plain and transposed) by tiled im2col + GEMM ([`correlate`]) instead of a
//!   convolution whose "kernel" is the whole output gradient;
//! - the input gradient of a stride-1 convolution as a convolution with the flipped, transposed
//!   kernel, instead of Flex's transposed convolution (one column buffer of `C·27×96³` values and
//!   a single-threaded scatter); that of a transposed convolution as a strided convolution.
//!
//! Anything else (groups, dtypes other than f32/f64, strided input gradients) takes Burn's
//! default.

use std::marker::PhantomData;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, FloatTensorOps, ModuleOps};
use burn::tensor::{DType, TensorData, TensorMetadata};

use super::forward::convolve;
use super::im2col::Taps;
use super::weight_grad::correlate;

/// The float tensor primitive of `Autodiff<Flex>`.
pub(crate) type TrackedTensor = burn::tensor::ops::FloatTensor<Autodiff<Flex>>;

/// `conv3d(x, weight)` without bias, recorded with ssl3d's backward.
pub fn conv3d(x: TrackedTensor, weight: TrackedTensor, options: ConvOptions<3>) -> TrackedTensor {
    record::<Plain>(x, weight, options)
}

/// `conv_transpose3d(x, weight)` without bias, recorded with ssl3d's backward.
pub fn conv_transpose3d(
    x: TrackedTensor,
    weight: TrackedTensor,
    options: ConvTransposeOptions<3>,
) -> TrackedTensor {
    record::<Transposed>(x, weight, options)
}

/// What differs between a convolution and a transposed one: the forward and the two gradients.
trait ConvKind: std::fmt::Debug + Send + 'static {
    type Options: Clone + Send + std::fmt::Debug + 'static;
    fn forward(x: FlexTensor, weight: FlexTensor, options: &Self::Options) -> FlexTensor;
    fn x_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &Self::Options,
    ) -> FlexTensor;
    fn weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &Self::Options,
    ) -> FlexTensor;
}

#[derive(Debug)]
struct Plain;

impl ConvKind for Plain {
    type Options = ConvOptions<3>;
    fn forward(x: FlexTensor, weight: FlexTensor, options: &Self::Options) -> FlexTensor {
        conv3d_forward(x, weight, options)
    }
    /// With stride 1 and no dilation, a "full" convolution of the output gradient with the
    /// kernel flipped in space and its channel axes swapped.
    fn x_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &Self::Options,
    ) -> FlexTensor {
        let [_, _, k0, k1, k2] = weight.shape().dims();
        let kernel = [k0, k1, k2];
        let simple = options.stride == [1; 3]
            && options.dilation == [1; 3]
            && options.groups == 1
            && (0..3).all(|i| options.padding[i] < kernel[i]);
        if !simple {
            return Flex::conv3d_x_backward(x, weight, grad, options.clone());
        }
        let flipped = Flex::float_swap_dims(Flex::float_flip(weight, &[2, 3, 4]), 0, 1);
        let padding = [0, 1, 2].map(|i| kernel[i] - 1 - options.padding[i]);
        conv3d_forward(grad, flipped, &ConvOptions::new([1; 3], padding, [1; 3], 1))
    }
    /// `[C_out, C_in, k…]`: the output gradient over the output grid against the input read
    /// under each tap.
    fn weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &Self::Options,
    ) -> FlexTensor {
        if options.groups != 1 || !supported(&[&x, &weight, &grad]) {
            return Flex::conv3d_weight_backward(x, weight, grad, options.clone());
        }
        let taps = [options.stride, options.dilation, options.padding];
        correlate_flex(&grad, &x, &weight, taps)
    }
}

#[derive(Debug)]
struct Transposed;

impl ConvKind for Transposed {
    type Options = ConvTransposeOptions<3>;
    fn forward(x: FlexTensor, weight: FlexTensor, options: &Self::Options) -> FlexTensor {
        Flex::conv_transpose3d(x, weight, None, options.clone())
    }
    /// The output gradient convolved with the same kernel and stride (Burn's way where
    /// `padding_out` made the output larger than that convolution's input).
    fn x_grad(
        _x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &Self::Options,
    ) -> FlexTensor {
        if options.padding_out != [0; 3] {
            return Flex::conv_transpose3d_x_backward(weight, grad, options.clone());
        }
        let conv = ConvOptions::new(
            options.stride,
            options.padding,
            options.dilation,
            options.groups,
        );
        conv3d_forward(grad, weight, &conv)
    }
    /// `[C_in, C_out, k…]`: the input over its own grid against the output gradient read where
    /// each tap wrote.
    fn weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &Self::Options,
    ) -> FlexTensor {
        if options.groups != 1 || !supported(&[&x, &weight, &grad]) {
            return Flex::conv_transpose3d_weight_backward(x, weight, grad, options.clone());
        }
        let taps = [options.stride, options.dilation, options.padding];
        correlate_flex(&x, &grad, &weight, taps)
    }
}

/// The autodiff step of a convolution of kind `K` (input and weight are its two parents).
#[derive(Debug)]
struct ConvBackward<K>(PhantomData<K>);

impl<K: ConvKind> Backward<Flex, 2> for ConvBackward<K> {
    type State = (NodeId, NodeId, K::Options);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        if let Some(node) = node_x {
            let x_grad = K::x_grad(x.clone(), weight.clone(), grad.clone(), &options);
            grads.register::<Flex>(node.id, x_grad);
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, K::weight_grad(x, weight, grad, &options));
        }
    }
}

/// Runs `K`'s forward and, when either input is tracked, records its backward.
fn record<K: ConvKind>(
    x: TrackedTensor,
    weight: TrackedTensor,
    options: K::Options,
) -> TrackedTensor {
    match ConvBackward::<K>(PhantomData)
        .prepare::<NoCheckpointing>([x.node.clone(), weight.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let out = K::forward(x.primitive, weight.primitive, &options);
            prep.finish((x_state, weight_state, options), out)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(K::forward(x.primitive, weight.primitive, &options))
        }
    }
}

/// A convolution without bias: tiled im2col + GEMM for f32/f64 without groups, else Flex's.
pub(crate) fn conv3d_forward(
    x: FlexTensor,
    weight: FlexTensor,
    options: &ConvOptions<3>,
) -> FlexTensor {
    if options.groups != 1 || !supported(&[&x, &weight]) {
        return Flex::conv3d(x, weight, None, options.clone());
    }
    let [batch, c_in, d, h, w] = x.shape().dims();
    let [c_out, _, k0, k1, k2] = weight.shape().dims();
    let kernel = [k0, k1, k2];
    let dims = [d, h, w];
    let grid = [0, 1, 2].map(|i| {
        let span = options.dilation[i] * (kernel[i] - 1) + 1;
        (dims[i] + 2 * options.padding[i] - span) / options.stride[i] + 1
    });
    let taps = Taps {
        grid,
        src_dims: dims,
        kernel,
        stride: options.stride,
        dilation: options.dilation,
        padding: options.padding,
    };
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let shape = [batch, c_out, grid[0], grid[1], grid[2]];
    let data = match x.dtype() {
        DType::F32 => TensorData::new(
            convolve(
                x.storage::<f32>(),
                c_in,
                weight.storage::<f32>(),
                c_out,
                batch,
                &taps,
            ),
            shape,
        ),
        _ => TensorData::new(
            convolve(
                x.storage::<f64>(),
                c_in,
                weight.storage::<f64>(),
                c_out,
                batch,
                &taps,
            ),
            shape,
        ),
    };
    FlexTensor::from_data(data)
}

/// The kernel runs on f32 and f64 tensors of one dtype.
fn supported(tensors: &[&FlexTensor]) -> bool {
    let dtype = tensors[0].dtype();
    matches!(dtype, DType::F32 | DType::F64) && tensors.iter().all(|t| t.dtype() == dtype)
}

/// [`correlate`] of `a` (over its own grid) against `src`, shaped like `weight`; `taps` is
/// `[stride, dilation, padding]`.
fn correlate_flex(
    a: &FlexTensor,
    src: &FlexTensor,
    weight: &FlexTensor,
    taps: [[usize; 3]; 3],
) -> FlexTensor {
    let [batch, a_channels, g0, g1, g2] = a.shape().dims();
    let [_, src_channels, s0, s1, s2] = src.shape().dims();
    let [_, _, k0, k1, k2] = weight.shape().dims();
    let [stride, dilation, padding] = taps;
    let taps = Taps {
        grid: [g0, g1, g2],
        src_dims: [s0, s1, s2],
        kernel: [k0, k1, k2],
        stride,
        dilation,
        padding,
    };
    let (a, src) = (a.to_contiguous(), src.to_contiguous());
    let data = match a.dtype() {
        DType::F32 => TensorData::new(
            correlate(
                a.storage::<f32>(),
                a_channels,
                src.storage::<f32>(),
                src_channels,
                batch,
                &taps,
            ),
            weight.shape(),
        ),
        _ => TensorData::new(
            correlate(
                a.storage::<f64>(),
                a_channels,
                src.storage::<f64>(),
                src_channels,
                batch,
                &taps,
            ),
            weight.shape(),
        ),
    };
    FlexTensor::from_data(data)
}
