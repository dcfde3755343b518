//! Writing `.nii.gz` volumes that nibabel, 3D Slicer and ITK-SNAP place correctly: the affine goes
//! into both the sform and the qform (codes 1, scanner), units are mm. Files are written to a
//! temporary name and renamed, so a crash never leaves a half-written volume behind.

use std::path::Path;

use nalgebra::Matrix4;
use ndarray::{ArrayBase, Data, Ix3};
use nifti::writer::WriterOptions;
use nifti::{DataElement, NiftiHeader, XForm};

use super::affine::Affine;
use crate::error::{Error, Result};

/// NIFTI_UNITS_MM | NIFTI_UNITS_SEC.
const UNITS_MM_SEC: u8 = 2 | 8;

fn header_for(affine: &Affine) -> NiftiHeader {
    let a = affine;
    #[rustfmt::skip]
    let m = Matrix4::new(
        a[0][0], a[0][1], a[0][2], a[0][3],
        a[1][0], a[1][1], a[1][2], a[1][3],
        a[2][0], a[2][1], a[2][2], a[2][3],
        0.0, 0.0, 0.0, 1.0,
    );
    let mut h = NiftiHeader::default();
    h.set_sform(&m, XForm::ScannerAnat);
    h.set_qform(&m, XForm::ScannerAnat);
    h.xyzt_units = UNITS_MM_SEC;
    let mut descrip = b"ssl3d".to_vec();
    descrip.resize(80, 0);
    h.descrip = descrip;
    h
}

/// Writes a 3-D volume of any NIfTI element type (`f32`, `i16`, `u8`, ...) to `path` (`.nii.gz`
/// or `.nii`) atomically.
pub fn write_volume<A, S>(path: &Path, data: &ArrayBase<S, Ix3>, affine: &Affine) -> Result<()>
where
    S: Data<Elem = A>,
    A: DataElement + bytemuck::Pod,
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
    let header = header_for(affine);
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
}
