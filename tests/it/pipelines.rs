//! The three tutorial pipelines on real files: configs, and the edge cases a user meets (small
//! images, no foreground, labels that do not fit), each MONAI's behaviour or a clear error.

use crate::common;

use std::path::{Path, PathBuf};

use ndarray::{Array3, Array4, ShapeBuilder};
use ssl3d::io::{Affine, write_volume};
use ssl3d::transforms::pipelines::read_config;
use ssl3d::transforms::spacing::{Interp, plan, resample};
use ssl3d::transforms::{
    FinetuneTransforms, Pipeline, PipelineKind, PretrainTransforms, sum, wsum,
};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn affine(spacing: [f64; 3]) -> Affine {
    [
        [-spacing[0], 0.0, 0.0, 100.0],
        [0.0, -spacing[1], 0.0, 80.0],
        [0.0, 0.0, spacing[2], -50.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// A body-like block of soft tissue in air, with a label box inside.
fn phantom(shape: (usize, usize, usize)) -> (Array3<i16>, Array3<u8>) {
    let hu = Array3::from_shape_fn(shape, |(i, j, k)| {
        let inside =
            i > 2 && j > 2 && k > 1 && i + 3 < shape.0 && j + 3 < shape.1 && k + 2 < shape.2;
        if inside {
            40 + ((i * 7 + j * 3 + k) % 50) as i16
        } else {
            -1000
        }
    });
    let lab = Array3::from_shape_fn(shape, |(i, j, k)| {
        (i > shape.0 / 3
            && i < shape.0 / 2
            && j > shape.1 / 3
            && j < shape.1 / 2
            && k > 2
            && k < shape.2 - 3) as u8
            * 6
    });
    (hu, lab)
}

#[test]
fn config_files_hold_the_tutorial_defaults() {
    let p: PretrainTransforms = read_config(&repo("configs/pretrain_transforms.json")).unwrap();
    assert_eq!(p, PretrainTransforms::default());
    let f: FinetuneTransforms = read_config(&repo("configs/finetune_transforms.json")).unwrap();
    assert_eq!(f, FinetuneTransforms::default());
    let m: PretrainTransforms =
        read_config(&repo("configs/pretrain_transforms_monai16.json")).unwrap();
    assert_eq!(
        m,
        PretrainTransforms {
            oneof_per_sample: false,
            ..Default::default()
        }
    );
    let dir = common::scratch("pipeline_configs");
    std::fs::write(dir.join("typo.json"), r#"{"pixdims": [1, 1, 1]}"#).unwrap();
    let err = read_config::<PretrainTransforms>(&dir.join("typo.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("typo.json") && err.contains("pixdims"),
        "{err}"
    );
}

#[test]
fn fortran_and_c_ordered_inputs_resample_identically() {
    let shape = (23, 17, 9);
    let c = Array4::from_shape_fn((1, shape.0, shape.1, shape.2), |(_, i, j, k)| {
        ((i * 31 + j * 17 + k * 7) % 101) as f32 * 0.37 - 5.0
    });
    let mut f = Array4::zeros((1, shape.0, shape.1, shape.2).f());
    f.assign(&c);
    let a = affine([0.7, 0.8, 2.5]);
    for mode in [Interp::Bilinear, Interp::Nearest] {
        let p = plan([shape.0, shape.1, shape.2], &a, [1.5, 1.5, 2.0]);
        let from_c = resample(c.view(), &p, mode);
        let from_f = resample(f.view(), &p, mode);
        assert_eq!(from_c, from_f, "{mode:?}");
        // A reversed (RAS-flipped) view resamples like its copy.
        let mut flipped = f.view();
        flipped.invert_axis(ndarray::Axis(1));
        let copy = flipped.as_standard_layout().into_owned();
        assert_eq!(
            resample(flipped, &p, mode),
            resample(copy.view(), &p, mode),
            "{mode:?} flipped"
        );
    }
}

#[test]
fn small_and_empty_volumes_behave_like_monai_in_pretraining() {
    let dir = common::scratch("pipeline_small");
    let (hu, _) = phantom((30, 26, 12));
    write_volume(&dir.join("small.nii.gz"), &hu, &affine([2.0, 2.0, 2.0])).unwrap();
    let mut p = Pipeline::pretrain(&PretrainTransforms::default());
    p.set_random_state(5);
    let out = p.run(&dir.join("small.nii.gz"), None).unwrap();
    assert_eq!(out.len(), 2);
    for s in &out {
        for k in ["image", "gt_image", "image_2"] {
            assert_eq!(
                s.get(k).unwrap().data.shape(),
                [1, 96, 96, 96],
                "padded to the patch size"
            );
        }
    }
    // No voxel above the window: MONAI crops to nothing and pads to zeros (docs/MONAI_COMPAT.md,
    // "Empty foreground").
    let air = Array3::<i16>::from_elem((30, 26, 12), -1000);
    write_volume(&dir.join("air.nii.gz"), &air, &affine([2.0, 2.0, 2.0])).unwrap();
    let out = p.run(&dir.join("air.nii.gz"), None).unwrap();
    assert_eq!(
        out[0].get("gt_image").unwrap().data.shape(),
        [1, 96, 96, 96]
    );
    assert_eq!(sum(&out[0].get("gt_image").unwrap().data), 0.0);
}

#[test]
fn finetuning_inputs_that_cannot_work_are_clear_errors() {
    let dir = common::scratch("pipeline_finetune_errors");
    let a = affine([1.5, 1.5, 2.0]);
    let (hu, lab) = phantom((40, 36, 20));
    write_volume(&dir.join("img.nii.gz"), &hu, &a).unwrap();
    write_volume(&dir.join("lab.nii.gz"), &lab, &a).unwrap();
    let small = FinetuneTransforms {
        spatial_size: [16, 16, 8],
        ..Default::default()
    };
    // Works, with the tutorial's 4 crops of the configured size.
    let mut p = Pipeline::finetune(&small, true);
    p.set_random_state(1);
    let out = p
        .run(&dir.join("img.nii.gz"), Some(&dir.join("lab.nii.gz")))
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].get("label").unwrap().data.shape(), [1, 16, 16, 8]);
    // The tutorial's 96³ crop does not fit: MONAI raises, ssl3d names the file.
    let mut p = Pipeline::finetune(&FinetuneTransforms::default(), true);
    let err = p
        .run(&dir.join("img.nii.gz"), Some(&dir.join("lab.nii.gz")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("img.nii.gz") && err.contains("larger than the image"),
        "{err}"
    );
    // A label with no foreground: crops come from the background only (MONAI warns).
    write_volume(
        &dir.join("empty.nii.gz"),
        &Array3::<u8>::zeros((40, 36, 20)),
        &a,
    )
    .unwrap();
    let mut p = Pipeline::finetune(&small, true);
    let out = p
        .run(&dir.join("img.nii.gz"), Some(&dir.join("empty.nii.gz")))
        .unwrap();
    assert_eq!(out.len(), 4);
    // Label on another grid, unknown label values, missing label.
    write_volume(
        &dir.join("short.nii.gz"),
        &Array3::<u8>::zeros((40, 36, 19)),
        &a,
    )
    .unwrap();
    let err = p
        .run(&dir.join("img.nii.gz"), Some(&dir.join("short.nii.gz")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("short.nii.gz") && err.contains("shape"),
        "{err}"
    );
    let mut bad = lab.clone();
    bad[[10, 10, 10]] = 20;
    write_volume(&dir.join("bad.nii.gz"), &bad, &a).unwrap();
    let err = p
        .run(&dir.join("img.nii.gz"), Some(&dir.join("bad.nii.gz")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.nii.gz") && err.contains("unknown label values [20]"),
        "{err}"
    );
    let err = p
        .run(&dir.join("img.nii.gz"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("img.nii.gz") && err.contains("label"), "{err}");
    // NaN voxels in the image.
    let mut f = hu.mapv(|v| v as f32);
    f[[5, 5, 5]] = f32::NAN;
    write_volume(&dir.join("nan.nii.gz"), &f, &a).unwrap();
    let err = p
        .run(&dir.join("nan.nii.gz"), Some(&dir.join("lab.nii.gz")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nan.nii.gz") && err.contains("NaN"), "{err}");
}

#[test]
fn validation_pipeline_is_deterministic_and_keeps_the_whole_volume() {
    let dir = common::scratch("pipeline_val");
    let a = affine([0.8, 0.8, 3.0]);
    let (hu, lab) = phantom((50, 44, 16));
    write_volume(&dir.join("img.nii.gz"), &hu, &a).unwrap();
    write_volume(&dir.join("lab.nii.gz"), &lab, &a).unwrap();
    let run = |seed| {
        let mut p = Pipeline::from_config(PipelineKind::FinetuneVal, None).unwrap();
        p.set_random_state(seed);
        p.run(&dir.join("img.nii.gz"), Some(&dir.join("lab.nii.gz")))
            .unwrap()
    };
    let (a1, a2) = (run(0), run(99));
    assert_eq!(a1.len(), 1);
    let img = &a1[0].get("image").unwrap().data;
    assert_eq!(wsum(img), wsum(&a2[0].get("image").unwrap().data));
    // RAS, 1.5 × 1.5 × 2 mm, cropped to the body; the label follows the image's grid.
    assert_eq!(a1[0].get("label").unwrap().data.shape(), img.shape());
    let sp = ssl3d::io::affine::spacing_of(&a1[0].get("image").unwrap().affine);
    assert!(
        (sp[0] - 1.5).abs() < 1e-9 && (sp[2] - 2.0).abs() < 1e-9,
        "{sp:?}"
    );
    assert!(
        a1[0].get("image").unwrap().affine[0][0] > 0.0,
        "RAS: x runs left"
    );
}

#[test]
fn oneof_per_list_changes_only_the_later_crops_choice() {
    // MONAI 1.6 draws OneOf once per list of crops; with the same seed the first crop is
    // unchanged and only later crops can differ (docs/MONAI_COMPAT.md, "OneOf").
    let dir = common::scratch("pipeline_oneof");
    let (hu, _) = phantom((60, 60, 40));
    write_volume(&dir.join("ct.nii.gz"), &hu, &affine([1.5, 1.5, 2.5])).unwrap();
    let run = |per_sample| {
        let cfg = PretrainTransforms {
            oneof_per_sample: per_sample,
            ..Default::default()
        };
        let mut p = Pipeline::pretrain(&cfg);
        p.set_random_state(123);
        p.run(&dir.join("ct.nii.gz"), None).unwrap()
    };
    let (v15, v16) = (run(true), run(false));
    for k in ["image", "gt_image", "image_2"] {
        assert_eq!(
            wsum(&v15[0].get(k).unwrap().data),
            wsum(&v16[0].get(k).unwrap().data),
            "sample 0 {k}"
        );
    }
    assert_eq!(
        wsum(&v15[1].get("gt_image").unwrap().data),
        wsum(&v16[1].get("gt_image").unwrap().data)
    );
}

#[test]
fn cropping_fortran_ordered_volumes_equals_cropping_c_ordered_ones() {
    use ssl3d::transforms::MetaImage;
    use ssl3d::transforms::crop_foreground::crop;
    let shape = (1, 37, 21, 19);
    let c = Array4::from_shape_fn(shape, |(_, i, j, k)| (i * 1000 + j * 30 + k) as f32);
    let mut f = Array4::zeros(shape.f());
    f.assign(&c);
    for (start, end) in [
        ([0, 0, 0], [37, 21, 19]),
        ([3, 5, 2], [36, 20, 17]),
        ([17, 0, 5], [34, 1, 19]),
        ([4, 4, 4], [4, 9, 9]),
    ] {
        let a = crop(
            &MetaImage {
                data: c.clone(),
                affine: affine([1.0; 3]),
            },
            start,
            end,
        );
        let b = crop(
            &MetaImage {
                data: f.clone(),
                affine: affine([1.0; 3]),
            },
            start,
            end,
        );
        assert_eq!(a.data, b.data, "{start:?}..{end:?}");
        assert!(b.data.is_standard_layout());
        assert_eq!(a.affine, b.affine);
    }
}
