//! Losses, metrics and sliding-window inference against the entries of
//! `$SSL3D_REFERENCE_DIR/monai/transform_vectors.json` computed with MONAI 1.5 (read from the file),
//! plus MONAI's edge cases and the sliding window's exactness on an identity predictor.

use crate::common::{self, formula};

use std::collections::BTreeMap;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use ndarray::{Array5, ArrayD, IxDyn};
use serde_json::Value;
use ssl3d::inferers::{BlendMode, SlidingWindow, importance_map, scan_interval, window_starts};
use ssl3d::losses::{DiceCeLossConfig, contrastive_loss, l1_loss, ssl_total_loss};
use ssl3d::metrics::{DiceMetric, argmax_channels, dice_per_class, mean_of_running_aggregates};

type B = Flex;

fn vectors() -> Option<BTreeMap<String, Value>> {
    let dir = common::reference_dir()?;
    let text = std::fs::read_to_string(dir.join("monai/transform_vectors.json")).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn nested_floats(v: &Value, out: &mut Vec<f64>, shape: &mut Vec<usize>, depth: usize) {
    match v {
        Value::Array(a) => {
            if shape.len() <= depth {
                shape.push(a.len());
            }
            for x in a {
                nested_floats(x, out, shape, depth + 1);
            }
        }
        other => out.push(other.as_f64().unwrap_or(f64::NAN)),
    }
}

/// A nested JSON list as an n-D array.
fn ndarray_of(v: &Value) -> ArrayD<f64> {
    let (mut data, mut shape) = (Vec::new(), Vec::new());
    nested_floats(v, &mut data, &mut shape, 0);
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn tensor2(v: &Value) -> Tensor<B, 2> {
    let a = ndarray_of(v);
    let shape = [a.shape()[0], a.shape()[1]];
    Tensor::from_data(
        TensorData::new(a.iter().map(|&x| x as f32).collect::<Vec<_>>(), shape),
        &Default::default(),
    )
}

fn scalar(t: Tensor<B, 1>) -> f64 {
    t.into_data().to_vec::<f32>().unwrap()[0] as f64
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// "shape (2,3,2,2,2)" inside a formula description.
fn shape_in(desc: &str) -> Vec<usize> {
    let inner = &desc[desc.find("shape (").unwrap() + 7..];
    inner[..inner.find(')').unwrap()]
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect()
}

#[test]
fn contrastive_loss_equals_monai_and_stays_finite_where_monai_overflows() {
    let Some(v) = vectors() else { return };
    let e = &v["contrastive_loss"];
    for (key, value) in e.as_object().unwrap() {
        let Some(t) = key.strip_prefix('t').and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        let got = scalar(contrastive_loss(
            tensor2(&e["input"]),
            tensor2(&e["target"]),
            t,
        ));
        assert!(
            rel(got, value.as_f64().unwrap()) < 1e-5,
            "T={t}: {got} vs {value}"
        );
    }
    // MONAI gives NaN at T = 0.005 (exp(1/T) overflows in f32); the log-sum-exp form does not.
    let got = scalar(contrastive_loss(
        tensor2(&e["input"]),
        tensor2(&e["target"]),
        0.005,
    ));
    assert!(got.is_finite(), "{got}");
}

#[test]
fn contrastive_gradients_flow_through_both_ssl_factors() {
    type A = Autodiff<Flex>;
    let dev = Default::default();
    let x = Tensor::<A, 2>::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0, 0.5, -1.0, 2.0], [2, 3]),
        &dev,
    )
    .require_grad();
    let y = Tensor::<A, 2>::from_data(
        TensorData::new(vec![1.0f32, 2.5, 2.0, 0.0, -1.0, 2.2], [2, 3]),
        &dev,
    );
    let gt = Tensor::<A, 2>::zeros([2, 3], &dev);
    let r = l1_loss(x.clone(), gt);
    let c = contrastive_loss(x.clone(), y, 0.5);
    let total = ssl_total_loss(r.clone(), c.clone());
    let grads = total.backward();
    let g = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
    // d(r + c·r)/dx = (1 + c)·dr/dx + r·dc/dx: check one coordinate by finite differences.
    let f = |delta: f32| {
        let mut xs = vec![1.0f32, 2.0, 3.0, 0.5, -1.0, 2.0];
        xs[1] += delta;
        let x = Tensor::<B, 2>::from_data(TensorData::new(xs, [2, 3]), &Default::default());
        let y = Tensor::<B, 2>::from_data(
            TensorData::new(vec![1.0f32, 2.5, 2.0, 0.0, -1.0, 2.2], [2, 3]),
            &Default::default(),
        );
        let r = l1_loss(x.clone(), Tensor::zeros([2, 3], &Default::default()));
        scalar(ssl_total_loss(r, contrastive_loss(x, y, 0.5)))
    };
    let fd = (f(1e-2) - f(-1e-2)) / 2e-2;
    assert!(
        (g[1] as f64 - fd).abs() < 2e-3,
        "grad {} vs finite difference {fd}",
        g[1]
    );
}

