//! Reading NIfTI-1 voxels into `f32` (intensities), `u8` (label maps) or RGB triples, with the
//! index order nibabel returns: `data[i, j, k, ...]`, `i` fastest on disk (Fortran layout, no copy).

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use rayon::prelude::*;

use super::datatype::StoredType;
use super::gzip::gunzip;
use super::header::{HeaderInfo, parse_header};
use super::paths::{NiftiPaths, is_gz};
use crate::error::{Error, Result};

/// Voxels per parallel conversion chunk.
const CHUNK: usize = 1 << 16;

/// Voxel values of an image, Fortran-ordered with the header's shape.
#[derive(Debug, Clone)]
pub enum VoxelData {
    /// Scalar voxels after `scl_slope`/`scl_inter` scaling.
    Scalar(ArrayD<f32>),
    /// RGB24 pictures: never scaled, never a CT volume.
    Rgb24(ArrayD<[u8; 3]>),
}

/// A NIfTI image as nibabel would return it.
#[derive(Debug, Clone)]
pub struct NiftiImage {
    pub path: PathBuf,
    pub header: HeaderInfo,
    pub data: VoxelData,
}

/// Whole content of `path`, gunzipped when its name ends in `.gz`.
fn read_all(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !is_gz(path) {
        return Ok(raw);
    }
    gunzip(path, raw, true)
}

/// Reads the header and the raw (unscaled, file byte order) voxel bytes.
fn read_raw(path: &Path) -> Result<(HeaderInfo, Vec<u8>, usize)> {
    let paths = NiftiPaths::resolve(path)?;
    let header_bytes = read_all(&paths.header)?;
    let info = parse_header(&paths.header, paths.clone(), &header_bytes)?;
    let (data_path, mut bytes) = match &paths.image {
        None => (paths.header.clone(), header_bytes),
        Some(img) => {
            if !img.exists() {
                return Err(Error::bad_file(img, "image file of the header is missing"));
            }
            (img.clone(), read_all(img)?)
        }
    };
    let need = info.data_bytes();
    let start = info.data_offset;
    if bytes.len() < start + need && is_gz(&data_path) {
        // libdeflate stops after the first gzip member; a concatenated (multi-member) file
        // needs the streaming decoder.
        let raw = std::fs::read(&data_path).map_err(|e| Error::io(&data_path, e))?;
        bytes = gunzip(&data_path, raw, false)?;
    }
    if bytes.len() < start + need {
        return Err(Error::bad_file(
            &data_path,
            format!(
                "file is shorter than its header says: {} voxels of {} need {} bytes from offset {}, \
                 but only {} bytes follow",
                info.n_voxels(),
                info.stored_type.name(),
                need,
                start,
                bytes.len().saturating_sub(start)
            ),
        ));
    }
    Ok((info, bytes, start))
}

macro_rules! decode_chunk {
    ($t:ty, $raw:expr, $big:expr, $out:expr, $f:expr) => {{
        const N: usize = std::mem::size_of::<$t>();
        let f = $f;
        if $big {
            for (o, b) in $out.iter_mut().zip($raw.chunks_exact(N)) {
                *o = f(<$t>::from_be_bytes(b.try_into().unwrap()) as f64);
            }
        } else {
            for (o, b) in $out.iter_mut().zip($raw.chunks_exact(N)) {
                *o = f(<$t>::from_le_bytes(b.try_into().unwrap()) as f64);
            }
        }
    }};
}

/// Decodes stored scalars (any type, either byte order) through `f(value as f64)`, in parallel.
fn decode_scalars<T, F>(raw: &[u8], stored: StoredType, big: bool, out: &mut [T], f: F)
where
    T: Send,
    F: Fn(f64) -> T + Sync,
{
    let size = stored.size();
    out.par_chunks_mut(CHUNK)
        .zip(raw.par_chunks(CHUNK * size))
        .for_each(|(o, r)| match stored {
            StoredType::U8 => decode_chunk!(u8, r, big, o, &f),
            StoredType::I8 => decode_chunk!(i8, r, big, o, &f),
            StoredType::I16 => decode_chunk!(i16, r, big, o, &f),
            StoredType::U16 => decode_chunk!(u16, r, big, o, &f),
            StoredType::I32 => decode_chunk!(i32, r, big, o, &f),
            StoredType::U32 => decode_chunk!(u32, r, big, o, &f),
            StoredType::I64 => decode_chunk!(i64, r, big, o, &f),
            StoredType::U64 => decode_chunk!(u64, r, big, o, &f),
            StoredType::F32 => decode_chunk!(f32, r, big, o, &f),
            StoredType::F64 => decode_chunk!(f64, r, big, o, &f),
            StoredType::Rgb24 => unreachable!("RGB24 is decoded separately"),
        });
}

fn fortran_array<T>(shape: &[usize], data: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape).f(), data).expect("length checked against the header")
}

