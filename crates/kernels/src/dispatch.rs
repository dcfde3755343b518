//! The one place that decides, at run time inside generic model code, whether ssl3d's CPU kernels
//! run: when the backend type parameter *is* `Autodiff<Flex>` or `Flex`, tensors are moved to
//! that concrete type and back ([`on_cpu`], [`back`]), so the kernels run without a trait bound
//! on every model; on any other backend (CUDA) the models use Burn's generic ops.
//!
//! [`KERNELS_ENV`]` = generic` (or [`with_generic_ops`] in code) makes the CPU backend take the
//! generic ops too: the very code path CUDA runs, testable on any machine.

use std::any::Any;
use std::cell::Cell;
use std::sync::OnceLock;

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{Shape, Tensor, TensorData, TensorPrimitive};

/// ssl3d's CPU training backend.
pub(crate) type CpuTrain = Autodiff<Flex>;

/// `value` as type `D` when `S` and `D` are the same type (a backend-specific fast path chosen
/// at run time, without adding a trait bound to every generic model).
pub fn cast<S: 'static, D: 'static>(value: S) -> Result<D, S> {
    let mut slot = Some(value);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<D>>() {
        Some(d) => Ok(d.take().expect("just filled")),
        None => Err(slot.expect("untouched")),
    }
}

/// [`cast`] where the types are known to be equal (checked just before).
pub fn same<S: 'static, D: 'static>(value: S) -> D {
    cast(value).unwrap_or_else(|_| unreachable!("the backend type was checked"))
}

/// A tensor of a generic backend `B`, seen as what ssl3d's CPU kernels can take.
pub(crate) enum OnCpu<B: Backend, const D: usize> {
    /// `B` is `Autodiff<Flex>`: a kernel that records its own backward.
    Train(Tensor<CpuTrain, D>),
    /// `B` is `Flex`: a kernel's forward alone.
    Infer(Tensor<Flex, D>),
    /// Any other backend: Burn's generic ops.
    Generic(Tensor<B, D>),
}

/// The environment variable that picks the kernels on the CPU backend: `cpu` (the default:
/// ssl3d's CPU kernels) or `generic` (Burn's generic ops, the code path of CUDA).
pub const KERNELS_ENV: &str = "SSL3D_KERNELS";

/// Which operations the models run on the CPU backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelChoice {
    /// ssl3d's CPU kernels where they exist (the default).
    Cpu,
    /// Burn's generic ops everywhere, as on CUDA.
    Generic,
}

impl KernelChoice {
    /// The choice named by [`KERNELS_ENV`]'s value; unset or empty is [`KernelChoice::Cpu`].
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("cpu") => Ok(KernelChoice::Cpu),
            Some("generic") => Ok(KernelChoice::Generic),
            Some(other) => Err(format!(
                "{KERNELS_ENV}={other:?} is not a kernel choice: use `cpu` (ssl3d's CPU kernels, \
                 the default) or `generic` (Burn's generic ops, the code path CUDA runs)"
            )),
        }
    }

    /// [`KERNELS_ENV`] as this process started with it (read once), or the error naming it.
    pub fn from_env() -> Result<Self, String> {
        static CHOICE: OnceLock<Result<KernelChoice, String>> = OnceLock::new();
        CHOICE
            .get_or_init(|| KernelChoice::parse(std::env::var(KERNELS_ENV).ok().as_deref()))
            .clone()
    }
}

thread_local! {
    /// Set while [`with_generic_ops`] runs on this thread.
    static GENERIC_SCOPE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with Burn's generic ops in place of ssl3d's CPU kernels on this thread (tests and
/// benchmarks of the CUDA code path on a CPU), restoring the previous choice afterwards.
pub fn with_generic_ops<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GENERIC_SCOPE.set(self.0);
        }
    }
    let _restore = Restore(GENERIC_SCOPE.replace(true));
    f()
}

