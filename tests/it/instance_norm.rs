//! ssl3d's fused CPU instance norm, and its group norm with a learned scale and shift, give the
//! same outputs and gradients as the same maths in Burn tensor ops, on `Flex` and
//! `Autodiff<Flex>`, in f64 (tight) and f32.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Distribution, Tensor};
use ssl3d::kernels::affine_norm::{self, affine_group_norm};
use ssl3d::kernels::instance_norm::{instance_norm, reference};

type A = Autodiff<Flex>;

fn max_rel_diff<const D: usize>(ours: Tensor<Flex, D>, burn: Tensor<Flex, D>) -> f64 {
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

type AffineNorm<Bk> = fn(Tensor<Bk, 5>, Tensor<Bk, 1>, Tensor<Bk, 1>, usize) -> Tensor<Bk, 5>;

#[test]
fn the_fused_affine_group_norm_equals_burn_ops() {
    let uniform = |shape: Vec<usize>, lo: f64, hi: f64, dtype: DType| {
        Tensor::<Flex, 1>::random(
            [shape.iter().product::<usize>()],
            Distribution::Uniform(lo, hi),
            &Default::default(),
        )
        .cast(dtype)
    };
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        // Instance norm (a group per channel), group norm, one group for all channels.
        for (shape, groups) in [
            ([2, 4, 5, 4, 6], 4),
            ([2, 4, 5, 4, 6], 2),
            ([1, 6, 3, 1, 7], 1),
            ([1, 6, 3, 1, 7], 3),
        ] {
            let c = shape[1];
            let x = (uniform(shape.to_vec(), -1.0, 3.0, dtype) * 2.5 + 0.7).reshape(shape);
            let r = uniform(shape.to_vec(), -1.0, 1.0, dtype).reshape(shape);
            let (w, b) = (
                uniform(vec![c], 0.5, 1.5, dtype),
                uniform(vec![c], -0.5, 0.5, dtype),
            );

            let plain = max_rel_diff(
                affine_group_norm(x.clone(), w.clone(), b.clone(), groups),
                affine_norm::reference(x.clone(), w.clone(), b.clone(), groups),
            );
            assert!(
                plain <= tol,
                "{dtype:?} {shape:?} / {groups}: forward on Flex: {plain}"
            );

            let run = |f: AffineNorm<A>| {
                let xa = Tensor::<A, 5>::from_inner(x.clone()).require_grad();
                let wa = Tensor::<A, 1>::from_inner(w.clone()).require_grad();
                let ba = Tensor::<A, 1>::from_inner(b.clone()).require_grad();
                let y = f(xa.clone(), wa.clone(), ba.clone(), groups);
                let g = (y.clone() * Tensor::from_inner(r.clone())).sum().backward();
                let grad = |t: &Tensor<A, 1>| t.grad(&g).unwrap();
                (y.inner(), xa.grad(&g).unwrap(), grad(&wa), grad(&ba))
            };
            let (y, dx, dw, db) = run(affine_group_norm);
            let (y_burn, dx_burn, dw_burn, db_burn) = run(affine_norm::reference);
            let what = format!("{dtype:?} {shape:?} in {groups} groups");
            let forward = max_rel_diff(y, y_burn);
            assert!(forward <= tol, "{what}: forward: {forward}");
            let dx = max_rel_diff(dx, dx_burn);
            assert!(dx <= tol * 10.0, "{what}: ∂x: {dx}");
            let (dw, db) = (max_rel_diff(dw, dw_burn), max_rel_diff(db, db_burn));
            assert!(
                dw <= tol * 10.0 && db <= tol * 10.0,
                "{what}: ∂w {dw}, ∂b {db}"
            );
        }
    }
}
