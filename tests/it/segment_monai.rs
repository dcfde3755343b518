//! A MONAI UNETR checkpoint (the reference set's tiny `best_metric_model.pth`) loaded by
//! `ssl-segment`'s model source and run with its sliding window gives the labels of MONAI's
//! `sliding_window_inference` + argmax on the same input, except at exact ties, and with flip
//! test-time augmentation the mean probabilities of the 8 mirrored passes computed with
//! `torch.flip` and `torch.softmax` around MONAI's sliding window
//! (tests/fixtures/monai_segment.json, made by scripts/reference/gen_monai_segment.py).

use crate::common;

use ndarray::{Array5, Axis};
use serde_json::Value;
use sha2::{Digest, Sha256};
use ssl3d::inferers::{BlendMode, SlidingWindow, TestTimeAugmentation, predict_probabilities};
use ssl3d::metrics::argmax_channels;
use ssl3d::segment::{ModelSource, WeightsFormat};

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};

#[test]
fn a_monai_checkpoint_segments_like_monais_sliding_window() {
    let Some(refdir) = common::reference_dir() else {
        return;
    };
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/monai_segment.json")).unwrap();
    let checkpoint = refdir.join(fixture["checkpoint"].as_str().unwrap());
    let Ok(bytes) = std::fs::read(&checkpoint) else {
        eprintln!(
            "skipping: {} is not in this reference set",
            checkpoint.display()
        );
        return;
    };
    let sha = format!("{:x}", Sha256::digest(&bytes));
    if sha != fixture["checkpoint_sha256"] {
        eprintln!(
            "skipping: {} is not the checkpoint tests/fixtures/monai_segment.json was made from",
            checkpoint.display()
        );
        return;
    }
    // The fine-tuning config the checkpoint belongs to: its UNETR, windows of its img_size.
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(refdir.join("monai/model_vectors.json")).unwrap(),
    )
    .unwrap();
    let c = &vectors["unetr_tiny"]["config"];
    let roi = common::usizes(&fixture["roi_size"]);
    assert_eq!(roi, common::usizes(&c["img_size"]));
    let config = serde_json::json!({
        "roi_size": roi,
        "model": {
            "vit": {
                "in_channels": c["in_channels"], "img_size": roi,
                "hidden_size": c["hidden_size"], "mlp_dim": c["mlp_dim"],
                "num_heads": c["num_heads"], "num_layers": c.get("num_layers").cloned().unwrap_or(12.into()),
            },
            "feature_size": c["feature_size"], "out_channels": c["out_channels"],
        },
    });
    let dir = common::scratch("segment_monai");
    let config_path = dir.join("finetune.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let source = ModelSource::open(&checkpoint, Some(&config_path)).unwrap();
    assert_eq!(source.format, WeightsFormat::Torch);
    let model = source.load::<Flex>(&Default::default()).unwrap();

    let shape = common::usizes(&fixture["shape"]);
    let f = |k: &str| fixture["formula"][k].as_f64().unwrap();
    let input = Array5::from_shape_fn((1, 1, shape[0], shape[1], shape[2]), |(_, _, i, j, k)| {
        (0.5 + 0.5 * (f("a") * i as f64 + f("b") * j as f64 + f("c") * k as f64 + f("d")).sin())
            as f32
    });
    let window = SlidingWindow {
        roi_size: [roi[0], roi[1], roi[2]],
        sw_batch_size: fixture["sw_batch_size"].as_u64().unwrap() as usize,
        overlap: fixture["overlap"].as_f64().unwrap(),
        mode: BlendMode::Constant,
        ..source.run.sliding_window
    };
    let forward = |w: Array5<f32>| {
        let dims = w.shape().to_vec();
        let x = Tensor::<Flex, 5>::from_data(
            TensorData::new(w.into_raw_vec_and_offset().0, dims),
            &Default::default(),
        );
        let y = model.forward(x);
        let dims = y.dims();
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        Ok(Array5::from_shape_vec(dims, v).unwrap())
    };
    let scores = window.infer(input.view(), forward).unwrap();
    let labels_of = |scores: &Array5<f32>| -> Vec<u8> {
        argmax_channels(scores.index_axis(Axis(0), 0).into_dyn())
            .iter()
            .copied()
            .collect()
    };
    let ours = labels_of(&scores);
    same_labels_outside_ties(&ours, &fixture, "plain");

    // Flip test-time augmentation: MONAI's windows on each mirroring, probabilities averaged.
    let tta = &fixture["tta"];
    let probs =
        predict_probabilities(&window, input.view(), TestTimeAugmentation::Flip, forward).unwrap();
    let flips: Vec<[bool; 3]> = tta["flips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dims| {
            let dims = common::usizes(dims);
            [2, 3, 4].map(|d| dims.contains(&d))
        })
        .collect();
    assert_eq!(TestTimeAugmentation::Flip.flips(), flips);
    let with_tta = labels_of(&probs);
    same_labels_outside_ties(&with_tta, tta, "flip TTA");
    let changed = with_tta.iter().zip(&ours).filter(|(a, b)| a != b).count();
    let want = tta["changed_by_tta"].as_u64().unwrap() as usize;
    // Ours and MONAI's may differ only at ties, of the plain pass or of the TTA mean.
    let ties = |f: &Value| f["ties"].as_array().unwrap().len();
    assert!(
        changed.abs_diff(want) <= ties(&fixture) + ties(tta),
        "TTA changed {changed} labels, MONAI's {want}"
    );
    let flat = probs.index_axis(Axis(0), 0);
    let channels = flat.shape()[0];
    let flat = flat.to_shape((channels, ours.len())).unwrap();
    for probe in tta["probes"].as_array().unwrap() {
        let i = probe["index"].as_u64().unwrap() as usize;
        for (c, want) in probe["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let got = flat[[c, i]];
            let want = want.as_f64().unwrap() as f32;
            assert!(
                (got - want).abs() < 2e-6,
                "voxel {i} class {c}: {got} vs MONAI {want}"
            );
        }
    }

    // A config describing another network is refused, naming a tensor and both shapes.
    let mut other = config.clone();
    other["model"]["feature_size"] = (c["feature_size"].as_u64().unwrap() * 2).into();
    std::fs::write(&config_path, other.to_string()).unwrap();
    let loaded = ModelSource::open(&checkpoint, Some(&config_path))
        .unwrap()
        .load::<Flex>(&Default::default());
    let Err(err) = loaded else {
        panic!("a mismatched config is refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("unetr_tiny_best_metric_model.pth") && err.contains("shape"),
        "{err}"
    );
}

/// `ours` equals the labels of `expected["label_runs"]` outside `expected["ties"]`.
fn same_labels_outside_ties(ours: &[u8], expected: &Value, what: &str) {
    let monai: Vec<u8> = expected["label_runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            std::iter::repeat_n(
                r[0].as_u64().unwrap() as u8,
                r[1].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(ours.len(), monai.len());
    let ties: std::collections::HashSet<usize> = expected["ties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as usize)
        .collect();
    let differ: Vec<usize> = (0..ours.len())
        .filter(|i| ours[*i] != monai[*i] && !ties.contains(i))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: {} of {} voxels differ from MONAI outside ties (first {:?})",
        differ.len(),
        ours.len(),
        &differ[..differ.len().min(5)]
    );
    let classes: std::collections::BTreeSet<u8> = ours.iter().copied().collect();
    assert!(
        classes.len() > 1,
        "{what}: a test that cannot fail: {classes:?}"
    );
}
