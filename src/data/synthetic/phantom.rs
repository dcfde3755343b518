//! A phantom is an ordered list of tissue parts painted into a voxel grid, later parts over earlier
//! ones, plus scanner noise. Rendering is parallel over slices and deterministic from a seed.

use ndarray::{Array3, ShapeBuilder};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::geometry::{P3, Shape, Texture};
use crate::io::Affine;

/// One tissue: where it is, its mean HU and texture, and the label it writes (0 = background).
#[derive(Debug, Clone)]
pub struct Part {
    pub shape: Shape,
    /// Painted only where this shape also contains the point (e.g. lesions kept inside a lung).
    pub clip: Option<Shape>,
    pub hu: f64,
    pub texture: Texture,
    pub label: u8,
}

impl Part {
    pub fn new(shape: Shape, hu: f64, texture: Texture, label: u8) -> Self {
        Part {
            shape,
            clip: None,
            hu,
            texture,
            label,
        }
    }

    fn contains(&self, p: P3) -> bool {
        self.shape.contains(p) && self.clip.as_ref().is_none_or(|c| c.contains(p))
    }
}

/// Where the voxels are: array shape, voxel-to-world affine, and the world position of the
/// phantom's origin (patient-frame coordinates are world minus origin).
#[derive(Debug, Clone)]
pub struct Grid {
    pub shape: [usize; 3],
    pub affine: Affine,
    pub origin: P3,
}

impl Grid {
    fn patient_point(&self, i: usize, j: usize, k: usize) -> P3 {
        let a = &self.affine;
        let v = [i as f64, j as f64, k as f64];
        let mut p = [0.0; 3];
        for (r, out) in p.iter_mut().enumerate() {
            *out = a[r][0] * v[0] + a[r][1] * v[1] + a[r][2] * v[2] + a[r][3] - self.origin[r];
        }
        p
    }
}

#[derive(Debug, Clone)]
pub struct Phantom {
    pub parts: Vec<Part>,
    /// HU where no part is (air).
    pub background_hu: f64,
    /// Standard deviation of the Gaussian scanner noise, HU.
    pub noise_sd: f64,
}

/// Lowest and highest value a 12-bit CT scanner stores.
const HU_RANGE: (f64, f64) = (-1024.0, 3071.0);

impl Phantom {
    /// Renders HU (int16, as scanners store them) and labels, both Fortran-ordered `[i, j, k]`.
    pub(crate) fn render(&self, grid: &Grid, seed: u64) -> (Array3<i16>, Array3<u8>) {
        let [nx, ny, nz] = grid.shape;
        let mut hu = vec![0i16; nx * ny * nz];
        let mut labels = vec![0u8; nx * ny * nz];
        hu.par_chunks_mut(nx * ny)
            .zip(labels.par_chunks_mut(nx * ny))
            .enumerate()
            .for_each(|(k, (hu_slice, lab_slice))| {
                let z = grid.patient_point(0, 0, k)[2];
                // A slice only tests the parts that reach it (the affine has no shear in z here
                // for phantoms, so one z per slice is exact).
                let parts: Vec<&Part> = self
                    .parts
                    .iter()
                    .filter(|p| {
                        let r = p.shape.z_range();
                        z >= r[0] && z <= r[1]
                    })
                    .collect();
                let mut rng =
                    StdRng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let noise = Normal::new(0.0, self.noise_sd.max(1e-9)).expect("finite sd");
                for j in 0..ny {
                    for i in 0..nx {
                        let p = grid.patient_point(i, j, k);
                        let mut value = self.background_hu;
                        let mut label = 0u8;
                        for part in &parts {
                            if part.contains(p) {
                                value = part.hu + part.texture.at(p);
                                label = part.label;
                            }
                        }
                        let v = value + noise.sample(&mut rng);
                        hu_slice[i + nx * j] = v.round().clamp(HU_RANGE.0, HU_RANGE.1) as i16;
                        lab_slice[i + nx * j] = label;
                    }
                }
            });
        let shape = (nx, ny, nz).f();
        (
            Array3::from_shape_vec(shape, hu).expect("sized above"),
            Array3::from_shape_vec(shape, labels).expect("sized above"),
        )
    }
}
