//! ssl3d's fused CPU DiceCE gives the same loss, parts and logit gradient as the same maths in
//! Burn tensor ops (`reference_parts`), on `Flex` and `Autodiff<Flex>`, in f64 (tight) and f32,
//! for every Dice option the fused kernel takes. The tutorial's setting is also checked against
//! MONAI's own numbers in tests/losses_metrics.rs and tests/networks.rs.

use crate::common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Distribution, Tensor, TensorData};
use common::max_rel_diff;
use ssl3d::losses::{DiceCeLossConfig, DiceLossConfig, Reduction};

type A = Autodiff<Flex>;

fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().unwrap()
}

/// Labels 0..classes plus two voxels that are no class (out of range, not whole): their one-hot
/// rows are zero in both versions.
fn labels(shape: [usize; 5], classes: usize) -> Tensor<Flex, 5> {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> = (0..n).map(|i| ((i * 7 + i / 5) % classes) as f32).collect();
    v[1] = classes as f32 + 3.0;
    v[n - 2] = 1.5;
    Tensor::from_data(TensorData::new(v, shape), &Default::default())
}

fn configs() -> Vec<DiceCeLossConfig> {
    let tutorial = DiceCeLossConfig::tutorial();
    let with = |f: fn(&mut DiceLossConfig)| {
        let mut c = tutorial;
        f(&mut c.dice);
        c
    };
    vec![
        tutorial,
        with(|d| d.include_background = false),
        with(|d| d.squared_pred = true),
        with(|d| d.jaccard = true),
        with(|d| d.batch = true),
        with(|d| {
            d.reduction = Reduction::Sum;
            d.smooth_nr = 0.0;
            d.smooth_dr = 1e-6;
        }),
        DiceCeLossConfig {
            lambda_dice: 0.3,
            lambda_ce: 1.7,
            ..tutorial
        },
    ]
}

#[test]
fn the_fused_dice_ce_equals_burn_ops() {
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-5)] {
        for (shape, classes) in [([2, 1, 5, 6, 7], 4), ([1, 1, 17, 1, 300], 3)] {
            let logits_shape = [shape[0], classes, shape[2], shape[3], shape[4]];
            let dev = Default::default();
            let x = Tensor::<Flex, 5>::random(logits_shape, Distribution::Uniform(-4.0, 4.0), &dev)
                .cast(dtype);
            let y = labels(shape, classes).cast(dtype);
            for config in configs() {
                let ours = config.forward_parts(x.clone(), y.clone());
                let reference = config.reference_parts(x.clone(), y.clone());
                for (name, o, r) in [
                    ("total", ours.0, reference.0),
                    ("dice", ours.1, reference.1),
                    ("ce", ours.2, reference.2),
                ] {
                    let d = max_rel_diff(&values(o), &values(r));
                    assert!(
                        d <= tol,
                        "{dtype:?} {shape:?} {config:?} {name} on Flex: {d}"
                    );
                }

                // The gradient of 2.5·total, so the upstream gradient is not just 1.
                let grads = |reference: bool| {
                    let xa = Tensor::<A, 5>::from_inner(x.clone()).require_grad();
                    let ya = Tensor::<A, 5>::from_inner(y.clone());
                    let parts = if reference {
                        config.reference_parts(xa.clone(), ya)
                    } else {
                        config.forward_parts(xa.clone(), ya)
                    };
                    let g = (parts.0.clone() * 2.5).backward();
                    (values(parts.0.inner()), values(xa.grad(&g).unwrap()))
                };
                let (total, g_ours) = grads(false);
                let (total_ref, g_ref) = grads(true);
                let d = max_rel_diff(&total, &total_ref);
                assert!(
                    d <= tol,
                    "{dtype:?} {shape:?} {config:?} tracked total: {d}"
                );
                let d = max_rel_diff(&g_ours, &g_ref);
                assert!(
                    d <= tol * 10.0,
                    "{dtype:?} {shape:?} {config:?} ∂logits: {d}"
                );
            }
        }
    }
}

#[test]
fn the_fused_dice_ce_sums_do_not_depend_on_the_thread_count() {
    let x = Tensor::<Flex, 5>::random(
        [2, 3, 40, 30, 20],
        Distribution::Default,
        &Default::default(),
    );
    let y = labels([2, 1, 40, 30, 20], 3);
    let config = DiceCeLossConfig::tutorial();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let xa = Tensor::<A, 5>::from_inner(x.clone()).require_grad();
            let total = config.forward(xa.clone(), Tensor::from_inner(y.clone()));
            let g = total.clone().backward();
            (values(total.inner()), values(xa.grad(&g).unwrap()))
        })
    };
    assert_eq!(run(1), run(3));
}
