//! Writing `.nii.gz` volumes that nibabel, 3D Slicer and ITK-SNAP place correctly: either an affine,
//! written into both the sform and the qform (codes 1, scanner), or the geometry of another file's
//! header copied field for field (a label map then carries its scan's qform, sform and codes, so
//! it overlays exactly as the scan does, even where the scan's qform and sform disagree). Units
//! are mm. Files are written to a temporary name and renamed, so a crash never leaves a
//! half-written volume behind.

use std::path::Path;

use nalgebra::Matrix4;
use ndarray::{ArrayBase, Data, Ix3, RemoveAxis};
use nifti::writer::WriterOptions;
use nifti::{DataElement, NiftiHeader, XForm};

use super::affine::Affine;
use crate::error::{Error, Result};

/// NIFTI_UNITS_MM | NIFTI_UNITS_SEC.
const UNITS_MM_SEC: u8 = 2 | 8;

/// Where a written volume lies in space.
#[derive(Debug, Clone, Copy)]
pub enum Placement<'a> {
    /// This voxel-to-world affine, into both the sform and the qform (codes 1, scanner).
    Affine(&'a Affine),
    /// The geometry of this header as stored: `pixdim` (with the qform's `qfac`), the qform and
    /// sform with their codes, and the units. Nothing else is copied (not the scaling, the
    /// intent or the display range, which belong to the other file's values).
    LikeHeader(&'a NiftiHeader),
}

fn header_for(placement: Placement) -> NiftiHeader {
    let mut h = NiftiHeader::default();
    match placement {
        Placement::Affine(a) => {
            #[rustfmt::skip]
            let m = Matrix4::new(
                a[0][0], a[0][1], a[0][2], a[0][3],
                a[1][0], a[1][1], a[1][2], a[1][3],
                a[2][0], a[2][1], a[2][2], a[2][3],
                0.0, 0.0, 0.0, 1.0,
            );
            h.set_sform(&m, XForm::ScannerAnat);
            h.set_qform(&m, XForm::ScannerAnat);
            h.xyzt_units = UNITS_MM_SEC;
        }
        Placement::LikeHeader(g) => {
            h.pixdim = g.pixdim;
            h.qform_code = g.qform_code;
            h.quatern_b = g.quatern_b;
            h.quatern_c = g.quatern_c;
            h.quatern_d = g.quatern_d;
            h.quatern_x = g.quatern_x;
            h.quatern_y = g.quatern_y;
            h.quatern_z = g.quatern_z;
            h.sform_code = g.sform_code;
            h.srow_x = g.srow_x;
            h.srow_y = g.srow_y;
            h.srow_z = g.srow_z;
            h.xyzt_units = g.xyzt_units;
            h.dim_info = g.dim_info;
        }
    }
    let mut descrip = b"ssl3d".to_vec();
    descrip.resize(80, 0);
    h.descrip = descrip;
    h
}

/// Writes a 3-D volume of any NIfTI element type (`f32`, `i16`, `u8`, ...) to `path` (`.nii.gz`
/// or `.nii`) atomically, with `affine` in its qform and sform.
pub fn write_volume<A, S>(path: &Path, data: &ArrayBase<S, Ix3>, affine: &Affine) -> Result<()>
where
    S: Data<Elem = A>,
    A: DataElement + bytemuck::Pod,
{
    write_image(path, data, Placement::Affine(affine))
}

/// Writes an image of any rank (3-D volumes; 4-D `(X, Y, Z, C)` for one channel per class, as
/// MONAI's `SaveImage` stores channels) placed as `placement` says, atomically.
pub fn write_image<A, S, D>(path: &Path, data: &ArrayBase<S, D>, placement: Placement) -> Result<()>
where
    S: Data<Elem = A>,
    A: DataElement + bytemuck::Pod,
    D: RemoveAxis,
{
    let name = path.to_string_lossy().to_lowercase();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        return Err(Error::bad_file(
            path,
            "output must be named .nii or .nii.gz",
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let header = header_for(placement);
    // The nifti crate writes C- or Fortran-ordered arrays only (it panics on others): a reversed
    // or strided view is copied into C order first.
    let copy;
    let data = if data.is_standard_layout() || data.t().is_standard_layout() {
        data.view()
    } else {
        copy = data.as_standard_layout().into_owned();
        copy.view()
    };
    let tmp = super::atomic::temp_path(path);
    let result = WriterOptions::new(&tmp)
        .reference_header(&header)
        .write_nifti(&data)
        .map_err(|e| Error::bad_file(path, format!("cannot write NIfTI: {e}")))
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, s};

    #[test]
    fn any_memory_layout_is_written_as_its_values() {
        let dir = std::env::temp_dir().join(format!("ssl3d-writer-{}", std::process::id()));
        let data = Array3::from_shape_fn((4, 3, 2), |(i, j, k)| (i * 6 + j * 2 + k) as f32);
        let affine = crate::io::affine::identity();
        let reversed = data.slice(s![..;-1, .., ..;-1]);
        let strided = data.slice(s![..;2, .., ..]);
        let fortran = data.t().as_standard_layout().into_owned().reversed_axes();
        for (name, view) in [
            ("reversed", reversed),
            ("strided", strided),
            ("fortran", fortran.view()),
        ] {
            let path = dir.join(format!("{name}.nii.gz"));
            write_volume(&path, &view, &affine).unwrap();
            let back = crate::io::load_volume(&path).unwrap();
            assert_eq!(back.data, view, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_header_s_geometry_is_copied_field_for_field() {
        let dir = std::env::temp_dir().join(format!("ssl3d-writer-like-{}", std::process::id()));
        // A scan whose qform (code 1) and sform (code 4, with a shear) disagree, as real
        // scanners' files often do: both must survive as they were.
        let mut scan = header_for(Placement::Affine(&crate::io::affine::identity()));
        scan.qform_code = 1;
        scan.pixdim = [-1.0, 0.8, 0.7, 2.5, 1.0, 0.0, 0.0, 0.0];
        scan.quatern_b = 0.0;
        scan.quatern_c = 0.0;
        scan.quatern_d = 1.0;
        scan.quatern_x = 12.5;
        scan.quatern_y = -7.0;
        scan.quatern_z = 30.0;
        scan.sform_code = 4;
        scan.srow_x = [-0.8, 0.01, 0.0, 12.0];
        scan.srow_y = [0.0, -0.7, 0.0, -7.5];
        scan.srow_z = [0.0, 0.0, 2.5, 31.0];
        scan.xyzt_units = 2;
        let labels = Array3::from_shape_fn((3, 4, 2), |(i, j, k)| (i + j + k) as u8);
        let path = dir.join("seg.nii.gz");
        write_image(&path, &labels, Placement::LikeHeader(&scan)).unwrap();
        let back = crate::io::read_header(&path).unwrap().raw;
        assert_eq!(
            (back.qform_code, back.sform_code, back.xyzt_units),
            (1, 4, 2)
        );
        assert_eq!(back.pixdim[..4], scan.pixdim[..4]);
        assert_eq!(
            [back.quatern_b, back.quatern_c, back.quatern_d],
            [0.0, 0.0, 1.0]
        );
        assert_eq!(
            [back.quatern_x, back.quatern_y, back.quatern_z],
            [12.5, -7.0, 30.0]
        );
        assert_eq!(
            [back.srow_x, back.srow_y, back.srow_z],
            [scan.srow_x, scan.srow_y, scan.srow_z]
        );
        assert_eq!(crate::io::load_labels(&path).unwrap().data, labels);

        // Four dimensions, channels last (one per class), read back in the same order.
        let probs = ndarray::Array4::from_shape_fn((3, 4, 2, 5), |(i, j, k, c)| {
            (i * 40 + j * 10 + k * 5 + c) as f32
        });
        let path = dir.join("prob.nii.gz");
        write_image(&path, &probs, Placement::LikeHeader(&scan)).unwrap();
        let image = crate::io::read_nifti(&path).unwrap();
        assert_eq!(image.header.shape, vec![3, 4, 2, 5]);
        let crate::io::VoxelData::Scalar(values) = image.data else {
            panic!("scalars")
        };
        assert_eq!(values, probs.into_dyn());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