/// Reads any NIfTI-1 image: scalars scaled to f32, or RGB24 kept as triples.
pub fn read_nifti(path: &Path) -> Result<NiftiImage> {
    let (header, bytes, start) = read_raw(path)?;
    let n = header.n_voxels();
    let raw = &bytes[start..start + header.data_bytes()];
    let data = if header.stored_type == StoredType::Rgb24 {
        let rgb: Vec<[u8; 3]> = raw.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        VoxelData::Rgb24(fortran_array(&header.shape, rgb))
    } else {
        let mut out = vec![0f32; n];
        match header.scaling {
            // The common CT case: little-endian int16 HU, unscaled. A direct, vectorisable loop.
            None if header.stored_type == StoredType::I16 && !header.big_endian => out
                .par_chunks_mut(CHUNK)
                .zip(raw.par_chunks(CHUNK * 2))
                .for_each(|(o, r)| {
                    for (o, b) in o.iter_mut().zip(r.chunks_exact(2)) {
                        *o = i16::from_le_bytes([b[0], b[1]]) as f32;
                    }
                }),
            None => decode_scalars(raw, header.stored_type, header.big_endian, &mut out, |v| {
                v as f32
            }),
            Some((slope, inter)) => {
                decode_scalars(raw, header.stored_type, header.big_endian, &mut out, |v| {
                    (v * slope + inter) as f32
                })
            }
        }
        VoxelData::Scalar(fortran_array(&header.shape, out))
    };
    Ok(NiftiImage {
        path: path.to_path_buf(),
        header,
        data,
    })
}

/// Reads a label map losslessly into `u8`: every (scaled) value must be a whole number in 0..=255,
/// otherwise the error names the file, the value and where it is.
pub fn read_label_map(path: &Path) -> Result<(HeaderInfo, ArrayD<u8>)> {
    let (header, labels, _) = read_labels_f32(path)?;
    Ok((header, labels.mapv(|v| v as u8)))
}

/// Like [`read_label_map`] but as f32 (what MONAI's `LoadImaged` gives transforms), with the
/// largest label: one parallel decode pass and one parallel check pass.
pub(crate) fn read_labels_f32(path: &Path) -> Result<(HeaderInfo, ArrayD<f32>, u8)> {
    let (header, bytes, start) = read_raw(path)?;
    if header.stored_type == StoredType::Rgb24 {
        return Err(Error::bad_file(
            path,
            "RGB24 picture, not a label map (expected integer labels)",
        ));
    }
    let n = header.n_voxels();
    let raw = &bytes[start..start + header.data_bytes()];
    let (slope, inter) = header.scaling.unwrap_or((1.0, 0.0));
    // Invalid values become NaN, found in the check pass.
    let to_label = |v: f64| {
        let v = v * slope + inter;
        if v.is_finite() && v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
            v as f32
        } else {
            f32::NAN
        }
    };
    let mut labels = vec![0f32; n];
    if header.stored_type == StoredType::U8 {
        // The common case: a 256-entry table instead of per-voxel arithmetic.
        let table: Vec<f32> = (0..=255u8).map(|b| to_label(b as f64)).collect();
        labels
            .par_chunks_mut(CHUNK)
            .zip(raw.par_chunks(CHUNK))
            .for_each(|(o, r)| {
                o.iter_mut()
                    .zip(r)
                    .for_each(|(o, &b)| *o = table[b as usize])
            });
    } else {
        decode_scalars(
            raw,
            header.stored_type,
            header.big_endian,
            &mut labels,
            to_label,
        );
    }
    let max = labels
        .par_chunks(1 << 16)
        .map(|c| {
            c.iter().copied().fold(0f32, |m, v| {
                if v.is_nan() || m.is_nan() {
                    f32::NAN
                } else {
                    m.max(v)
                }
            })
        })
        .reduce(
            || 0.0,
            |a, b| {
                if a.is_nan() || b.is_nan() {
                    f32::NAN
                } else {
                    a.max(b)
                }
            },
        );
    if max.is_nan() {
        let idx = labels
            .iter()
            .position(|l| l.is_nan())
            .expect("an invalid label exists");
        // Decode the offending voxel once more to show its value.
        let size = header.stored_type.size();
        let mut value = [0f64];
        decode_scalars(
            &raw[idx * size..(idx + 1) * size],
            header.stored_type,
            header.big_endian,
            &mut value,
            |v| v * slope + inter,
        );
        let index = fortran_index(idx, &header.shape);
        return Err(Error::bad_file(
            path,
            format!(
                "label value {} at voxel {index:?} is not a whole number in 0..=255 (is this an intensity image?)",
                value[0]
            ),
        ));
    }
    Ok((
        header.clone(),
        fortran_array(&header.shape, labels),
        max as u8,
    ))
}

/// Multi-index of the `flat`-th voxel in Fortran order.
pub(crate) fn fortran_index(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .map(|&d| {
            let i = flat % d;
            flat /= d;
            i
        })
        .collect()
}
