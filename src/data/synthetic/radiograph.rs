//! Digitally reconstructed radiographs (DRRs) of the synthetic phantoms: ConVIRT's 2-D images made
//! from the same CT, so image–report pretraining runs offline on radiographs whose findings are
//! known. A frontal projection as a chest film shows it: each pixel is the line integral of the
//! attenuation through the body front to back, `μ = μ_water · (1 + HU / 1000)` (air 0), displayed
//! as film darkening `1 − exp(−A / K)` (bone and mediastinum bright, lungs dark); the patient's
//! right (the phantoms' −x, where their liver and right kidney lie) on the image's left as a film
//! is read, the head at the top, rows resampled so pixels are square.

use super::SyntheticVolume;
use crate::io::raster::Raster;

/// Linear attenuation of water at a diagnostic ~70 keV, per mm.
pub const MU_WATER_PER_MM: f64 = 0.0193;
/// The display's scale: an attenuation `A` shows as `1 − exp(−A / K)` of white.
pub const DISPLAY_SCALE: f64 = 3.0;

/// The frontal (coronal) projection of `vol`: one grey channel, `nx` wide, `nz·sz/sx` high.
pub fn frontal_drr(vol: &SyntheticVolume) -> Raster {
    let (nx, ny, nz) = vol.hu.dim();
    let spacing = |axis: usize| vol.affine[axis][axis].abs();
    let (sx, sy, sz) = (spacing(0), spacing(1), spacing(2));
    // Line integrals per (x, z), front to back along the second voxel axis.
    let mut integral = vec![0f64; nx * nz];
    for i in 0..nx {
        for k in 0..nz {
            let a: f64 = (0..ny)
                .map(|j| MU_WATER_PER_MM * (1.0 + vol.hu[[i, j, k]] as f64 / 1000.0).max(0.0))
                .sum();
            integral[i * nz + k] = a * sy;
        }
    }
    // Square pixels: as many rows as the z extent holds columns' widths; the top row the most
    // superior slice (the largest z index, the affine's z axis pointing up).
    let height = ((nz as f64 * sz / sx).round() as usize).max(1);
    let mut data = vec![0u8; nx * height];
    for row in 0..height {
        // The row's centre in (fractional) slice coordinates, counted from the top.
        let t = ((row as f64 + 0.5) * nz as f64 / height as f64 - 0.5).clamp(0.0, (nz - 1) as f64);
        let k_from_top = t.floor() as usize;
        let w = t - k_from_top as f64;
        let top = nz - 1 - k_from_top;
        let below = top.saturating_sub(1);
        for i in 0..nx {
            let a = (1.0 - w) * integral[i * nz + top] + w * integral[i * nz + below];
            let shade = 1.0 - (-a / DISPLAY_SCALE).exp();
            // Voxel index i grows towards the patient's right: the image's left.
            data[row * nx + (nx - 1 - i)] = (255.0 * shade).round().clamp(0.0, 255.0) as u8;
        }
    }
    Raster::new(nx, height, 1, data)
}
