//! `--device cuda[:N]`: Burn's CUDA backend. Without the `cuda` build feature, asking for it is a
//! clear error; with it, a machine without an NVIDIA driver or without GPU N gets a sentence, not
//! a panic.

#[cfg(feature = "cuda")]
use burn::backend::Autodiff;

use super::OnBackend;
use crate::error::Result;
#[cfg(not(feature = "cuda"))]
use {super::DeviceSpec, crate::error::Error};

#[cfg(feature = "cuda")]
pub(super) fn run<W: OnBackend>(work: W, index: usize) -> Result<W::Output> {
    work.run::<Autodiff<burn::backend::Cuda>>(&burn::backend::cuda::CudaDevice::new(index))
}

#[cfg(not(feature = "cuda"))]
pub(super) fn run<W: OnBackend>(_work: W, index: usize) -> Result<W::Output> {
    Err(Error::Device {
        device: DeviceSpec::Cuda(index).to_string(),
        problem: NO_CUDA_BUILD.into(),
    })
}

#[cfg(not(feature = "cuda"))]
const NO_CUDA_BUILD: &str = "this ssl3d was built without CUDA support; rebuild with \
     `cargo build --release --features cuda` (see docs/GPU.md), or use --device cpu";

#[cfg(not(feature = "cuda"))]
pub(super) fn check(_index: usize) -> std::result::Result<(), String> {
    Err(NO_CUDA_BUILD.into())
}

#[cfg(feature = "cuda")]
pub(super) fn check(index: usize) -> std::result::Result<(), String> {
    use burn::backend::Cuda;
    use burn::backend::cuda::CudaDevice;
    use burn::tensor::Tensor;

    // The driver library is loaded at run time: look for it before the backend does, so a machine
    // without one gets a sentence instead of a panic.
    let names = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"];
    let loaded = names
        .iter()
        .any(|n| unsafe { libloading::Library::new(n) }.is_ok());
    if !loaded {
        return Err(
            "no NVIDIA driver found (libcuda.so.1 cannot be loaded); use --device cpu".into(),
        );
    }
    // A first allocation initialises the context; the backend panics on failure (no such GPU,
    // driver too old), so catch that once here, quietly.
    super::probe_quietly(|| {
        let device = CudaDevice::new(index);
        Tensor::<Cuda, 1>::zeros([1], &device).into_data();
    })
    .map_err(|msg| format!("CUDA device {index} cannot be initialised: {msg}"))
}
