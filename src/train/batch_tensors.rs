//! Between the data side (ndarray batches) and the model side (Burn tensors).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ndarray::{Array, Array5, Dimension};

/// An array as a tensor on `device` (of the same rank).
pub(crate) fn array_to_tensor<B: Backend, const N: usize, D: Dimension>(
    a: &Array<f32, D>,
    device: &B::Device,
) -> Tensor<B, N> {
    let shape: [usize; N] = a.shape().try_into().expect("array and tensor of one rank");
    let data = match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    };
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A tensor back as an array (for stitching and metrics on the CPU side).
pub(crate) fn tensor_to_array<B: Backend>(t: Tensor<B, 5>) -> Array5<f32> {
    let shape: [usize; 5] = t.dims();
    let v: Vec<f32> = t.into_data().convert::<f32>().to_vec().expect("f32 tensor");
    Array5::from_shape_vec(shape, v).expect("shape matches data")
}

/// A one-element tensor as f64.
pub fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("scalar")[0]
}
