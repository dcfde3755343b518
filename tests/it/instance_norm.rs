//! ssl3d's fused CPU instance norm gives the same output and input gradient as the same maths in
//! Burn tensor ops, on `Flex` and `Autodiff<Flex>`, in f64 (tight) and f32.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Distribution, Tensor};
use ssl3d::kernels::instance_norm::{instance_norm, reference};

type A = Autodiff<Flex>;

fn max_rel_diff(ours: Tensor<Flex, 5>, burn: Tensor<Flex, 5>) -> f64 {
    let o: Vec<f64> = ours.into_data().convert::<f64>().to_vec().unwrap();
    let b: Vec<f64> = burn.into_data().convert::<f64>().to_vec().unwrap();
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    o.iter()
        .zip(&b)
        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
        / scale
}

#[test]
fn the_fused_instance_norm_equals_burn_ops() {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        for shape in [[2, 3, 5, 4, 6], [1, 2, 9, 1, 7]] {
            let dev = Default::default();
            // An offset and scale per element keep mean and variance away from 0 and 1.
            let x = Tensor::<Flex, 5>::random(shape, Distribution::Uniform(-1.0, 3.0), &dev)
                .cast(dtype);
            let x = x.clone() * 2.5 + 0.7;
            let r = Tensor::<Flex, 5>::random(shape, Distribution::Uniform(-1.0, 1.0), &dev)
                .cast(dtype);

            let plain = max_rel_diff(instance_norm(x.clone()), reference(x.clone()));
            assert!(plain <= tol, "{dtype:?} {shape:?} forward on Flex: {plain}");

            let grads = |f: fn(Tensor<A, 5>) -> Tensor<A, 5>| {
                let xa = Tensor::<A, 5>::from_inner(x.clone()).require_grad();
                let y = f(xa.clone());
                let g = (y.clone() * Tensor::from_inner(r.clone())).sum().backward();
                (y.inner(), xa.grad(&g).unwrap())
            };
            let (y_ours, g_ours) = grads(instance_norm);
            let (y_burn, g_burn) = grads(reference);
            let forward = max_rel_diff(y_ours, y_burn);
            let backward = max_rel_diff(g_ours, g_burn);
            assert!(forward <= tol, "{dtype:?} {shape:?} forward: {forward}");
            assert!(backward <= tol * 10.0, "{dtype:?} {shape:?} ∂x: {backward}");
        }
    }
}
