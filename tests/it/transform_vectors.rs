//! Every transform entry of `$SSL3D_REFERENCE_DIR/monai/transform_vectors.json` (computed with
//! MONAI 1.5): RNG streams, each random transform's draws, boxes and checksums, the whole SSL chain,
//! and the deterministic transforms. Names, seeds and inputs are read from the file.

#![allow(clippy::needless_range_loop)] // matrices are compared element by element

use crate::common::{self, formula};

use std::collections::BTreeMap;

use serde_json::Value;
use ssl3d::transforms::coarse_holes::HoleSpec;
use ssl3d::transforms::crop_foreground::foreground_box;
use ssl3d::transforms::orientation::to_ras;
use ssl3d::transforms::rand_coarse_dropout::RandCoarseDropoutd;
use ssl3d::transforms::rand_coarse_shuffle::RandCoarseShuffled;
use ssl3d::transforms::rand_crop_by_pos_neg_label::RandCropByPosNegLabeld;
use ssl3d::transforms::rand_spatial_crop_samples::RandSpatialCropSamplesd;
use ssl3d::transforms::scale_intensity_range::ScaleIntensityRange;
use ssl3d::transforms::spacing::{Interp, spacing};
use ssl3d::transforms::spatial_pad::pad_to;
use ssl3d::transforms::{
    FinetuneTransforms, MetaImage, Pipeline, PretrainTransforms, RandomState, Sample, Transform,
    sum, wsum,
};

fn vectors() -> Option<BTreeMap<String, Value>> {
    let dir = common::reference_dir()?;
    let text = std::fs::read_to_string(dir.join("monai/transform_vectors.json")).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn us(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn arr3(v: &Value) -> [usize; 3] {
    let u = us(v);
    [u[0], u[1], u[2]]
}

fn affine(v: &Value) -> [[f64; 4]; 4] {
    let rows = v.as_array().unwrap();
    std::array::from_fn(|r| std::array::from_fn(|c| f(&rows[r][c])))
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

fn sample_of(key: &str, data: ndarray::Array4<f32>) -> Sample {
    let mut s = Sample::default();
    s.images.insert(
        key.into(),
        MetaImage {
            data,
            affine: ssl3d::io::affine::identity(),
        },
    );
    s
}

/// `[[start, stop] per dim]` boxes as the fixture writes them.
fn boxes(v: &Value) -> Vec<([usize; 3], [usize; 3])> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.as_array().unwrap();
            let start = std::array::from_fn(|d| h[d][0].as_u64().unwrap() as usize);
            let size = std::array::from_fn(|d| {
                (h[d][1].as_u64().unwrap() - h[d][0].as_u64().unwrap()) as usize
            });
            (start, size)
        })
        .collect()
}

#[test]
fn rng_streams_equal_numpy() {
    let Some(v) = vectors() else { return };
    for (name, e) in v.iter().filter(|(k, _)| k.starts_with("rng_seed")) {
        let seed: u32 = name.trim_start_matches("rng_seed").parse().unwrap();
        let mut r = RandomState::new(seed);
        let u: Vec<u64> = (0..5).map(|_| r.next_u32() as u64).collect();
        assert_eq!(
            u,
            us(&e["u32_first5"])
                .iter()
                .map(|&x| x as u64)
                .collect::<Vec<_>>(),
            "{name}"
        );
        let mut r = RandomState::new(seed);
        for want in e["random_sample_first3"].as_array().unwrap() {
            assert_eq!(r.random_sample(), f(want), "{name} random_sample");
        }
        let mut r = RandomState::new(seed);
        for want in e["randint_0_2pow32_uint32_first3"].as_array().unwrap() {
            assert_eq!(
                r.randint_u32() as u64,
                want.as_u64().unwrap(),
                "{name} randint uint32"
            );
        }
        let mut r = RandomState::new(seed);
        for want in e["randint_5_33_first6"].as_array().unwrap() {
            assert_eq!(
                r.randint(5, 33),
                want.as_i64().unwrap(),
                "{name} randint(5, 33)"
            );
        }
        let mut r = RandomState::new(seed);
        let mut x: Vec<usize> = (0..10).collect();
        r.shuffle(&mut x);
        assert_eq!(x, us(&e["shuffle_range10"]), "{name} shuffle");
    }
}

#[test]
fn oneof_choices_equal_numpy_multinomial() {
    let Some(v) = vectors() else { return };
    for (seed, want) in v["oneof_choice_by_seed"].as_object().unwrap() {
        let mut r = RandomState::new(seed.parse().unwrap());
        assert_eq!(
            r.choice_multinomial(&[1.0, 1.0]) as u64,
            want.as_u64().unwrap(),
            "seed {seed}"
        );
    }
}

