//! HD95 and Dice against real MONAI 1.5 (`tests/fixtures/hd95_monai.json`, made by
//! `scripts/reference/gen_hd95.py`): anisotropic spacing, spheres and boxes, a single-voxel
//! prediction, empty prediction, empty ground truth, both empty, classes absent from both.

use ndarray::Array3;
use serde_json::Value;
use ssl3d::metrics::{dice_per_class, hd95_per_class};

fn paint(shape: [usize; 3], shapes: &Value, spacing: [f64; 3]) -> Array3<u8> {
    let mut lab = Array3::<u8>::zeros(shape);
    for s in shapes.as_array().unwrap() {
        let class = s["class"].as_u64().unwrap() as u8;
        if let Some(b) = s.get("box") {
            let r =
                |d: usize| b[d][0].as_u64().unwrap() as usize..b[d][1].as_u64().unwrap() as usize;
            lab.slice_mut(ndarray::s![r(0), r(1), r(2)]).fill(class);
        } else {
            let c: Vec<f64> = s["sphere"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let r = s["radius"].as_f64().unwrap();
            for ((i, j, k), v) in lab.indexed_iter_mut() {
                let d: f64 = [i, j, k]
                    .iter()
                    .enumerate()
                    .map(|(a, &x)| ((x as f64 - c[a]) * spacing[a]).powi(2))
                    .sum();
                if d <= r * r {
                    *v = class;
                }
            }
        }
    }
    lab
}

fn value(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        other => other.as_f64().unwrap(),
    }
}

fn same(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * b.abs().max(1e-6)
}

#[test]
fn hd95_and_dice_equal_monai() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hd95_monai.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for c in doc["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let sh: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let shape = [sh[0], sh[1], sh[2]];
        let spacing = match c["spacing"].as_array() {
            Some(s) => [
                s[0].as_f64().unwrap(),
                s[1].as_f64().unwrap(),
                s[2].as_f64().unwrap(),
            ],
            None => [1.0; 3],
        };
        let n = c["classes"].as_u64().unwrap() as usize;
        let pred = paint(shape, &c["pred"], spacing);
        let gt = paint(shape, &c["gt"], spacing);
        let hd = hd95_per_class(pred.view(), gt.view(), n, false, spacing);
        for (k, (g, w)) in hd.iter().zip(c["hd95"].as_array().unwrap()).enumerate() {
            assert!(
                same(*g, value(w), 1e-5),
                "{name} class {}: HD95 {g} vs MONAI {w}",
                k + 1
            );
        }
        let dice = dice_per_class(
            pred.as_slice().unwrap(),
            gt.as_slice().unwrap(),
            n,
            true,
            true,
        );
        for (k, (g, w)) in dice.iter().zip(c["dice"].as_array().unwrap()).enumerate() {
            assert!(
                same(*g, value(w), 1e-5),
                "{name} class {k}: Dice {g} vs MONAI {w}"
            );
        }
    }
}
