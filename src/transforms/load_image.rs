//! `LoadImaged` + `EnsureChannelFirstd`: NIfTI files into `(1, X, Y, Z)` f32 images with their
//! affines, no reorientation (SPEC §6.11.1). Labels are read losslessly and must sit on their image's
//! grid with values below `num_classes`.

use std::path::Path;

use ndarray::{Array3, Axis};

use super::meta::{MetaImage, Sample};
use crate::error::Result;
use crate::io::{check_label_matches, load_labels, load_volume};

fn channel_first(a: Array3<f32>) -> ndarray::Array4<f32> {
    a.insert_axis(Axis(0))
}

/// Loads `image` (and `label`) into a sample with keys `"image"` (and `"label"`).
pub fn load_sample(
    image: &Path,
    label: Option<&Path>,
    num_classes: Option<usize>,
) -> Result<Sample> {
    let vol = load_volume(image)?;
    let mut sample = Sample {
        source: Some(image.to_path_buf()),
        ..Default::default()
    };
    if let Some(label) = label {
        let lab = load_labels(label)?;
        let max_label = num_classes.map(|n| (n.saturating_sub(1)).min(255) as u8);
        check_label_matches(&vol, &lab, max_label)?;
        sample.images.insert(
            "label".into(),
            MetaImage {
                data: channel_first(lab.data.mapv(|v| v as f32)),
                affine: lab.affine,
            },
        );
    }
    sample.images.insert(
        "image".into(),
        MetaImage {
            data: channel_first(vol.data),
            affine: vol.affine,
        },
    );
    Ok(sample)
}
