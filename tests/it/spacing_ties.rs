//! Nearest-neighbour `Spacing` at exact half-voxel ties against real MONAI
//! (`tests/fixtures/spacing_nearest_ties.json`, made by `scripts/reference/gen_spacing_ties.py`):
//! 2:1 and 4:2 spacing ratios, where MONAI's float64 coordinate arithmetic decides every other
//! output voxel. The index each output voxel samples, per axis, and a thin-structure label
//! resampled through `spacing` (both memory orders) must equal MONAI's.

use crate::common;

use ndarray::{Array4, ShapeBuilder};
use serde_json::Value;
use ssl3d::io::Affine;
use ssl3d::transforms::MetaImage;
use ssl3d::transforms::spacing::{Interp, monai_nearest_axis, plan, spacing};

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/spacing_nearest_ties.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f64s<const N: usize>(v: &Value) -> [f64; N] {
    let a: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    a.try_into().unwrap()
}

fn affine(v: &Value) -> Affine {
    let rows: Vec<[f64; 4]> = v.as_array().unwrap().iter().map(f64s::<4>).collect();
    rows.try_into().unwrap()
}

/// The generator's thin-structure label (its doc gives the rules).
fn label_value(i: usize, j: usize, k: usize, shape: [usize; 3]) -> f32 {
    if i % 5 == 2 && j % 7 == 3 {
        1.0
    } else if k == shape[2] / 2 && i < shape[0] / 2 {
        2.0
    } else if i == j && k.is_multiple_of(6) {
        3.0
    } else {
        0.0
    }
}

#[test]
fn nearest_spacing_samples_what_monai_samples_at_ties() {
    let doc = fixture();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 2);
    let mut exact_rule_differs = 0;
    for (c, case) in cases.iter().enumerate() {
        let shape: [usize; 3] = common::usizes(&case["shape"]).try_into().unwrap();
        let aff = affine(&case["affine"]);
        let pixdim = f64s::<3>(&case["pixdim"]);
        let p = plan(shape, &aff, pixdim);
        assert_eq!(
            p.out_shape.to_vec(),
            common::usizes(&case["out_shape"]),
            "case {c}"
        );
        let scales = p.axis_scales.expect("a diagonal affine scales each axis");
        for (d, want) in case["index_maps"].as_array().unwrap().iter().enumerate() {
            let want = common::usizes(want);
            assert_eq!(
                monai_nearest_axis(shape[d], p.out_shape[d], scales[d]),
                want,
                "case {c} axis {d}"
            );
            // The exact coordinate rounded half to even, what ssl3d did before: it must
            // disagree somewhere, or the fixture would not test the ties.
            let exact = (0..want.len()).map(|i| {
                (p.xform[d][d] * i as f64 + p.xform[d][3])
                    .clamp(0.0, (shape[d] - 1) as f64)
                    .round_ties_even() as usize
            });
            exact_rule_differs += exact.zip(&want).filter(|(a, b)| a != *b).count();
        }
    }
    assert!(exact_rule_differs > 0, "no tie in the fixture");
}

#[test]
fn a_thin_label_resamples_to_monais_voxels() {
    let doc = fixture();
    for (c, case) in doc["cases"].as_array().unwrap().iter().enumerate() {
        let shape: [usize; 3] = common::usizes(&case["shape"]).try_into().unwrap();
        let aff = affine(&case["affine"]);
        let pixdim = f64s::<3>(&case["pixdim"]);
        let mut want = Vec::new();
        for run in case["label_runs"].as_array().unwrap() {
            let (v, n) = (run[0].as_f64().unwrap() as f32, run[1].as_u64().unwrap());
            want.extend(std::iter::repeat_n(v, n as usize));
        }
        let out_shape = common::usizes(&case["out_shape"]);
        for fortran in [false, true] {
            let dims = (1, shape[0], shape[1], shape[2]);
            let mut data = if fortran {
                Array4::<f32>::zeros(dims.f())
            } else {
                Array4::<f32>::zeros(dims)
            };
            for ((_, i, j, k), v) in data.indexed_iter_mut() {
                *v = label_value(i, j, k, shape);
            }
            let out = spacing(
                &MetaImage { data, affine: aff },
                pixdim,
                Interp::Nearest,
                None,
            );
            assert_eq!(&out.data.shape()[1..], &out_shape[..], "case {c}");
            let got: Vec<f32> = out.data.iter().copied().collect();
            let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            let foreground = want.iter().filter(|v| **v != 0.0).count();
            assert!(foreground > 100, "case {c}: a label to compare");
            assert_eq!(
                differ,
                0,
                "case {c} (fortran {fortran}): {differ} of {} voxels differ from MONAI",
                want.len()
            );
            let want_affine = affine(&case["out_affine"]);
            for (got_row, want_row) in out.affine.iter().zip(&want_affine) {
                for (g, w) in got_row.iter().zip(want_row) {
                    assert!((g - w).abs() < 1e-9, "case {c}");
                }
            }
        }
    }
}
