//! The precision of the models' matrix products: `f32`, or `bf16` as PyTorch's autocast does it.
//!
//! Burn 0.21 has no autocast. Under [`Precision::Bf16`], ssl3d's linear layers, convolutions,
//! transposed convolutions and attention cast their inputs and weights to bf16, compute, and cast
//! the result back to f32; everything else (the f32 master weights, the optimiser's moments,
//! layer and instance norms, GELU, softmax in the losses, the losses themselves) stays f32. Casts
//! are differentiable, so the gradients reach the f32 weights in f32. ssl3d's CPU kernels are f32
//! only, so bf16 runs Burn's generic ops (the path CUDA takes; on the CPU it is slow and meant for
//! checking).

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};

/// How the matrix products compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Precision {
    /// Everything in f32 (the default).
    #[default]
    F32,
    /// Matrix products and convolutions in bf16, the rest in f32 (autocast-style).
    Bf16,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

static PROCESS: OnceLock<Precision> = OnceLock::new();

thread_local! {
    /// Set while [`with_precision`] runs on this thread.
    static SCOPE: Cell<Option<Precision>> = const { Cell::new(None) };
}

/// Sets this process's precision once, before any model runs (the binaries' `--precision`).
/// Returns false if it was already set to something else.
pub fn set_precision(precision: Precision) -> bool {
    *PROCESS.get_or_init(|| precision) == precision
}

/// Runs `f` with `precision` on this thread (tests), restoring the previous one afterwards.
pub fn with_precision<R>(precision: Precision, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Precision>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPE.set(self.0);
        }
    }
    let _restore = Restore(SCOPE.replace(Some(precision)));
    f()
}

/// The precision in force here.
pub fn precision() -> Precision {
    SCOPE
        .get()
        .unwrap_or_else(|| PROCESS.get().copied().unwrap_or_default())
}

/// Whether the matrix products compute in bf16 here.
pub(crate) fn computes_in_bf16() -> bool {
    precision() == Precision::Bf16
}

/// `t` as a matrix product's operand: cast to bf16 under [`Precision::Bf16`], unchanged
/// otherwise.
pub(crate) fn lowered<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    match precision() {
        Precision::F32 => t,
        Precision::Bf16 => t.cast(DType::BF16),
    }
}

/// A matrix product's result back in `dtype` (the caller's) after [`lowered`] operands.
pub(crate) fn raised<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    match precision() {
        Precision::F32 => t,
        Precision::Bf16 => t.cast(dtype),
    }
}
