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
///
/// Three separable passes over plain slices (z, then y, then x): each output voxel gets the same
/// three nested interpolations, in the same order, as interpolating the eight corners directly,
/// at a fraction of the reads. This runs for every view of every step, so it must stay cheap
/// even unoptimised (the test build).
pub fn resize_trilinear(vol: ArrayView3<f32>, out: [usize; 3]) -> Array3<f32> {
    Array3::from_shape_vec(out, resized_voxels(vol, out)).expect("ox·oy·oz voxels")
}

/// [`resize_trilinear`]'s voxels in C order.
fn resized_voxels(vol: ArrayView3<f32>, out: [usize; 3]) -> Vec<f32> {
    let (nx, ny, nz) = vol.dim();
    let [ox, oy, oz] = out;
    let xs: Vec<_> = (0..ox).map(|i| source_index(i, nx, ox)).collect();
    let ys: Vec<_> = (0..oy).map(|i| source_index(i, ny, oy)).collect();
    let zs: Vec<_> = (0..oz).map(|i| source_index(i, nz, oz)).collect();
    let lerp = |a: f32, b: f32, w: f32| a + (b - a) * w;
    // Along z, row by row: [nx, ny, oz].
    let mut along_z = vec![0f32; nx * ny * oz];
    let mut row = vec![0f32; nz];
    for (lane, dst) in vol.rows().into_iter().zip(along_z.chunks_exact_mut(oz)) {
        let src = match lane.as_slice() {
            Some(src) => src,
            None => {
                for (r, v) in row.iter_mut().zip(lane.iter()) {
                    *r = *v;
                }
                &row
            }
        };
        for (d, &(z0, z1, wz)) in dst.iter_mut().zip(&zs) {
            *d = lerp(src[z0], src[z1], wz);
        }
    }
    // Along y, plane by plane: [nx, oy, oz].
    let mut along_y = vec![0f32; nx * oy * oz];
    for (src, dst) in along_z
        .chunks_exact(ny * oz)
        .zip(along_y.chunks_exact_mut(oy * oz))
    {
        for (d_row, &(y0, y1, wy)) in dst.chunks_exact_mut(oz).zip(&ys) {
            let (r0, r1) = (&src[y0 * oz..(y0 + 1) * oz], &src[y1 * oz..(y1 + 1) * oz]);
            for ((d, &a), &b) in d_row.iter_mut().zip(r0).zip(r1) {
                *d = lerp(a, b, wy);
            }
        }
    }
    // Along x: [ox, oy, oz].
    let plane = oy * oz;
    let mut resized = vec![0f32; ox * plane];
    for (dst, &(x0, x1, wx)) in resized.chunks_exact_mut(plane).zip(&xs) {
        let (p0, p1) = (
            &along_y[x0 * plane..(x0 + 1) * plane],
            &along_y[x1 * plane..(x1 + 1) * plane],
        );
        for ((d, &a), &b) in dst.iter_mut().zip(p0).zip(p1) {
            *d = lerp(a, b, wx);
        }
    }
    resized
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
        let view = resized_voxels(boxed, self.roi);
        if !draws.flip {
            return view;
        }
        // Left–right: the first axis, whole y–z planes in reverse order.
        let plane = self.roi[1] * self.roi[2];
        view.chunks_exact(plane).rev().flatten().copied().collect()
    }

    /// A random view of a base volume.
    pub fn view(&self, base: &Array3<f32>, rng: &mut RandomState) -> Vec<f32> {
        let draws = self.draw(base.dim().into(), rng);
        self.apply(base, &draws)
    }

    /// The evaluation view: the whole base volume resized to `roi`, unflipped.
    pub fn evaluation(&self, base: &Array3<f32>) -> Vec<f32> {
        resized_voxels(base.view(), self.roi)
    }
}
