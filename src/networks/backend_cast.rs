//! Choosing a CPU-specific implementation at run time inside generic model code: when the
//! backend type parameter *is* `Flex` or `Autodiff<Flex>`, tensors are moved to that concrete
//! type and back, so ssl3d's CPU kernels run without adding a trait bound to every model.

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
    /// `e^self` in the type's own precision (as PyTorch's and Burn's kernels compute it).
    fn exp(self) -> Self;
    fn sqrt(self) -> Self;
}

impl Real for f32 {
    fn widen(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn exp(self) -> Self {
        f32::exp(self)
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
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}