#[test]
fn dicece_loss_equals_monai() {
    dicece_against_monai();
}

/// The code path CUDA runs (Burn's generic ops, no CPU kernel), against the same MONAI values.
#[test]
fn dicece_loss_equals_monai_through_burns_generic_ops() {
    ssl3d::kernels::with_generic_ops(dicece_against_monai);
}

fn dicece_against_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["dicece_loss"];
    let ls = shape_in(e["logits_formula"].as_str().unwrap());
    let ys = shape_in(e["labels_formula"].as_str().unwrap());
    let dev = Default::default();
    let logits = Tensor::<B, 5>::from_data(
        TensorData::new(floats(&e["logits"]), [ls[0], ls[1], ls[2], ls[3], ls[4]]),
        &dev,
    );
    let labels = Tensor::<B, 5>::from_data(
        TensorData::new(floats(&e["labels"]), [ys[0], ys[1], ys[2], ys[3], ys[4]]),
        &dev,
    );
    let (total, dice, ce) = DiceCeLossConfig::tutorial().forward_parts(logits, labels);
    for (name, got) in [("total", total), ("dice", dice), ("ce", ce)] {
        let got = scalar(got);
        let want = e[name].as_f64().unwrap();
        assert!(rel(got, want) < 1e-5, "{name}: {got} vs {want}");
    }
}

#[test]
fn dice_metric_and_the_tutorials_running_mean_equal_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["dice_metric_two_cases"];
    let n_classes = ndarray_of(&e["case1_raw"]).shape()[1];
    let mut metric = DiceMetric::new(n_classes);
    for (case, agg) in [("case1", "agg_after_1"), ("case2", "agg_after_2")] {
        let gt: Vec<u8> = ndarray_of(&e[format!("{case}_label")])
            .iter()
            .map(|&x| x as u8)
            .collect();
        let pred: Vec<u8> = ndarray_of(&e[format!("{case}_pred_argmax")])
            .iter()
            .map(|&x| x as u8)
            .collect();
        let row = metric.update(&pred, &gt);
        let want = ndarray_of(&e[format!("{case}_raw")]);
        for (c, (&g, &w)) in row.iter().zip(want.iter()).enumerate() {
            assert!(
                (g.is_nan() && w.is_nan()) || rel(g, w) < 1e-5,
                "{case} class {c}: {g} vs {w}"
            );
        }
        assert!(
            rel(metric.aggregate(), e[agg].as_f64().unwrap()) < 1e-5,
            "{agg}"
        );
    }
    let tutorial = mean_of_running_aggregates(metric.rows());
    assert!(
        rel(
            tutorial,
            e["tutorial_mean_of_running_aggregates"].as_f64().unwrap()
        ) < 1e-6
    );
}

#[test]
fn dice_edge_cases_follow_monai() {
    // Empty ground truth: NaN even with false positives (ignore_empty), or 1 / 0 without it.
    let gt = [0u8; 8];
    let pred = [0, 0, 1, 0, 0, 0, 0, 0];
    assert!(dice_per_class(&pred, &gt, 2, true, true)[1].is_nan());
    assert_eq!(dice_per_class(&pred, &gt, 2, true, false)[1], 0.0);
    assert_eq!(dice_per_class(&gt, &gt, 2, true, false)[1], 1.0);
    // Empty prediction against a present class: 0. A single matching voxel: 1.
    let gt1 = [0, 0, 1, 0, 0, 0, 0, 0];
    assert_eq!(dice_per_class(&gt, &gt1, 2, true, true)[1], 0.0);
    assert_eq!(dice_per_class(&gt1, &gt1, 2, true, true)[1], 1.0);
    // argmax: first maximum wins.
    let scores =
        ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![1.0f32, 0.0, 1.0, 2.0, 0.5, 2.0]).unwrap();
    assert_eq!(
        argmax_channels(scores.view()).into_raw_vec_and_offset().0,
        vec![0u8, 1]
    );
}

