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

/// Decompresses a gzip file's bytes; `fast` tries libdeflate first (single-member streams).
pub(crate) fn gunzip(path: &Path, raw: Vec<u8>, fast: bool) -> Result<Vec<u8>> {
    // The gzip trailer holds the uncompressed size mod 2^32: libdeflate decompresses a whole
    // single-member stream into a buffer of that size about twice as fast as zlib streaming.
    let hint = if raw.len() >= 18 {
        u32::from_le_bytes(raw[raw.len() - 4..].try_into().unwrap()) as usize
    } else {
        0
    };
    if fast && hint > 0 {
        let mut out = vec![0u8; hint];
        let mut d = libdeflater::Decompressor::new();
        if let Ok(n) = d.gzip_decompress(&raw, &mut out)
            && n == hint
        {
            return Ok(out);
        }
    }
    // Multi-member, larger than 4 GiB, truncated or corrupt streams: flate2 reads what exists
    // and explains what does not.
    let mut out = Vec::with_capacity(hint.max(raw.len()));
    flate2::bufread::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| Error::bad_file(path, describe_read_error(&e)))?;
    Ok(out)
}