#[test]
fn rand_coarse_dropout_holes_and_fill_equal_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["rand_coarse_dropoutd_96"];
    let input = formula::eval(e["input"].as_str().unwrap().split(" = ").next().unwrap());
    for case in e["cases"].as_array().unwrap() {
        let holes = boxes(&case["holes_start_stop"]);
        let spec = HoleSpec {
            holes: holes.len(),
            spatial_size: case["spatial_size"].as_u64().unwrap() as usize,
            max_spatial_size: Some(case["max_spatial_size"].as_u64().unwrap() as usize),
            max_holes: None,
        };
        let dropout_holes = case["dropout_holes"].as_bool().unwrap();
        let seed = case["seed"].as_u64().unwrap() as u32;
        // The boxes, drawn directly (wrapper prob draw and inner prob draw first).
        let mut r = RandomState::new(seed);
        r.random_sample();
        let drawn = ssl3d::transforms::coarse_holes::draw_holes(&mut r, [96, 96, 96], &spec);
        assert_eq!(drawn, holes, "seed {seed} dropout_holes {dropout_holes}");
        let mut t = RandCoarseDropoutd::new(vec!["image".into()], 1.0, spec, dropout_holes);
        t.set_random_state(seed);
        let out = t
            .apply(sample_of("image", input.clone()))
            .unwrap()
            .remove(0);
        let data = &out.get("image").unwrap().data;
        let what = format!("seed {seed} dropout_holes {dropout_holes}");
        assert!(
            rel_close(sum(data), f(&case["out_sum"]), 1e-9),
            "{what}: sum {}",
            sum(data)
        );
        assert!(
            rel_close(wsum(data), f(&case["out_wsum"]), 1e-9),
            "{what}: wsum"
        );
        for (got, want) in data.iter().zip(case["out_first5"].as_array().unwrap()) {
            assert_eq!(*got as f64, f(want), "{what}: first values");
        }
    }
}

#[test]
fn rand_coarse_shuffle_equals_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["rand_coarse_shuffled_96"];
    let input = formula::fvol(&[1, 96, 96, 96]);
    assert!(rel_close(wsum(&input), f(&e["input_wsum"]), 1e-12));
    let tutorial = PretrainTransforms::default();
    for case in e["cases"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap() as u32;
        let mut t = RandCoarseShuffled::new(
            vec!["image".into()],
            tutorial.shuffle_prob,
            tutorial.shuffle,
        );
        t.set_random_state(seed);
        let out = t
            .apply(sample_of("image", input.clone()))
            .unwrap()
            .remove(0);
        let data = &out.get("image").unwrap().data;
        if case["applied"].as_bool().unwrap() {
            let mut r = RandomState::new(seed);
            r.random_sample();
            let drawn =
                ssl3d::transforms::coarse_holes::draw_holes(&mut r, [96; 3], &tutorial.shuffle);
            assert_eq!(drawn, boxes(&case["holes_start_stop"]), "seed {seed}");
        } else {
            assert_eq!(data, &input, "seed {seed}: not applied");
        }
        assert!(
            rel_close(wsum(data), f(&case["out_wsum"]), 1e-12),
            "seed {seed}: wsum"
        );
    }
}

#[test]
fn rand_spatial_crop_samples_equal_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["rand_spatial_crop_samplesd"];
    let seed = e["seed"].as_u64().unwrap() as u32;
    let starts: Vec<[usize; 3]> = e["crop_starts"]
        .as_array()
        .unwrap()
        .iter()
        .map(arr3)
        .collect();
    let roi = PretrainTransforms::default().patch_size;
    let mut t = RandSpatialCropSamplesd::new(vec!["image".into()], roi, starts.len());
    t.set_random_state(seed);
    let mut r = RandomState::new(seed);
    assert_eq!(r.randint_u32() as u64, e["sub_seed"].as_u64().unwrap());
    assert_eq!(t.draw_starts(arr3(&e["in_shape"])), starts);
}

#[test]
fn ssl_chain_seeded_like_compose_equals_monai() {
    let Some(v) = vectors() else { return };
    for (name, e) in v.iter().filter(|(k, _)| k.starts_with("ssl_chain_seed")) {
        let seed: u32 = name.trim_start_matches("ssl_chain_seed").parse().unwrap();
        let cfg = PretrainTransforms::default();
        let padded = pad_to(
            &MetaImage {
                data: formula::eval(e["input"].as_str().unwrap()),
                affine: ssl3d::io::affine::identity(),
            },
            cfg.patch_size,
        );
        let mut p = Pipeline::pretrain(&cfg);
        p.set_random_state(seed);
        let mut s = Sample::default();
        s.images.insert("image".into(), padded);
        let out = p.augment(s).unwrap();
        let want = e["samples"].as_array().unwrap();
        assert_eq!(out.len(), want.len(), "{name}");
        for (i, (got, want)) in out.iter().zip(want).enumerate() {
            for (key, w) in want.as_object().unwrap() {
                let data = &got.get(key).unwrap().data;
                assert_eq!(
                    data.shape(),
                    us(&w["shape"]).as_slice(),
                    "{name} sample {i} {key}"
                );
                assert!(
                    rel_close(sum(data), f(&w["sum"]), 1e-9),
                    "{name} sample {i} {key}: sum {} vs {}",
                    sum(data),
                    w["sum"]
                );
                assert!(
                    rel_close(wsum(data), f(&w["wsum"]), 1e-9),
                    "{name} sample {i} {key}: wsum"
                );
            }
        }
    }
}

