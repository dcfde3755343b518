//! `LoadImaged` + `EnsureChannelFirstd`: NIfTI files into `(1, X, Y, Z)` f32 images with their
//! affines, no reorientation (docs/MONAI_COMPAT.md, "LoadImage"). Labels are read losslessly and
//! must sit on their image's grid with values below `num_classes`.

use std::path::Path;

use ndarray::{Array3, Axis};

use super::meta::{MetaImage, Sample};
use crate::error::{Error, Result};
use crate::io::reader::read_labels_f32;
use crate::io::volume::{check_label_grid, check_label_values, to_3d};
use crate::io::{Volume, load_volume};

fn channel_first(a: Array3<f32>) -> ndarray::Array4<f32> {
    a.insert_axis(Axis(0))
}

/// A volume already read, as the sample `LoadImaged` would have made of its file (key `"image"`).
pub(crate) fn image_sample(volume: &Volume) -> Sample {
    let mut sample = Sample {
        source: Some(volume.path.clone()),
        ..Default::default()
    };
    sample.images.insert(
        "image".into(),
        MetaImage {
            data: channel_first(volume.data.clone()),
            affine: volume.affine,
        },
    );
    sample
}

/// Loads `image` (and `label`) into a sample with keys `"image"` (and `"label"`). The image and the
/// label are both read and checked, so a bad image does not hide a bad label: every problem of
/// the pair is in the error.
pub(crate) fn load_sample(
    image: &Path,
    label: Option<&Path>,
    num_classes: Option<usize>,
) -> Result<Sample> {
    let vol = load_volume(image);
    // Straight to f32 (what MONAI's LoadImaged gives), with the checks done on the way.
    let lab = label.map(|path| {
        let (header, data, found_max) = read_labels_f32(path)?;
        let data = to_3d(path, data)?;
        if let Some(n) = num_classes {
            let max = n.saturating_sub(1).min(255) as u8;
            check_label_values(path, found_max, max, data.iter().map(|&v| v as u8))?;
        }
        Ok::<_, Error>((path, header, data))
    });
    let (vol, lab) = match (vol, lab.transpose()) {
        (Ok(vol), Ok(lab)) => (vol, lab),
        (Err(a), Err(b)) => return Err(Error::Files(vec![a, b])),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let mut sample = Sample {
        source: Some(image.to_path_buf()),
        ..Default::default()
    };
    if let Some((path, header, data)) = lab {
        check_label_grid(
            image,
            vol.data.shape(),
            &vol.affine,
            path,
            data.shape(),
            &header.affine,
        )?;
        sample.images.insert(
            "label".into(),
            MetaImage {
                data: channel_first(data),
                affine: header.affine,
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
