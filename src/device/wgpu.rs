//! `--device wgpu`: Burn's wgpu backend, the same CubeCL kernel sources as CUDA compiled for
//! Vulkan (Linux, Windows), Metal (macOS) or DX12. Without the `wgpu` build feature, asking for it
//! is a clear error. `wgpu` takes the best adapter wgpu finds (override with
//! `CUBECL_WGPU_DEFAULT_DEVICE`, e.g. `Cpu` for a software Vulkan device such as lavapipe);
//! `wgpu:N` the N-th discrete GPU.

use super::OnBackend;
use crate::error::Result;

#[cfg(feature = "wgpu")]
pub use enabled::*;

#[cfg(feature = "wgpu")]
mod enabled {
    use burn::backend::Autodiff;
    use burn::backend::wgpu::{Wgpu, WgpuDevice};
    use burn::tensor::Tensor;

    use super::super::probe_quietly;
    use super::*;
    use ssl3d_kernels::precision::{Precision, precision};

    /// The wgpu device `--device wgpu[:N]` names.
    pub fn wgpu_device(index: Option<usize>) -> WgpuDevice {
        index.map_or(WgpuDevice::DefaultDevice, WgpuDevice::DiscreteGpu)
    }

    pub(crate) fn run<W: OnBackend>(work: W, index: Option<usize>) -> Result<W::Output> {
        work.run::<Autodiff<Wgpu>>(&wgpu_device(index))
    }

    /// A first allocation on the device: wgpu panics when no adapter matches (no Vulkan/Metal
    /// driver, no such GPU), so that becomes a sentence. bf16 is refused: WGSL has no bf16 type.
    pub(crate) fn check(index: Option<usize>) -> std::result::Result<(), String> {
        if precision() == Precision::Bf16 {
            return Err(
                "--precision bf16 needs CUDA: wgpu's shader languages have no bf16 \
                        type; use --precision f32"
                    .into(),
            );
        }
        probe_quietly(|| {
            Tensor::<Wgpu, 1>::zeros([1], &wgpu_device(index)).into_data();
        })
        .map_err(|msg| {
            format!(
                "no usable wgpu adapter ({msg}); install a Vulkan driver (Linux: \
                 mesa-vulkan-drivers for a software device), see docs/GPU.md, or use --device cpu"
            )
        })
    }
}

#[cfg(not(feature = "wgpu"))]
const NO_WGPU_BUILD: &str = "this ssl3d was built without wgpu support; rebuild with \
     `cargo build --release --features wgpu` (see docs/GPU.md), or use --device cpu";

#[cfg(not(feature = "wgpu"))]
pub(crate) fn run<W: OnBackend>(_work: W, index: Option<usize>) -> Result<W::Output> {
    Err(crate::error::Error::Device {
        device: super::DeviceSpec::Wgpu(index).to_string(),
        problem: NO_WGPU_BUILD.into(),
    })
}

#[cfg(not(feature = "wgpu"))]
pub(crate) fn check(_index: Option<usize>) -> std::result::Result<(), String> {
    Err(NO_WGPU_BUILD.into())
}
