//! Reading and checking a NIfTI-1 header. Field parsing is the `nifti` crate's; the checks around
//! it (NIfTI-2, magic, dimensions, datatype, scaling, data offset) follow nibabel, which the crate
//! does not: it would panic or silently return wrong data on several real files.

use std::io::Read;
use std::path::Path;

use nifti::NiftiHeader;

use super::affine::{self, Affine, AffineSource};
use super::datatype::StoredType;
use super::paths::{NiftiPaths, is_gz};
use crate::error::{Error, Result};

/// Size of a NIfTI-1 header; a single `.nii` file's voxels start at `vox_offset` ≥ 352.
const NIFTI1_HEADER_SIZE: usize = 348;
const NIFTI2_HEADER_SIZE: i32 = 540;

/// Everything ssl3d derives from a header before touching voxels.
#[derive(Debug, Clone)]
pub struct HeaderInfo {
    /// The raw header fields as stored (byte order already resolved).
    pub raw: NiftiHeader,
    pub paths: NiftiPaths,
    pub stored_type: StoredType,
    /// Data shape `dim[1..=dim[0]]`, as nibabel returns it (trailing 1s kept).
    pub shape: Vec<usize>,
    /// nibabel's `get_zooms()`: `pixdim[1..=dim[0]]`.
    pub zooms: Vec<f64>,
    pub affine: Affine,
    pub affine_source: AffineSource,
    /// `(slope, inter)` when the header asks for scaling; `None` when `scl_slope` is 0 or not
    /// finite (nibabel: unscaled).
    pub scaling: Option<(f64, f64)>,
    /// Byte offset of the voxels in the image stream.
    pub data_offset: usize,
    pub big_endian: bool,
}

impl HeaderInfo {
    pub(crate) fn n_voxels(&self) -> usize {
        self.shape.iter().product()
    }

    pub(crate) fn data_bytes(&self) -> usize {
        self.n_voxels() * self.stored_type.size()
    }
}

/// The most voxel bytes a header may declare (1 TiB): beyond any CT volume, and small enough that
/// offset + size can never overflow.
const MAX_DATA_BYTES: usize = 1 << 40;