#[test]
fn importance_maps_equal_monai() {
    let Some(v) = vectors() else { return };
    for (name, e) in v
        .iter()
        .filter(|(k, _)| k.starts_with("importance_map_gaussian_"))
    {
        if let Some(stats) = e.as_object() {
            let roi: Vec<usize> = name
                .trim_start_matches("importance_map_gaussian_")
                .split('_')
                .next()
                .unwrap()
                .split('x')
                .map(|s| s.parse().unwrap())
                .collect();
            let roi = if roi.len() == 1 { vec![roi[0]; 3] } else { roi };
            let m = importance_map(&roi, BlendMode::Gaussian, 0.125);
            let (min, max) = m
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let sum: f64 = m.iter().map(|&x| x as f64).sum();
            assert_eq!(min as f64, stats["min"].as_f64().unwrap(), "{name} min");
            assert!(
                rel(max as f64, stats["max"].as_f64().unwrap()) < 1e-6,
                "{name} max"
            );
            assert!(
                rel(sum, stats["sum"].as_f64().unwrap()) < 1e-5,
                "{name} sum"
            );
        } else {
            let want = ndarray_of(e);
            let roi: Vec<usize> = want.shape().to_vec();
            let m = importance_map(&roi, BlendMode::Gaussian, 0.125);
            for (g, w) in m.iter().zip(want.iter()) {
                assert!(rel(*g as f64, *w) < 1e-6, "{name}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn sliding_window_tiles_like_monai() {
    let Some(v) = vectors() else { return };
    for (name, e) in v
        .iter()
        .filter(|(k, _)| k.starts_with("sliding_window_slices_"))
    {
        let overlap: f64 = name.rsplit("overlap").next().unwrap().parse().unwrap();
        let roi: usize = name
            .split("roi")
            .nth(1)
            .unwrap()
            .split('_')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for case in e.as_array().unwrap() {
            let u = |k: &str| -> [usize; 3] {
                let a: Vec<usize> = case[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as usize)
                    .collect();
                [a[0], a[1], a[2]]
            };
            let padded = u("padded_size");
            assert_eq!(padded, u("image_size").map(|s| s.max(roi)));
            let interval = scan_interval(padded, [roi; 3], overlap);
            assert_eq!(interval, u("scan_interval"), "{case}");
            let starts = window_starts(padded, [roi; 3], interval);
            let want: Vec<[usize; 3]> = case["window_starts_in_order"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    let a: Vec<usize> = w
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap() as usize)
                        .collect();
                    [a[0], a[1], a[2]]
                })
                .collect();
            assert_eq!(starts, want, "{}", case["image_size"]);
            assert_eq!(starts.len() as u64, case["num_windows"].as_u64().unwrap());
        }
    }
}

#[test]
fn sliding_window_reproduces_monais_identity_check() {
    let Some(v) = vectors() else { return };
    let e = &v["sliding_window_identity_check"];
    let input = formula::eval(&e["input"].as_str().unwrap().replace("(1,1,", "(1,"));
    let input5 = input.clone().insert_axis(ndarray::Axis(0));
    let sw = SlidingWindow::default();
    let out = sw
        .infer(input5.view(), |x| {
            let sq = x.mapv(|v| v * v);
            Ok(ndarray::concatenate(ndarray::Axis(1), &[x.view(), sq.view()]).unwrap())
        })
        .unwrap();
    let shape: Vec<usize> = e["out_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(out.shape(), shape.as_slice());
    let mut err = 0f64;
    for (o, i) in out
        .index_axis(ndarray::Axis(1), 0)
        .iter()
        .zip(input5.iter())
    {
        err = err.max((*o as f64 - *i as f64).abs());
    }
    for (o, i) in out
        .index_axis(ndarray::Axis(1), 1)
        .iter()
        .zip(input5.iter())
    {
        err = err.max((*o as f64 - (*i * *i) as f64).abs());
    }
    assert!(
        err <= e["max_abs_err_vs_exact"].as_f64().unwrap(),
        "max error {err}"
    );
}

#[test]
fn identity_predictor_is_exact_for_any_shape_and_blending() {
    // Shapes around and below the window, several overlaps; values with few mantissa bits so
    // the f32 weighted averages are exact and only the geometry is tested.
    let shapes = [
        (5, 7, 3),
        (16, 16, 16),
        (17, 9, 30),
        (33, 16, 8),
        (40, 41, 42),
    ];
    for (i, &(x, y, z)) in shapes.iter().enumerate() {
        let input = Array5::from_shape_fn((2, 1, x, y, z), |(b, _, a, c, d)| {
            ((a * 7 + c * 3 + d + b * 5) % 64) as f32 / 16.0
        });
        for (overlap, mode) in [
            (0.25, BlendMode::Constant),
            (0.5, BlendMode::Constant),
            (0.6, BlendMode::Constant),
        ] {
            let sw = SlidingWindow {
                roi_size: [16, 16, 16],
                sw_batch_size: 3,
                overlap,
                mode,
                ..Default::default()
            };
            let out = sw.infer(input.view(), Ok).unwrap();
            assert_eq!(out, input, "shape {i} overlap {overlap}");
        }
        // Gaussian blending of an identity predictor is a weighted mean of equal values.
        let sw = SlidingWindow {
            roi_size: [16, 16, 16],
            mode: BlendMode::Gaussian,
            ..Default::default()
        };
        let out = sw.infer(input.view(), Ok).unwrap();
        let err = out
            .iter()
            .zip(input.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err < 1e-5, "gaussian shape {i}: {err}");
    }
}

#[test]
fn sliding_window_refuses_an_overlap_that_never_advances_or_leaves_gaps() {
    let input = Array5::from_elem((1, 1, 40, 20, 20), 1.0f32);
    for overlap in [1.0, 1.5, -0.5, f64::NAN] {
        let sw = SlidingWindow {
            roi_size: [16, 16, 16],
            overlap,
            ..Default::default()
        };
        let err = sw.infer(input.view(), Ok).unwrap_err().to_string();
        assert!(err.contains("overlap"), "{overlap}: {err}");
    }
}
