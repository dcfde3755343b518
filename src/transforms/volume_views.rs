//! ConVIRT's image view of a CT volume, for image–report pretraining on CT (docs/CONVIRT.md,
//! "CT volumes with reports"): the reference's radiograph view carried to three dimensions.
//! Preprocessing as `ssl-pretrain`'s (`Spacingd` to `pixdim`, the HU window scaled to [0, 1],
//! `CropForegroundd`), then the foreground box resampled once to a base grid a little larger
//! than the view, which is what a dataset keeps. Each view is a random box holding a share of
//! the base volume drawn from `crop_scale` (the 3-D `RandomResizedCrop`, its shape kept), resized
//! to `roi` by trilinear interpolation as PyTorch's `interpolate(mode="trilinear",
//! align_corners=False)` (MONAI's `Resize`), and flipped left–right (the first voxel axis) with
//! probability `flip_p`, as the reference flips radiographs. The evaluation view is the whole
//! base volume resized, unflipped. So a view always shows most of the chest, where the report's
//! findings are, unlike a 96³ crop of a whole CT.

use std::path::Path;

use ndarray::{Array3, ArrayView3, s};

use super::compose::{Compose, Transform};
use super::crop_foreground::CropForegroundd;
use super::load_image::load_sample;
use super::pipelines::Window;
use super::rng::RandomState;
use super::scale_intensity_range::ScaleIntensityRanged;
use super::spacing::{Interp, Spacingd};
use crate::error::{Error, Result};

/// PyTorch's source coordinate for output index `i` (`align_corners=False`): the centre of
/// output voxel `i` in input voxels, clamped at 0, with its two neighbours and the weight of
/// the upper one.
fn source_index(i: usize, n_in: usize, n_out: usize) -> (usize, usize, f32) {
    let scale = n_in as f32 / n_out as f32;
    let src = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
    let lo = (src.floor() as usize).min(n_in - 1);
    let hi = (lo + 1).min(n_in - 1);
    (lo, hi, src - lo as f32)
}

/// `vol` resized to `out` by trilinear interpolation, as PyTorch's
/// `interpolate(vol[None, None], size=out, mode="trilinear", align_corners=False)`.
pub fn resize_trilinear(vol: ArrayView3<f32>, out: [usize; 3]) -> Array3<f32> {
    let (nx, ny, nz) = vol.dim();
    let xs: Vec<_> = (0..out[0]).map(|i| source_index(i, nx, out[0])).collect();
    let ys: Vec<_> = (0..out[1]).map(|i| source_index(i, ny, out[1])).collect();
    let zs: Vec<_> = (0..out[2]).map(|i| source_index(i, nz, out[2])).collect();
    Array3::from_shape_fn((out[0], out[1], out[2]), |(i, j, k)| {
        let ((x0, x1, wx), (y0, y1, wy), (z0, z1, wz)) = (xs[i], ys[j], zs[k]);
        let lerp = |a: f32, b: f32, w: f32| a + (b - a) * w;
        let plane = |x: usize| {
            let row = |y: usize| lerp(vol[[x, y, z0]], vol[[x, y, z1]], wz);
            lerp(row(y0), row(y1), wy)
        };
        lerp(plane(x0), plane(x1), wx)
    })
}

/// What one view's random steps chose: the box (start and size per axis, in base voxels) and
/// the flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeDraws {
    pub start: [usize; 3],
    pub size: [usize; 3],
    pub flip: bool,
}

/// The view settings of ConVIRT on CT volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeViews {
    /// The view's shape, what the image encoder takes.
    pub roi: [usize; 3],
    /// Voxel size (mm) the volume is resampled to first (`Spacingd`, bilinear).
    pub pixdim: [f64; 3],
    /// The HU window scaled to [b_min, b_max].
    pub window: Window,
    /// The share of the volume a view keeps, drawn uniformly from this range.
    pub crop_scale: (f64, f64),
    /// Probability of a left–right flip.
    pub flip_p: f64,
}

impl VolumeViews {
    /// The base grid the preprocessed volume is kept at: large enough that the smallest box
    /// (`crop_scale.0` of the volume) still has `roi` voxels a side.
    pub fn base_shape(&self) -> [usize; 3] {
        let side = self.crop_scale.0.clamp(1e-3, 1.0).cbrt();
        self.roi.map(|r| (r as f64 / side).ceil() as usize)
    }

    /// Reads `path` and preprocesses it to the base grid (what a dataset keeps).
    pub fn prepare(&self, path: &Path) -> Result<Array3<f32>> {
        let sample = load_sample(path, None, None)?;
        let key = || vec!["image".to_string()];
        let steps: Vec<Box<dyn Transform>> = vec![
            Box::new(Spacingd {
                keys: vec![("image".into(), Interp::Bilinear)],
                pixdim: self.pixdim,
            }),
            Box::new(ScaleIntensityRanged {
                keys: key(),
                params: self.window.transform(),
            }),
            Box::new(CropForegroundd {
                keys: key(),
                source_key: "image".into(),
            }),
        ];
        let mut out = Compose::new(steps).run(sample)?;
        let image = out.remove(0).take("image")?;
        let volume = image.data.index_axis_move(ndarray::Axis(0), 0);
        let floor = self.window.b_min as f32;
        if volume.iter().all(|&v| v == floor) {
            return Err(Error::bad_file(
                path,
                "nothing in the volume lies inside the intensity window (every voxel is \
                 background after scaling)",
            ));
        }
        Ok(resize_trilinear(volume.view(), self.base_shape()))
    }

    /// Draws one view's box and flip on a base volume of `shape`.
    pub fn draw(&self, shape: [usize; 3], rng: &mut RandomState) -> VolumeDraws {
        let (lo, hi) = self.crop_scale;
        let share = lo + (hi - lo) * rng.random_sample();
        let side = share.cbrt();
        let size = shape.map(|n| ((n as f64 * side).round() as usize).clamp(1, n));
        let mut start = [0; 3];
        for d in 0..3 {
            start[d] = rng.randint(0, (shape[d] - size[d] + 1) as i64) as usize;
        }
        let flip = rng.random_sample() < self.flip_p;
        VolumeDraws { start, size, flip }
    }

    /// The view `draws` describes, of a base volume: `roi` voxels, C order.
    pub fn apply(&self, base: &Array3<f32>, draws: &VolumeDraws) -> Vec<f32> {
        let (a, n) = (draws.start, draws.size);
        let boxed = base.slice(s![a[0]..a[0] + n[0], a[1]..a[1] + n[1], a[2]..a[2] + n[2]]);
        let mut view = resize_trilinear(boxed, self.roi);
        if draws.flip {
            view.invert_axis(ndarray::Axis(0));
        }
        view.iter().copied().collect()
    }

    /// A random view of a base volume.
    pub fn view(&self, base: &Array3<f32>, rng: &mut RandomState) -> Vec<f32> {
        let draws = self.draw(base.dim().into(), rng);
        self.apply(base, &draws)
    }

    /// The evaluation view: the whole base volume resized to `roi`, unflipped.
    pub fn evaluation(&self, base: &Array3<f32>) -> Vec<f32> {
        resize_trilinear(base.view(), self.roi)
            .into_iter()
            .collect()
    }
}
