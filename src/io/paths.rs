//! Which files hold a NIfTI image's header and voxels: `.nii(.gz)` alone, or a `.hdr`/`.img` pair
//! (each optionally gzipped), whichever of the pair the user named.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Resolved on-disk layout of one NIfTI image.
#[derive(Debug, Clone)]
pub struct NiftiPaths {
    pub header: PathBuf,
    /// `None` for single-file `.nii`/`.nii.gz`, where the voxels follow the header.
    pub image: Option<PathBuf>,
}

pub(crate) fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

fn lower_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// Swaps a `.hdr[.gz]` ↔ `.img[.gz]` suffix, preferring the same compression as `path`.
fn partner(path: &Path, from: &str, to: &str) -> Vec<PathBuf> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let lower = name.to_lowercase();
    let stem_len = if lower.ends_with(&format!(".{from}.gz")) {
        name.len() - from.len() - 4
    } else {
        name.len() - from.len() - 1
    };
    let stem = &name[..stem_len];
    let gz_first = is_gz(path);
    let mut names = vec![format!("{stem}.{to}.gz"), format!("{stem}.{to}")];
    if !gz_first {
        names.reverse();
    }
    names.into_iter().map(|n| path.with_file_name(n)).collect()
}

impl NiftiPaths {
    /// Works out the header and image files for `path`; a pair whose other half is missing is an
    /// error naming both.
    pub(crate) fn resolve(path: &Path) -> Result<Self> {
        let name = lower_name(path);
        if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            return Ok(NiftiPaths {
                header: path.to_path_buf(),
                image: None,
            });
        }
        let is_header = name.ends_with(".hdr") || name.ends_with(".hdr.gz");
        if !(is_header || name.ends_with(".img") || name.ends_with(".img.gz")) {
            return Err(Error::bad_file(
                path,
                "not a NIfTI file name (expected .nii, .nii.gz, .hdr, .hdr.gz, .img or .img.gz)",
            ));
        }
        let (from, to, what) = if is_header {
            ("hdr", "img", "header has no image file")
        } else {
            ("img", "hdr", "image has no header file")
        };
        let candidates = partner(path, from, to);
        let other = candidates
            .iter()
            .find(|p| p.exists())
            .cloned()
            .ok_or_else(|| {
                Error::bad_file(
                    path,
                    format!(
                        "{what}: neither {} nor {} exists",
                        candidates[0].display(),
                        candidates[1].display()
                    ),
                )
            })?;
        let (header, image) = if is_header {
            (path.to_path_buf(), other)
        } else {
            (other, path.to_path_buf())
        };
        Ok(NiftiPaths {
            header,
            image: Some(image),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_prefers_same_compression() {
        let p = partner(Path::new("/a/b.hdr.gz"), "hdr", "img");
        assert_eq!(p[0], Path::new("/a/b.img.gz"));
        let p = partner(Path::new("/a/b.HDR"), "hdr", "img");
        assert_eq!(p[0], Path::new("/a/b.img"));
    }

    #[test]
    fn unknown_extension_is_an_error_naming_the_file() {
        let e = NiftiPaths::resolve(Path::new("scan.dcm")).unwrap_err();
        assert!(e.to_string().contains("scan.dcm"));
    }
}
