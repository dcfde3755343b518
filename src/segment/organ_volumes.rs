//! What a segmentation measures, per organ: voxel count, volume in mL from the scan's own voxel
//! size, and the scan's mean intensity (HU for CT) inside the organ.

use ndarray::ArrayView3;
use serde::Serialize;

use crate::data::btcv::organ_names;
use crate::io::Affine;

/// One organ of one segmentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrganVolume {
    pub label: u8,
    pub organ: String,
    pub voxels: u64,
    pub volume_ml: f64,
    /// Mean of the scan's values inside the organ; `None` when the organ is absent.
    pub mean_intensity: Option<f64>,
}

/// The volume of one voxel of `affine`'s grid in mm³ (|det| of its 3×3 part).
pub fn voxel_mm3(affine: &Affine) -> f64 {
    let a = affine;
    let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    det.abs()
}

/// Every foreground class `1..num_classes` of `labels`, measured on `image` (the same grid,
/// `affine`'s voxels).
pub fn organ_volumes(
    labels: ArrayView3<u8>,
    image: ArrayView3<f32>,
    affine: &Affine,
    num_classes: usize,
) -> Vec<OrganVolume> {
    assert_eq!(
        labels.shape(),
        image.shape(),
        "a label map on its scan's grid"
    );
    let mut count = vec![0u64; 256];
    let mut sum = vec![0f64; 256];
    for (&l, &v) in labels.iter().zip(image.iter()) {
        count[l as usize] += 1;
        sum[l as usize] += v as f64;
    }
    let ml = voxel_mm3(affine) / 1000.0;
    organ_names(num_classes)
        .into_iter()
        .zip(1..)
        .map(|(organ, l)| OrganVolume {
            label: l as u8,
            organ,
            voxels: count[l],
            volume_ml: count[l] as f64 * ml,
            mean_intensity: (count[l] > 0).then(|| sum[l] / count[l] as f64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn counts_measures_and_averages_each_organ() {
        let mut labels = Array3::<u8>::zeros((4, 4, 2));
        labels[[0, 0, 0]] = 1;
        labels[[1, 0, 0]] = 1;
        labels[[3, 3, 1]] = 2;
        let image = Array3::from_shape_fn((4, 4, 2), |(i, j, k)| (i * 8 + j * 2 + k) as f32);
        let mut affine = crate::io::affine::identity();
        affine[0][0] = -0.5;
        affine[1][1] = 2.0;
        affine[2][2] = 3.0;
        let v = organ_volumes(labels.view(), image.view(), &affine, 4);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].organ, "class 1");
        assert_eq!((v[0].label, v[0].voxels), (1, 2));
        assert!((v[0].volume_ml - 2.0 * 3.0 / 1000.0).abs() < 1e-12);
        assert_eq!(v[0].mean_intensity, Some(4.0));
        assert_eq!(v[1].mean_intensity, Some((3 * 8 + 3 * 2 + 1) as f64));
        assert_eq!((v[2].voxels, v[2].mean_intensity), (0, None));
    }
}