#[test]
fn rand_crop_by_pos_neg_label_centres_equal_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["rand_crop_by_pos_neg_labeld"];
    let centres: Vec<Vec<usize>> = e["centers"].as_array().unwrap().iter().map(us).collect();
    let cfg = FinetuneTransforms::default();
    let mut t = RandCropByPosNegLabeld::new(
        vec!["image".into(), "label".into()],
        "label".into(),
        Some("image".into()),
        arr3(&e["spatial_size"]),
        cfg.pos,
        cfg.neg,
        centres.len(),
        cfg.image_threshold,
    );
    t.set_random_state(e["seed"].as_u64().unwrap() as u32);
    let mut s = sample_of("image", formula::eval(e["image"].as_str().unwrap()));
    s.images.insert(
        "label".into(),
        sample_of("label", formula::eval(e["label"].as_str().unwrap()))
            .take("label")
            .unwrap(),
    );
    let out = t.apply(s).unwrap();
    let got: Vec<Vec<usize>> = out
        .iter()
        .map(|s| s.meta["crop_center"].iter().map(|&c| c as usize).collect())
        .collect();
    assert_eq!(got, centres);
    for s in &out {
        assert_eq!(
            s.get("label").unwrap().spatial_shape(),
            arr3(&e["spatial_size"])
        );
    }
}

#[test]
fn crop_foreground_box_equals_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["crop_foreground"];
    let (start, end) = foreground_box(&formula::eval(e["input"].as_str().unwrap()));
    assert_eq!(start, arr3(&e["box_start"]));
    assert_eq!(end, arr3(&e["box_end"]));
}

#[test]
fn scale_intensity_range_equals_monai_in_f32() {
    let Some(v) = vectors() else { return };
    for (name, e) in v
        .iter()
        .filter(|(k, _)| k.starts_with("scale_intensity_range_"))
    {
        let window = match name.trim_start_matches("scale_intensity_range_") {
            "btcv" => FinetuneTransforms::default().window,
            "tcia" => PretrainTransforms::default().window,
            other => panic!("unknown window {other}"),
        };
        let t = ScaleIntensityRange {
            a_min: window.a_min,
            a_max: window.a_max,
            b_min: window.b_min,
            b_max: window.b_max,
            clip: window.clip,
        };
        for (x, y) in e["in"]
            .as_array()
            .unwrap()
            .iter()
            .zip(e["out"].as_array().unwrap())
        {
            assert_eq!(t.scale(f(x) as f32) as f64, f(y), "{name}: {x}");
        }
    }
}

#[test]
fn spacing_shape_affine_and_values_equal_monai() {
    let Some(v) = vectors() else { return };
    let e = &v["spacing_example"];
    let img = MetaImage {
        data: formula::eval(e["input"].as_str().unwrap().trim_end_matches(" float32")),
        affine: affine(&e["affine"]),
    };
    let pixdim: Vec<f64> = e["pixdim"].as_array().unwrap().iter().map(f).collect();
    let pixdim = [pixdim[0], pixdim[1], pixdim[2]];
    for (mode, key) in [
        (Interp::Bilinear, "bilinear_flat"),
        (Interp::Nearest, "nearest_flat"),
    ] {
        let out = spacing(&img, pixdim, mode, None);
        assert_eq!(out.data.shape(), us(&e["out_shape"]).as_slice(), "{key}");
        let want = affine(&e["out_affine"]);
        for r in 0..4 {
            for c in 0..4 {
                assert!(
                    (out.affine[r][c] - want[r][c]).abs() < 1e-9,
                    "{key} affine[{r}][{c}]"
                );
            }
        }
        let values = e[key].as_array().unwrap();
        assert_eq!(values.len(), out.data.len());
        for (i, (got, want)) in out.data.iter().zip(values).enumerate() {
            assert!(
                (*got as f64 - f(want)).abs() <= 1e-6 * f(want).abs().max(1.0),
                "{key}[{i}]: {got} vs {want}"
            );
        }
    }
}

#[test]
fn orientation_to_ras_equals_monai() {
    let Some(v) = vectors() else { return };
    for (i, e) in v["orientation_examples"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let img = MetaImage {
            data: formula::eval(e["input"].as_str().unwrap()),
            affine: affine(&e["affine"]),
        };
        let out = to_ras(img);
        assert_eq!(
            out.data.shape(),
            us(&e["out_shape"]).as_slice(),
            "example {i}"
        );
        let want = affine(&e["out_affine"]);
        for r in 0..4 {
            for c in 0..4 {
                assert!(
                    (out.affine[r][c] - want[r][c]).abs() < 1e-9,
                    "example {i} affine[{r}][{c}]"
                );
            }
        }
        let first: Vec<f64> = out
            .data
            .as_standard_layout()
            .iter()
            .take(8)
            .map(|&x| x as f64)
            .collect();
        let want: Vec<f64> = e["out_flat_first8"]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .collect();
        assert_eq!(first, want, "example {i}");
    }
}
