//! `Orientationd(axcodes="RAS")`: reorder and flip voxel axes so array axes run along R, A, S
//! (docs/MONAI_COMPAT.md, "Orientation"). Done as strided views (no copy); the new affine follows
//! nibabel's `inv_ornt_aff`.

use nalgebra::Matrix3;

use super::linalg::matmul;
use super::meta::{MetaImage, Sample};
use crate::error::Result;
use crate::io::Affine;

/// nibabel's `io_orientation`: for each voxel axis, the world axis it runs along and its sign.
/// Axes are assigned strongest first (nibabel ≥ 5.4; identical to older versions for the
/// axis-aligned affines CT has).
fn io_orientation(affine: &Affine) -> [(usize, f64); 3] {
    let mut rs = Matrix3::<f64>::zeros();
    for j in 0..3 {
        let norm = (0..3)
            .map(|i| affine[i][j] * affine[i][j])
            .sum::<f64>()
            .sqrt();
        let norm = if norm == 0.0 { 1.0 } else { norm };
        for i in 0..3 {
            rs[(i, j)] = affine[i][j] / norm;
        }
    }
    let svd = rs.svd(true, true);
    let (u, vt) = (svd.u.unwrap(), svd.v_t.unwrap());
    let tol = svd.singular_values.max() * 3.0 * f64::EPSILON;
    let mut r = Matrix3::<f64>::zeros();
    for k in 0..3 {
        if svd.singular_values[k] > tol {
            r += u.column(k) * vt.row(k);
        }
    }
    let strength: Vec<f64> = (0..3).map(|j| r.column(j).amax()).collect();
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| strength[b].total_cmp(&strength[a]));
    let mut out = [(usize::MAX, 1.0); 3];
    for &ax in &order {
        let col = r.column(ax);
        if col.iter().all(|v| v.abs() < 1e-8) {
            continue;
        }
        let w = (0..3)
            .max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs()))
            .unwrap();
        out[ax] = (w, if col[w] < 0.0 { -1.0 } else { 1.0 });
        for j in 0..3 {
            r[(w, j)] = 0.0;
        }
    }
    // Degenerate columns take the world axes left over, unflipped.
    for ax in 0..3 {
        if out[ax].0 == usize::MAX {
            let free = (0..3).find(|w| out.iter().all(|o| o.0 != *w)).unwrap();
            out[ax] = (free, 1.0);
        }
    }
    out
}

/// Reorients one image to RAS.
pub fn to_ras(img: MetaImage) -> MetaImage {
    let ornt = io_orientation(&img.affine);
    let shape = img.spatial_shape();
    // inv_ornt_aff: undo_flip · undo_reorder.
    let mut undo_reorder = [[0.0; 4]; 4];
    for (i, (w, _)) in ornt.iter().enumerate() {
        undo_reorder[i][*w] = 1.0;
    }
    undo_reorder[3][3] = 1.0;
    let mut undo_flip = crate::io::affine::identity();
    for (i, (_, s)) in ornt.iter().enumerate() {
        let centre = -(shape[i] as f64 - 1.0) / 2.0;
        undo_flip[i][i] = *s;
        undo_flip[i][3] = s * centre - centre;
    }
    let affine = matmul(&img.affine, &matmul(&undo_flip, &undo_reorder));
    let mut data = img.data;
    for (i, (_, s)) in ornt.iter().enumerate() {
        if *s < 0.0 {
            data.invert_axis(ndarray::Axis(i + 1));
        }
    }
    // Output axis w holds the voxel axis whose world axis is w.
    let mut perm = [0usize; 4];
    for (i, (w, _)) in ornt.iter().enumerate() {
        perm[w + 1] = i + 1;
    }
    MetaImage {
        data: data.permuted_axes(perm),
        affine,
    }
}

/// Dict version over `keys`.
pub(crate) struct Orientationd {
    pub keys: Vec<String>,
}

impl super::compose::Transform for Orientationd {
    fn name(&self) -> &'static str {
        "Orientationd"
    }

    fn apply(&mut self, mut sample: Sample) -> Result<Vec<Sample>> {
        for k in &self.keys {
            let img = sample.take(k)?;
            sample.images.insert(k.clone(), to_ras(img));
        }
        Ok(vec![sample])
    }
}