/// Parses and validates the 348 header bytes of `path`'s header file.
pub(crate) fn parse_header(path: &Path, paths: NiftiPaths, bytes: &[u8]) -> Result<HeaderInfo> {
    let bad = |m: String| Error::bad_file(path, m);
    if bytes.len() < 4 {
        return Err(bad(format!(
            "file is too short for a NIfTI header ({} bytes)",
            bytes.len()
        )));
    }
    let size_le = i32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let size_be = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
    if size_le == NIFTI2_HEADER_SIZE || size_be == NIFTI2_HEADER_SIZE {
        return Err(bad(
            "NIfTI-2 file (540-byte header): ssl3d reads NIfTI-1 only; convert it, e.g. \
             with nibabel: nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine).to_filename(...)"
                .into(),
        ));
    }
    if size_le != NIFTI1_HEADER_SIZE as i32 && size_be != NIFTI1_HEADER_SIZE as i32 {
        return Err(bad(format!(
            "not a NIfTI-1 file: sizeof_hdr is {size_le}, expected 348"
        )));
    }
    if bytes.len() < NIFTI1_HEADER_SIZE {
        return Err(bad(format!(
            "header is truncated: {} of 348 bytes",
            bytes.len()
        )));
    }
    let raw = NiftiHeader::from_reader(&bytes[..NIFTI1_HEADER_SIZE]).map_err(|e| {
        let magic = String::from_utf8_lossy(&bytes[344..347]).to_string();
        bad(format!(
            "not a NIfTI-1 header (magic {magic:?}; Analyze 7.5 is not supported): {e}"
        ))
    })?;
    let single_file = paths.image.is_none();
    if single_file && &raw.magic != b"n+1\0" {
        return Err(bad(
            "magic 'ni1' says the voxels are in a separate .img file, but the file is named .nii"
                .into(),
        ));
    }
    let ndim = raw.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(bad(format!(
            "invalid number of dimensions dim[0] = {}",
            raw.dim[0]
        )));
    }
    let shape: Vec<usize> = raw.dim[1..=ndim].iter().map(|&d| d as usize).collect();
    if shape.contains(&0) {
        return Err(bad(format!("empty volume: dim = {shape:?}")));
    }
    let stored_type =
        StoredType::from_code(raw.datatype).map_err(|m| bad(format!("{m} (datatype)")))?;
    // Sizes from a header are untrusted: the voxel bytes must be countable before anything is
    // sized from them (the file's real length is checked against them when the data is read).
    let countable = shape
        .iter()
        .try_fold(stored_type.size(), |bytes, &d| bytes.checked_mul(d))
        .is_some_and(|bytes| bytes <= MAX_DATA_BYTES);
    if !countable {
        return Err(bad(format!(
            "dim = {shape:?} of {} would need more than {} GiB: not a volume ssl3d can read",
            stored_type.name(),
            MAX_DATA_BYTES >> 30
        )));
    }
    let slope = raw.scl_slope as f64;
    let inter = raw.scl_inter as f64;
    let scaling = if slope == 0.0 || !slope.is_finite() || stored_type == StoredType::Rgb24 {
        None
    } else if !inter.is_finite() {
        return Err(bad(format!(
            "valid scl_slope {slope} with invalid scl_inter {inter}"
        )));
    } else if slope == 1.0 && inter == 0.0 {
        None
    } else {
        Some((slope, inter))
    };
    let zooms = affine::zooms(&raw, ndim);
    let (affine, affine_source) = affine::best_affine(&raw, &shape).map_err(bad)?;
    if affine.iter().flatten().any(|v| !v.is_finite()) {
        return Err(bad(format!(
            "non-finite values in the {} affine",
            affine_source.as_str()
        )));
    }
    let vox_offset = raw.vox_offset;
    if !vox_offset.is_finite() || vox_offset < 0.0 || vox_offset as f64 > MAX_DATA_BYTES as f64 {
        return Err(bad(format!("invalid vox_offset {vox_offset}")));
    }
    let mut data_offset = vox_offset as usize;
    if single_file {
        data_offset = data_offset.max(NIFTI1_HEADER_SIZE + 4);
    }
    let big_endian = raw.endianness == nifti::Endianness::Big;
    Ok(HeaderInfo {
        raw,
        paths,
        stored_type,
        shape,
        zooms,
        affine,
        affine_source,
        scaling,
        data_offset,
        big_endian,
    })
}

/// Reads only the header of a NIfTI image (cheap: used to validate datalists before a run).
pub fn read_header(path: &Path) -> Result<HeaderInfo> {
    let paths = NiftiPaths::resolve(path)?;
    let hdr_path = paths.header.clone();
    let file = std::fs::File::open(&hdr_path).map_err(|e| Error::io(&hdr_path, e))?;
    let mut bytes = Vec::with_capacity(NIFTI1_HEADER_SIZE);
    let reader = std::io::BufReader::new(file);
    let res = if is_gz(&hdr_path) {
        flate2::read::MultiGzDecoder::new(reader)
            .take(NIFTI1_HEADER_SIZE as u64)
            .read_to_end(&mut bytes)
    } else {
        reader
            .take(NIFTI1_HEADER_SIZE as u64)
            .read_to_end(&mut bytes)
    };
    res.map_err(|e| Error::bad_file(&hdr_path, super::gzip::describe_read_error(&e)))?;
    let info = parse_header(&hdr_path, paths, &bytes)?;
    if let Some(img) = &info.paths.image
        && !img.exists()
    {
        return Err(Error::bad_file(img, "image file of the header is missing"));
    }
    Ok(info)
}
