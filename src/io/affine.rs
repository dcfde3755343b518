//! Voxel-to-world affines exactly as nibabel derives them from a NIfTI-1 header, in f64.
//!
//! nibabel is the reference reader of the Python world (MONAI's `LoadImage` uses it), so ssl3d
//! follows its rules rather than the `nifti` crate's, which panics on `qfac` 0.

use nifti::NiftiHeader;

/// A 4×4 voxel-to-world (RAS+ mm) matrix, row-major.
pub type Affine = [[f64; 4]; 4];

/// Which header fields the affine came from (nibabel's choice order: sform, qform, base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffineSource {
    Sform,
    Qform,
    /// No valid xform code: the centred base affine from shape and zooms, x flipped.
    Base,
}

impl AffineSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            AffineSource::Sform => "sform",
            AffineSource::Qform => "qform",
            AffineSource::Base => "base(shape/zooms)",
        }
    }
}

/// nibabel's `img.affine`: sform when `sform_code > 0`, else qform when `qform_code > 0`, else base.
pub(crate) fn best_affine(
    h: &NiftiHeader,
    shape: &[usize],
) -> Result<(Affine, AffineSource), String> {
    if h.sform_code > 0 {
        Ok((sform_affine(h), AffineSource::Sform))
    } else if h.qform_code > 0 {
        Ok((qform_affine(h)?, AffineSource::Qform))
    } else {
        Ok((
            base_affine(shape, &zooms(h, shape.len())),
            AffineSource::Base,
        ))
    }
}

/// The `srow_*` rows as f64.
fn sform_affine(h: &NiftiHeader) -> Affine {
    let r = |row: &[f32; 4]| [row[0] as f64, row[1] as f64, row[2] as f64, row[3] as f64];
    [
        r(&h.srow_x),
        r(&h.srow_y),
        r(&h.srow_z),
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// The quaternion affine. `qfac` (`pixdim[0]`) 0 is read as 1, as nibabel and nifti1_io do.
pub fn qform_affine(h: &NiftiHeader) -> Result<Affine, String> {
    let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
    let w2 = 1.0 - (b * b + c * c + d * d);
    // nibabel's fillpositive threshold: -3 float32 eps.
    let a = if w2 < 0.0 {
        if w2 < -3.0 * f32::EPSILON as f64 {
            return Err(format!(
                "invalid qform quaternion (b, c, d) = ({b}, {c}, {d}): b²+c²+d² > 1"
            ));
        }
        0.0
    } else {
        w2.sqrt()
    };
    let r = quaternion_to_rotation(a, b, c, d);
    let vox = [h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64];
    if vox.iter().any(|v| *v < 0.0) {
        return Err(format!("negative pixdim {vox:?} with a qform"));
    }
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let zoom = [vox[0], vox[1], vox[2] * qfac];
    let t = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
    let mut m = identity();
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = r[i][j] * zoom[j];
        }
        m[i][3] = t[i];
    }
    Ok(m)
}

/// nibabel's `quat2mat` for a (w, x, y, z) quaternion.
fn quaternion_to_rotation(w: f64, x: f64, y: f64, z: f64) -> [[f64; 3]; 3] {
    let n = w * w + x * x + y * y + z * z;
    if n < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / n;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

/// nibabel's `shape_zoom_affine(shape, zooms, x_flip=True)`: centred, x flipped, 3-D padded.
fn base_affine(shape: &[usize], zooms: &[f64]) -> Affine {
    let mut s = [1.0f64; 3];
    let mut z = [1.0f64; 3];
    for i in 0..3.min(shape.len()) {
        s[i] = shape[i] as f64;
        z[i] = zooms.get(i).copied().unwrap_or(1.0);
    }
    z[0] = -z[0];
    let mut m = identity();
    for i in 0..3 {
        m[i][i] = z[i];
        m[i][3] = -((s[i] - 1.0) / 2.0) * z[i];
    }
    m
}

/// The header's voxel sizes, one per data dimension (nibabel's `get_zooms`).
pub fn zooms(h: &NiftiHeader, ndim: usize) -> Vec<f64> {
    h.pixdim[1..=ndim.min(7)]
        .iter()
        .map(|&v| v as f64)
        .collect()
}

/// Voxel spacing in mm along each of the three spatial axes: the norms of the affine's columns,
/// which is what MONAI's `Spacing` treats as the current pixdim.
pub fn spacing_of(affine: &Affine) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (j, o) in out.iter_mut().enumerate() {
        *o = (0..3)
            .map(|i| affine[i][j] * affine[i][j])
            .sum::<f64>()
            .sqrt();
    }
    out
}

pub fn identity() -> Affine {
    let mut m = [[0.0; 4]; 4];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_affine_centres_and_flips_x() {
        let m = base_affine(&[4, 5, 7], &[2.0, 3.0, 4.0]);
        assert_eq!(m[0][0], -2.0);
        assert_eq!(m[0][3], 3.0); // -(1.5)*(-2)
        assert_eq!(m[1][3], -6.0);
        assert_eq!(m[2][3], -12.0);
    }

    #[test]
    fn identity_quaternion_gives_identity_rotation() {
        let r = quaternion_to_rotation(1.0, 0.0, 0.0, 0.0);
        assert_eq!(r, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }
}
