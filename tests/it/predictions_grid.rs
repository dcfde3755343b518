//! Predictions go back onto the original image's grid (`--save-predictions`): a perfect
//! prediction on the preprocessed grid (RAS, resampled, cropped) maps back onto the original label.

use crate::common;

use ndarray::{Array3, Axis, Ix3};
use ssl3d::data::synthetic::{SynthOptions, SynthSize, generate};
use ssl3d::io::{load_labels, read_header, write_volume};
use ssl3d::metrics::dice_per_class;
use ssl3d::transforms::FinetuneTransforms;
use ssl3d::transforms::invert_labels::labels_to_grid;
use ssl3d::transforms::pipelines::PipelineSpec;

/// The validation pipeline's preprocessed label, mapped back with the preprocessed affine.
fn round_trip(
    image: &std::path::Path,
    label: &std::path::Path,
    pixdim: [f64; 3],
) -> (Array3<u8>, Array3<u8>) {
    let spec = PipelineSpec::Finetune {
        config: FinetuneTransforms {
            pixdim,
            ..Default::default()
        },
        train: false,
    };
    let mut p = spec.build();
    let pre = p.preprocess(p.load(image, Some(label)).unwrap()).unwrap();
    let lab = pre.get("label").unwrap();
    let perfect = lab
        .data
        .index_axis(Axis(0), 0)
        .mapv(|v| v.round() as u8)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let h = read_header(image).unwrap();
    let shape = [h.shape[0], h.shape[1], h.shape[2]];
    let back = labels_to_grid(perfect.view(), &lab.affine, shape, &h.affine).unwrap();
    let original = load_labels(label).unwrap().data;
    (back, original)
}

#[test]
fn a_perfect_prediction_maps_back_exactly_when_spacing_is_kept() {
    // An LPS-stored volume at the pipeline's own spacing: orientation flips and the crop are undone
    // exactly (Spacing resamples onto the same grid).
    let dir = common::scratch("predictions_grid_exact");
    let affine = [
        [-1.5, 0.0, 0.0, 40.0],
        [0.0, -1.5, 0.0, 30.0],
        [0.0, 0.0, 2.0, -20.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let (nx, ny, nz) = (40, 36, 24);
    let mut img = Array3::<i16>::from_elem((nx, ny, nz), -1000);
    let mut lab = Array3::<u8>::zeros((nx, ny, nz));
    for ((i, j, k), v) in img.indexed_iter_mut() {
        // A body (soft tissue) away from the border, with three organs inside it.
        if (8..34).contains(&i) && (6..30).contains(&j) && (3..21).contains(&k) {
            *v = 40;
            lab[(i, j, k)] = match (i, j) {
                (10..16, 8..14) => 1,
                (20..30, 10..26) => 6,
                (16..=18, 20..28) => 3,
                _ => 0,
            };
        }
    }
    let (ip, lp) = (dir.join("img.nii.gz"), dir.join("lab.nii.gz"));
    write_volume(&ip, &img, &affine).unwrap();
    write_volume(&lp, &lab, &affine).unwrap();
    let (back, original) = round_trip(&ip, &lp, [1.5, 1.5, 2.0]);
    assert_eq!(back.shape(), original.shape());
    assert_eq!(back, original, "the round trip changed labels");
}

#[test]
fn a_perfect_prediction_maps_back_closely_across_spacing_and_orientation() {
    let dir = common::scratch("predictions_grid_resampled");
    let opts = SynthOptions {
        out_dir: dir.join("data"),
        json_dir: dir.join("json"),
        seed: 4,
        size: SynthSize::Tiny,
        chest_count: 2,
        labelled: 1,
        validation: 1,
    };
    generate(&opts, &|| {}).unwrap();
    let img = dir.join("data/btcv/imagesTr/img0001.nii.gz");
    let lab = dir.join("data/btcv/labelsTr/label0001.nii.gz");
    let (back, original) = round_trip(&img, &lab, [3.0, 3.0, 4.0]);
    assert_eq!(back.shape(), original.shape());
    let p: Vec<u8> = back.iter().copied().collect();
    let g: Vec<u8> = original.iter().copied().collect();
    let dice = dice_per_class(&p, &g, 14, true, true);
    eprintln!("per-class Dice after the round trip: {dice:.3?}");
    // The large organs survive resampling to 3 mm and back nearly intact.
    for organ in [1usize, 2, 3, 6, 7] {
        assert!(dice[organ] > 0.8, "organ {organ}: Dice {}", dice[organ]);
    }
}
