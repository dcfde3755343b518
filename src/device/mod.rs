//! The `--device` option every computing binary shares: `cpu`, `cuda`/`cuda:N`, or `wgpu`/`wgpu:N`.
//! Asking for a device that cannot work here is a clear error before any work starts, never a
//! panic deep inside the backend.

use std::fmt;
use std::str::FromStr;

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::AutodiffBackend;

use crate::error::{Error, Result};

mod cuda;
pub mod wgpu;

/// Where tensors live and kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// Burn's `flex` CPU backend.
    #[default]
    Cpu,
    /// Burn's CUDA backend on GPU number N (needs the `cuda` build feature and an NVIDIA driver).
    Cuda(usize),
    /// Burn's wgpu backend (Vulkan, Metal, DX12; needs the `wgpu` build feature): the best
    /// adapter wgpu finds (`None`), or the N-th discrete GPU.
    Wgpu(Option<usize>),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            "wgpu" => Ok(DeviceSpec::Wgpu(None)),
            _ => {
                let number = |prefix: &str| {
                    s.strip_prefix(prefix).map(|n| {
                        n.parse::<usize>().map_err(|_| {
                            Error::InvalidArgument(format!(
                                "--device {s}: the GPU number after '{prefix}' must be a whole number"
                            ))
                        })
                    })
                };
                if let Some(n) = number("cuda:") {
                    return n.map(DeviceSpec::Cuda);
                }
                if let Some(n) = number("wgpu:") {
                    return n.map(|n| DeviceSpec::Wgpu(Some(n)));
                }
                Err(Error::InvalidArgument(format!(
                    "--device {s}: expected cpu, cuda, cuda:N, wgpu or wgpu:N"
                )))
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Wgpu(None) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
        }
    }
}

impl DeviceSpec {
    /// Checks that this device can be used by this build on this machine, and that
    /// `SSL3D_KERNELS`, if set, names a kernel choice.
    pub fn check_available(&self) -> Result<()> {
        ssl3d_kernels::KernelChoice::from_env().map_err(Error::InvalidArgument)?;
        match self {
            DeviceSpec::Cpu => Ok(()),
            DeviceSpec::Cuda(n) => cuda::check(*n),
            DeviceSpec::Wgpu(n) => wgpu::check(*n),
        }
        .map_err(|problem| Error::Device {
            device: self.to_string(),
            problem,
        })
    }
}

/// Work that runs on whichever autodiff backend `--device` names (a trait, because a closure
/// cannot be generic over the backend).
pub trait OnBackend {
    type Output;
    fn run<B: AutodiffBackend>(self, device: &B::Device) -> Result<Self::Output>;
}

impl DeviceSpec {
    /// Checks the device, then runs `work` on its backend: Burn's Flex on the CPU, Burn's CUDA
    /// backend on GPU N, Burn's wgpu backend. The one place that maps `--device` to a backend type.
    pub fn run<W: OnBackend>(self, work: W) -> Result<W::Output> {
        self.check_available()?;
        match self {
            DeviceSpec::Cpu => work.run::<Autodiff<Flex>>(&Default::default()),
            DeviceSpec::Cuda(n) => cuda::run(work, n),
            DeviceSpec::Wgpu(n) => wgpu::run(work, n),
        }
    }
}

/// Runs `probe` (a first allocation on a device), turning a backend's panic into its message;
/// the panic is not printed.
#[cfg_attr(not(any(feature = "cuda", feature = "wgpu")), allow(dead_code))]
pub(crate) fn probe_quietly(
    probe: impl FnOnce() + std::panic::UnwindSafe,
) -> std::result::Result<(), String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probed = std::panic::catch_unwind(probe);
    std::panic::set_hook(hook);
    probed.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("CUDA:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        assert_eq!(
            "wgpu".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(None)
        );
        assert_eq!(
            "WGPU:1".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(Some(1))
        );
        assert!("wgpu:".parse::<DeviceSpec>().is_err());
        for d in ["cpu", "cuda:2", "wgpu", "wgpu:0"] {
            assert_eq!(d.parse::<DeviceSpec>().unwrap().to_string(), d);
        }
        assert!("tpu".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn cpu_is_always_available() {
        DeviceSpec::Cpu.check_available().unwrap();
    }
}
