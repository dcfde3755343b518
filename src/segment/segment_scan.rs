//! One scan through a segmentation model: fine-tuning's validation transforms on the image, the
//! sliding window as in validation, the argmax, and the labels put back onto the scan's own grid
//! (shape and affine of the input, so it overlays in 3D Slicer or ITK-SNAP without resampling),
//! with a quality-control picture (three mid-slices, labels overlaid, legend). The label map is
//! written atomically, so a rerun can trust any `<name>_seg.nii.gz` it finds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::Backend;
use ndarray::{Array3, Axis, Ix3};
use serde::Serialize;

use super::model_source::ModelSource;
use super::organ_volumes::{OrganVolume, organ_volumes};
use super::scans::scan_stem;
use crate::error::{Error, Result};
use crate::inferers::SlidingWindow;
use crate::io::{LabelVolume, Volume, load_labels, load_volume, write_volume};
use crate::metrics::argmax_channels;
use crate::networks::Unetr;
use crate::report::write_views;
use crate::train::batch_tensors::{array_to_tensor, tensor_to_array};
use crate::transforms::invert_labels::labels_to_grid;
use crate::transforms::pipelines::Pipeline;

/// What segmenting one scan gave.
#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    pub scan: PathBuf,
    pub segmentation: PathBuf,
    /// Three mid-slices with the labels overlaid.
    pub qc: PathBuf,
    /// Seconds of reading, preprocessing, inference and writing (0 when `reused`).
    pub seconds: f64,
    /// The segmentation was already there from an earlier run and was only measured.
    pub reused: bool,
    pub organs: Vec<OrganVolume>,
}

/// Where the label map of `scan` goes in `out`.
pub fn segmentation_path(out: &Path, scan: &Path) -> PathBuf {
    out.join(format!("{}_seg.nii.gz", scan_stem(scan)))
}

/// Where the quality-control picture of `scan` goes in `out`.
pub fn qc_path(out: &Path, scan: &Path) -> PathBuf {
    out.join(format!("{}_qc.png", scan_stem(scan)))
}

/// The labels `model` predicts for `scan`, on the scan's own grid (`volume`: the scan as read).
pub fn predict_scan<B: Backend>(
    model: &Unetr<B>,
    source: &ModelSource,
    window: &SlidingWindow,
    scan: &Volume,
    device: &B::Device,
) -> Result<Array3<u8>> {
    let mut pipeline = Pipeline::finetune_images(&source.run.transforms);
    let pre = pipeline.preprocess(pipeline.load(&scan.path, None)?)?;
    let image = pre.get("image")?;
    let scores = window.infer(image.data.view().insert_axis(Axis(0)), |w| {
        Ok(tensor_to_array(model.forward(array_to_tensor(&w, device))))
    })?;
    let labels = argmax_channels(scores.index_axis(Axis(0), 0).into_dyn())
        .into_dimensionality::<Ix3>()
        .expect("3-D scores give a 3-D label map");
    let shape = scan.data.dim();
    labels_to_grid(
        labels.view(),
        &image.affine,
        [shape.0, shape.1, shape.2],
        &scan.affine,
    )
}

/// Segments `scan` into `out` (or, when its segmentation is already there, reads it back) and
/// measures every organ on the scan.
pub fn segment_scan<B: Backend>(
    model: &Unetr<B>,
    source: &ModelSource,
    window: &SlidingWindow,
    scan: &Path,
    out: &Path,
    device: &B::Device,
) -> Result<ScanResult> {
    let t = Instant::now();
    let seg_path = segmentation_path(out, scan);
    let volume = load_volume(scan)?;
    let reused = seg_path.is_file();
    let labels = if reused {
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
    } else {
        let labels = predict_scan(model, source, window, &volume, device)?;
        write_volume(&seg_path, &labels, &volume.affine)?;
        labels
    };
    let organs = organ_volumes(
        labels.view(),
        volume.data.view(),
        &volume.affine,
        source.network.out_channels,
    );
    let qc = qc_path(out, scan);
    if !qc.is_file() {
        let labels = LabelVolume {
            path: seg_path.clone(),
            data: labels,
            affine: volume.affine,
        };
        write_views(&volume, Some(&labels), &qc)?;
    }
    Ok(ScanResult {
        scan: scan.to_path_buf(),
        segmentation: seg_path,
        qc,
        seconds: if reused {
            0.0
        } else {
            t.elapsed().as_secs_f64()
        },
        reused,
        organs,
    })
}
