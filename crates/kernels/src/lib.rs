//! ssl3d's CPU kernels for Burn's Flex backend: where Flex's generic ops are slow for the
//! tutorial's shapes (single-threaded broadcasts, im2col per tile, scalar `erf`), these compute
//! the same values — to rounding, bit for bit where the tests say so — in parallel, vectorised
//! passes, and record their own backward under autodiff. `dispatch` is the one place that picks
//! them: on `Autodiff<Flex>` and `Flex` the kernel runs, on any other backend (CUDA) Burn's generic
//! op does, and `SSL3D_KERNELS=generic` makes the CPU take that path too. Models and losses call the
//! functions here and stay backend-agnostic.

pub mod affine_norm;
pub mod attention;
pub mod conv;
pub mod dice_ce;
mod dispatch;
pub use dispatch::{KERNELS_ENV, KernelChoice, generic_ops_only, is_cpu_backend, with_generic_ops};
pub mod fused_adam;
pub mod gelu;
pub mod instance_norm;
pub mod linear;
pub mod patches;
pub mod permute;
pub mod precision;
mod row_softmax;
#[cfg(test)]
pub(crate) mod test_tensors;
pub mod upsample;
mod vector_math;
pub mod window_softmax;