/// Whether the CPU kernels are switched off here ([`with_generic_ops`] or [`KERNELS_ENV`]; and
/// under bf16 compute, since they are f32 only). An invalid [`KERNELS_ENV`] counts as `cpu` here;
/// the binaries refuse it before any work.
pub fn generic_ops_only() -> bool {
    GENERIC_SCOPE.get()
        || KernelChoice::from_env() == Ok(KernelChoice::Generic)
        || super::precision::computes_in_bf16()
}

/// Which of ssl3d's kernel paths `x`'s backend takes.
pub(crate) fn on_cpu<B: Backend, const D: usize>(x: Tensor<B, D>) -> OnCpu<B, D> {
    if generic_ops_only() {
        return OnCpu::Generic(x);
    }
    match cast::<_, Tensor<CpuTrain, D>>(x) {
        Ok(x) => OnCpu::Train(x),
        Err(x) => match cast::<_, Tensor<Flex, D>>(x) {
            Ok(x) => OnCpu::Infer(x),
            Err(x) => OnCpu::Generic(x),
        },
    }
}

impl<B: Backend, const D: usize> OnCpu<B, D> {
    /// The tensor back in its own backend, for a path the kernels do not cover.
    pub(crate) fn into_generic(self) -> Tensor<B, D> {
        match self {
            OnCpu::Train(x) => same(x),
            OnCpu::Infer(x) => same(x),
            OnCpu::Generic(x) => x,
        }
    }
}

/// A kernel's output on backend `C` (which [`on_cpu`] found `B` to be) as a tensor of `B`.
pub fn back<C: Backend, B: Backend, const D: usize>(out: C::FloatTensorPrimitive) -> Tensor<B, D> {
    same(Tensor::<C, D>::from_primitive(float(out)))
}

/// Whether `B` is the CPU backend (`Flex` or `Autodiff<Flex>`), kernels on or off.
pub fn is_cpu_backend<B: Backend>() -> bool {
    let b = std::any::TypeId::of::<B>();
    b == std::any::TypeId::of::<CpuTrain>() || b == std::any::TypeId::of::<Flex>()
}

/// Whether `B` is Burn's wgpu backend, with or without autodiff (its convolution's weight
/// gradient needs ssl3d's route: `conv::shifted_gemm`).
#[cfg_attr(not(feature = "wgpu"), allow(clippy::extra_unused_type_parameters))]
pub(crate) fn is_wgpu_backend<B: Backend>() -> bool {
    #[cfg(feature = "wgpu")]
    {
        use burn::backend::Autodiff;
        use burn::backend::wgpu::Wgpu;
        let b = std::any::TypeId::of::<B>();
        b == std::any::TypeId::of::<Wgpu>() || b == std::any::TypeId::of::<Autodiff<Wgpu>>()
    }
    #[cfg(not(feature = "wgpu"))]
    false
}

/// Whether backend `B` trains through ssl3d's CPU kernels (`Autodiff<Flex>`, not switched off).
pub(crate) fn trains_on_cpu_kernels<B: Backend>() -> bool {
    !generic_ops_only() && std::any::TypeId::of::<B>() == std::any::TypeId::of::<CpuTrain>()
}

/// The float primitive of a tensor (ssl3d uses no quantized tensors).
pub(crate) fn primitive<C: Backend, const D: usize>(t: Tensor<C, D>) -> C::FloatTensorPrimitive {
    match t.into_primitive() {
        TensorPrimitive::Float(p) => p,
        TensorPrimitive::QFloat(_) => panic!("quantized tensors are not used by ssl3d"),
    }
}

/// A CPU tensor of `shape` holding a kernel's output `values`.
pub(crate) fn flex_tensor<T: burn::tensor::Element>(
    values: Vec<T>,
    shape: impl Into<Shape>,
) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// Wraps a float primitive back into a tensor primitive.
pub fn float<C: Backend>(p: C::FloatTensorPrimitive) -> TensorPrimitive<C> {
    TensorPrimitive::Float(p)
}

/// The two float types ssl3d's CPU kernels run on; sums are taken in f64 either way.
pub(crate) trait Real: Copy + Send + Sync + burn::tensor::Element + bytemuck::Pod {
    fn widen(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn sqrt(self) -> Self;
}

impl Real for f32 {
    fn widen(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Real for f64 {
    fn widen(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}
