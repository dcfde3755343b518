//! The scans `ssl-segment` reads: one NIfTI file, every NIfTI file of a folder, or a list of a
//! MONAI datalist (`test` by default, or any list it holds).

use std::path::{Path, PathBuf};

use crate::data::load_datalist_key;
use crate::error::{Error, Result};

/// Whether `path` names a NIfTI volume ssl3d reads (`.nii`, `.nii.gz`, or the header of an
/// `.hdr`/`.img` pair).
pub fn is_nifti(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    [".nii", ".nii.gz", ".hdr", ".hdr.gz"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// The scans `input` names: a NIfTI file, a folder (its NIfTI files, sorted), or a datalist
/// (`.json`; its list under `key`, paths relative to `data_dir` or the list's folder).
pub fn list_scans(input: &Path, key: &str, data_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    if input.is_dir() {
        let mut scans: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| Error::io(input, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_nifti(p))
            .collect();
        scans.sort();
        if scans.is_empty() {
            return Err(Error::bad_file(
                input,
                "holds no NIfTI file (.nii, .nii.gz, .hdr)",
            ));
        }
        return Ok(scans);
    }
    if input.extension().is_some_and(|e| e == "json") {
        let items = load_datalist_key(input, key, data_dir, false)?;
        return Ok(items.into_iter().map(|i| i.image).collect());
    }
    if !input.exists() {
        return Err(Error::bad_file(input, "not found"));
    }
    if !is_nifti(input) {
        return Err(Error::bad_file(
            input,
            "expected a NIfTI file (.nii, .nii.gz, .hdr), a folder of them, or a datalist (.json)",
        ));
    }
    Ok(vec![input.to_path_buf()])
}

/// The name outputs of `scan` start with: its file name without the NIfTI extension.
pub fn scan_stem(scan: &Path) -> String {
    let name = scan
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scan".into());
    let lower = name.to_lowercase();
    for ext in [".nii.gz", ".hdr.gz", ".nii", ".hdr", ".img"] {
        if lower.ends_with(ext) {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_the_nifti_extension_only() {
        assert_eq!(scan_stem(Path::new("/d/img0001.nii.gz")), "img0001");
        assert_eq!(scan_stem(Path::new("a.b.NII")), "a.b");
        assert_eq!(scan_stem(Path::new("x.hdr")), "x");
        assert!(is_nifti(Path::new("x.HDR")) && !is_nifti(Path::new("x.img")));
    }

    #[test]
    fn a_datalist_s_named_list_is_read_and_a_missing_one_names_the_keys() {
        let dir = std::env::temp_dir().join(format!("ssl3d-scans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("cohort.json");
        std::fs::write(
            &list,
            r#"{"training": [], "cohort_2026": ["scans/a.nii.gz", {"image": "scans/b.nii.gz"}]}"#,
        )
        .unwrap();
        let scans = list_scans(&list, "cohort_2026", None).unwrap();
        assert_eq!(
            scans,
            vec![dir.join("scans/a.nii.gz"), dir.join("scans/b.nii.gz")]
        );
        let err = list_scans(&list, "test", None).unwrap_err().to_string();
        assert!(
            err.contains("cohort.json") && err.contains("cohort_2026, training"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
