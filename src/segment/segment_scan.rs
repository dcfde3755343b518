//! One scan through a segmentation model, in two halves so that the next scan can be read while
//! the current one is predicted: [`prepare_scan`] reads the scan and applies fine-tuning's
//! validation transforms; [`finish_scan`] runs the sliding window as in validation (optionally
//! with flip test-time augmentation), takes the argmax, and puts the labels (and class
//! probabilities) back onto the scan's own grid. Outputs carry the scan's own header geometry
//! (shape, qform, sform and their codes), so they overlay in 3D Slicer or ITK-SNAP without
//! resampling, and are written atomically, so a rerun can trust any output it finds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::Backend;
use ndarray::{Array3, Array4, Axis, Ix3};
use serde::Serialize;

use super::model_source::ModelSource;
use super::organ_volumes::{OrganVolume, organ_volumes};
use super::scans::scan_stem;
use crate::error::{Error, Result};
use crate::inferers::{SlidingWindow, TestTimeAugmentation, predict_probabilities};
use crate::io::{
    HeaderInfo, LabelVolume, Placement, Volume, load_labels, load_volume_with_header, write_image,
};
use crate::metrics::{argmax_channels, softmax_channels};
use crate::networks::SegmentationModel;
use crate::report::write_views;
use crate::train::batch_tensors::{array_to_tensor, tensor_to_array};
use crate::transforms::MetaImage;
use crate::transforms::invert_labels::{labels_to_grid, probabilities_to_grid};
use crate::transforms::load_image::image_sample;
use crate::transforms::pipelines::Pipeline;

/// How each scan is predicted and what is written besides the label map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SegmentOptions {
    pub tta: TestTimeAugmentation,
    /// Also write `<name>_prob.nii.gz`: one float channel per class, channels last.
    pub probabilities: bool,
}

/// What segmenting one scan gave.
#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    pub scan: PathBuf,
    pub segmentation: PathBuf,
    /// The class probabilities, when asked for.
    pub probabilities: Option<PathBuf>,
    /// Three mid-slices with the labels overlaid.
    pub qc: PathBuf,
    /// Seconds of reading, preprocessing, inference and writing (0 when `reused`).
    pub seconds: f64,
    /// The outputs were already there from an earlier run and were only measured.
    pub reused: bool,
    pub organs: Vec<OrganVolume>,
}

/// Where the label map of `scan` goes in `out`.
pub fn segmentation_path(out: &Path, scan: &Path) -> PathBuf {
    out.join(format!("{}_seg.nii.gz", scan_stem(scan)))
}

/// Where the class probabilities of `scan` go in `out`.
pub fn probabilities_path(out: &Path, scan: &Path) -> PathBuf {
    out.join(format!("{}_prob.nii.gz", scan_stem(scan)))
}

/// Where the quality-control picture of `scan` goes in `out`.
pub fn qc_path(out: &Path, scan: &Path) -> PathBuf {
    out.join(format!("{}_qc.png", scan_stem(scan)))
}

/// A scan read, and prepared for the model unless its outputs are all in `out` already.
pub struct PreparedScan {
    pub volume: Volume,
    pub header: HeaderInfo,
    /// The preprocessed image `(1, X', Y', Z')`; `None` when the outputs exist.
    pub image: Option<MetaImage>,
    /// Seconds spent reading and preprocessing.
    pub seconds: f64,
}

