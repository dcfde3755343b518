//! The one place that decides, at run time inside generic model code, whether ssl3d's CPU kernels
//! run: when the backend type parameter *is* `Autodiff<Flex>` or `Flex`, tensors are moved to
//! that concrete type and back ([`on_cpu`], [`back`]), so the kernels run without a trait bound
//! on every model; on any other backend (CUDA) the models use Burn's generic ops.

use std::any::Any;

use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{Shape, Tensor, TensorData, TensorPrimitive};

/// ssl3d's CPU training backend.
pub type CpuTrain = Autodiff<Flex>;

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
pub enum OnCpu<B: Backend, const D: usize> {
    /// `B` is `Autodiff<Flex>`: a kernel that records its own backward.
    Train(Tensor<CpuTrain, D>),
    /// `B` is `Flex`: a kernel's forward alone.
    Infer(Tensor<Flex, D>),
    /// Any other backend: Burn's generic ops.
    Generic(Tensor<B, D>),
}

/// Which of ssl3d's kernel paths `x`'s backend takes.
pub fn on_cpu<B: Backend, const D: usize>(x: Tensor<B, D>) -> OnCpu<B, D> {
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
    pub fn into_generic(self) -> Tensor<B, D> {
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

/// Whether backend `B` trains through ssl3d's CPU kernels (`Autodiff<Flex>`).
pub fn trains_on_cpu_kernels<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<CpuTrain>()
}

/// The float primitive of a tensor (ssl3d uses no quantized tensors).
pub fn primitive<C: Backend, const D: usize>(t: Tensor<C, D>) -> C::FloatTensorPrimitive {
    match t.into_primitive() {
        TensorPrimitive::Float(p) => p,
        TensorPrimitive::QFloat(_) => panic!("quantized tensors are not used by ssl3d"),
    }
}

/// A CPU tensor of `shape` holding a kernel's output `values`.
pub fn flex_tensor<T: burn::tensor::Element>(
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
pub trait Real: Copy + Send + Sync + burn::tensor::Element + bytemuck::Pod {
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
