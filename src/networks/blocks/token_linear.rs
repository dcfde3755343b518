//! A `Linear` applied to a batch of token sequences as one 2-D matrix product.
//!
//! Burn 0.21's linear backward transposes the weight and then reshapes it to the input's rank
//! (`[1, out, in]` for `[batch, tokens, features]` inputs). On the CPU backend that reshape of a
//! transposed view copies the whole weight, single-threaded, for every linear layer in every
//! backward pass (10 % of a ViTAutoEnc training step). Flattening `[batch, tokens, features]` to
//! `[batch·tokens, features]` first keeps every tensor of the product 2-D, so the transposed
//! weight goes to the GEMM as a strided view. The arithmetic is the same product on every backend;
//! on the CPU backend the product runs as [`ssl3d_kernels::linear::linear`].

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// `linear.forward(x)` for `x: [batch, tokens, features]`, computed on `[batch·tokens, features]`.
pub(crate) fn token_linear<B: Backend>(linear: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, tokens, features] = x.dims();
    let y = ssl3d_kernels::linear::linear(linear, x.reshape([batch * tokens, features]));
    let out = y.dims()[1];
    y.reshape([batch, tokens, out])
}