/// Reads `scan` and applies the run's validation transforms to it (unless `out` holds all the
/// outputs `options` asks for).
pub fn prepare_scan(
    source: &ModelSource,
    scan: &Path,
    out: &Path,
    options: SegmentOptions,
) -> Result<PreparedScan> {
    let t = Instant::now();
    let (volume, header) = load_volume_with_header(scan)?;
    let done = segmentation_path(out, scan).is_file()
        && (!options.probabilities || probabilities_path(out, scan).is_file());
    let image = if done {
        None
    } else {
        let mut pipeline = Pipeline::finetune_images(&source.run.transforms);
        Some(
            pipeline
                .preprocess(image_sample(&volume))?
                .get("image")?
                .clone(),
        )
    };
    Ok(PreparedScan {
        volume,
        header,
        image,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// The prediction on the preprocessed grid.
pub struct Prediction {
    pub labels: Array3<u8>,
    /// `(C, X', Y', Z')`, when asked for.
    pub probabilities: Option<Array4<f32>>,
}

/// `model`'s prediction for a preprocessed `image`. Without test-time augmentation the labels
/// are the argmax of the raw scores, exactly as validation during training takes them.
pub fn predict_scan<B: Backend, M: SegmentationModel<B>>(
    model: &M,
    window: &SlidingWindow,
    image: &MetaImage,
    options: SegmentOptions,
    device: &B::Device,
) -> Result<Prediction> {
    let input = image.data.view().insert_axis(Axis(0));
    let forward = |w| Ok(tensor_to_array(model.logits(array_to_tensor(&w, device))));
    let argmax = |scores: &Array4<f32>| {
        argmax_channels(scores.view().into_dyn())
            .into_dimensionality::<Ix3>()
            .expect("3-D scores give a 3-D label map")
    };
    let (labels, probabilities) = match options.tta {
        TestTimeAugmentation::None => {
            let mut scores = window.infer(input, forward)?.index_axis_move(Axis(0), 0);
            let labels = argmax(&scores);
            let probabilities = options.probabilities.then(|| {
                softmax_channels(scores.view_mut().into_dyn());
                scores
            });
            (labels, probabilities)
        }
        tta => {
            let probs =
                predict_probabilities(window, input, tta, forward)?.index_axis_move(Axis(0), 0);
            (argmax(&probs), options.probabilities.then_some(probs))
        }
    };
    Ok(Prediction {
        labels,
        probabilities,
    })
}

/// Predicts a prepared scan into `out` (or, when its outputs are already there, reads the label
/// map back) and measures every organ on the scan.
pub fn finish_scan<B: Backend, M: SegmentationModel<B>>(
    model: &M,
    source: &ModelSource,
    window: &SlidingWindow,
    prepared: PreparedScan,
    out: &Path,
    options: SegmentOptions,
    device: &B::Device,
) -> Result<ScanResult> {
    let t = Instant::now();
    let PreparedScan {
        volume,
        header,
        image,
        seconds,
    } = prepared;
    let scan = volume.path.clone();
    let seg_path = segmentation_path(out, &scan);
    let prob_path = options
        .probabilities
        .then(|| probabilities_path(out, &scan));
    let shape = volume.data.dim();
    let shape = [shape.0, shape.1, shape.2];
    let placement = Placement::LikeHeader(&header.raw);
    let reused = image.is_none();
    let labels = match image {
        None => {
            let labels = load_labels(&seg_path)?;
            if labels.data.shape() != volume.data.shape() {
                return Err(Error::bad_file(
                    &seg_path,
                    format!(
                        "shape {:?} is not its scan's {:?}: delete it to segment the scan again",
                        labels.data.shape(),
                        volume.data.shape()
                    ),
                ));
            }
            labels.data
        }
        Some(image) => {
            let prediction = predict_scan(model, window, &image, options, device)?;
            if let (Some(probs), Some(path)) = (&prediction.probabilities, &prob_path) {
                let grid =
                    probabilities_to_grid(probs.view(), &image.affine, shape, &volume.affine)?;
                write_image(path, &grid, placement)?;
            }
            let labels = labels_to_grid(
                prediction.labels.view(),
                &image.affine,
                shape,
                &volume.affine,
            )?;
            write_image(&seg_path, &labels, placement)?;
            labels
        }
    };
    let organs = organ_volumes(
        labels.view(),
        volume.data.view(),
        &volume.affine,
        source.network.out_channels(),
    );
    let qc = qc_path(out, &scan);
    if !qc.is_file() {
        let labels = LabelVolume {
            path: seg_path.clone(),
            data: labels,
            affine: volume.affine,
        };
        write_views(&volume, Some(&labels), &qc)?;
    }
    Ok(ScanResult {
        scan,
        segmentation: seg_path,
        probabilities: prob_path,
        qc,
        seconds: if reused {
            0.0
        } else {
            seconds + t.elapsed().as_secs_f64()
        },
        reused,
        organs,
    })
}
