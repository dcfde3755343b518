//! ssl3d's CPU trilinear ×2 up-sampling (SegResNet's decoder, the Swin SSL head) gives the values
//! of the same maths in Burn tensor ops, and the same input gradient, on `Flex` and
//! `Autodiff<Flex>`, in f64 and f32, including axes of one voxel (edges on both sides at once).

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Distribution, Tensor};
use ssl3d::kernels::upsample::{reference, upsample_trilinear_2x};

type A = Autodiff<Flex>;

fn max_abs_diff(ours: Tensor<Flex, 5>, burn: Tensor<Flex, 5>) -> f64 {
    let o: Vec<f64> = ours.into_data().convert::<f64>().to_vec().unwrap();
    let b: Vec<f64> = burn.into_data().convert::<f64>().to_vec().unwrap();
    assert_eq!(o.len(), b.len());
    o.iter()
        .zip(&b)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
}

#[test]
fn the_cpu_upsampling_equals_burn_ops_and_so_does_its_gradient() {
    let dev = Default::default();
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        for shape in [[2, 3, 4, 5, 3], [1, 2, 1, 6, 1], [1, 1, 7, 1, 2]] {
            let x = Tensor::<Flex, 5>::random(shape, Distribution::Uniform(-2.0, 2.0), &dev)
                .cast(dtype);
            let up = upsample_trilinear_2x(x.clone());
            assert_eq!(up.dims(), doubled(shape));
            let forward = max_abs_diff(up, reference(x.clone()));
            assert!(forward <= tol, "{dtype:?} {shape:?}: forward {forward}");

            let r =
                Tensor::<Flex, 5>::random(doubled(shape), Distribution::Uniform(-1.0, 1.0), &dev)
                    .cast(dtype);
            let grad = |f: fn(Tensor<A, 5>) -> Tensor<A, 5>| {
                let xa = Tensor::<A, 5>::from_inner(x.clone()).require_grad();
                let g = (f(xa.clone()) * Tensor::from_inner(r.clone()))
                    .sum()
                    .backward();
                xa.grad(&g).unwrap()
            };
            let backward = max_abs_diff(grad(upsample_trilinear_2x), grad(reference));
            assert!(backward <= tol * 10.0, "{dtype:?} {shape:?}: ∂x {backward}");
        }
    }
}

/// The output shape: each spatial axis doubled.
fn doubled(shape: [usize; 5]) -> [usize; 5] {
    [shape[0], shape[1], 2 * shape[2], 2 * shape[3], 2 * shape[4]]
}
