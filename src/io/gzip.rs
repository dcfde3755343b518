//! Gzip-compressed NIfTI (`.nii.gz`, `.hdr.gz`/`.img.gz`): decompression and readable errors
//! for truncated or corrupt streams.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// A readable explanation of an I/O or gzip error while reading a (possibly compressed) stream.
pub(crate) fn describe_read_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            "gzip stream is truncated (unexpected end of file)".into()
        }
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            format!("corrupt or not gzip-compressed data: {e}")
        }
        _ => e.to_string(),
    }
}

/// Deflate expands at most about 1032:1, so a gzip trailer that claims more than this many times
/// the compressed size is not a size (a truncated or corrupt file) and is not trusted.
const MAX_DEFLATE_RATIO: usize = 1032;

/// The uncompressed size the gzip trailer states (mod 2^32), if it is possible for `raw`'s length.
fn trailer_size_hint(raw: &[u8]) -> usize {
    if raw.len() < 18 {
        return 0;
    }
    let hint = u32::from_le_bytes(raw[raw.len() - 4..].try_into().unwrap()) as usize;
    if hint <= raw.len().saturating_mul(MAX_DEFLATE_RATIO) {
        hint
    } else {
        0
    }
}

/// An empty buffer with room for `n` bytes, or a clear error where the memory is not there.
fn buffer(path: &Path, n: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| {
        Error::bad_file(
            path,
            format!(
                "cannot allocate {:.1} GiB to decompress it",
                n as f64 / (1u64 << 30) as f64
            ),
        )
    })?;
    Ok(out)
}

/// Decompresses a gzip file's bytes; `fast` tries libdeflate first (single-member streams).
pub(crate) fn gunzip(path: &Path, raw: Vec<u8>, fast: bool) -> Result<Vec<u8>> {
    // The gzip trailer holds the uncompressed size mod 2^32: libdeflate decompresses a whole
    // single-member stream into a buffer of that size about twice as fast as zlib streaming.
    let hint = trailer_size_hint(&raw);
    if fast && hint > 0 {
        let mut out = buffer(path, hint)?;
        out.resize(hint, 0);
        let mut d = libdeflater::Decompressor::new();
        if let Ok(n) = d.gzip_decompress(&raw, &mut out)
            && n == hint
        {
            return Ok(out);
        }
    }
    // Multi-member, larger than 4 GiB, truncated or corrupt streams: flate2 reads what exists
    // and explains what does not.
    let mut out = buffer(path, hint.max(raw.len()))?;
    flate2::bufread::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| Error::bad_file(path, describe_read_error(&e)))?;
    Ok(out)
}
