//! One preprocessed sample in a file of its own, for the persistent disk cache: a small header
//! (magic, payload length, xxh3 checksum) and the images with their affines and metadata. A file
//! whose checksum or layout does not match is reported as corrupt, and the dataset recomputes it.

use std::path::Path;

use ndarray::Array4;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::Result;
use crate::transforms::{MetaImage, Sample};

const MAGIC: &[u8; 8] = b"SSL3DC01";

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Serialises a sample (images in C order).
fn encode(sample: &Sample) -> Vec<u8> {
    let mut p = Vec::new();
    put_u64(&mut p, sample.images.len() as u64);
    for (name, img) in &sample.images {
        put_str(&mut p, name);
        for &d in img.data.shape() {
            put_u64(&mut p, d as u64);
        }
        for v in img.affine.iter().flatten() {
            p.extend_from_slice(&v.to_le_bytes());
        }
        let data = img.data.as_standard_layout();
        for v in data.iter() {
            p.extend_from_slice(&v.to_le_bytes());
        }
    }
    put_u64(&mut p, sample.meta.len() as u64);
    for (name, values) in &sample.meta {
        put_str(&mut p, name);
        put_u64(&mut p, values.len() as u64);
        for v in values {
            p.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut out = Vec::with_capacity(p.len() + 24);
    out.extend_from_slice(MAGIC);
    put_u64(&mut out, p.len() as u64);
    put_u64(&mut out, xxh3_64(&p));
    out.extend_from_slice(&p);
    out
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u64()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Parses a cache file's bytes; `None` when they are not an intact cache entry.
pub(crate) fn decode(bytes: &[u8]) -> Option<Sample> {
    if bytes.len() < 24 || &bytes[..8] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().ok()?) as usize;
    let hash = u64::from_le_bytes(bytes[16..24].try_into().ok()?);
    let payload = bytes.get(24..24usize.checked_add(len)?)?;
    if bytes.len() != 24 + len || xxh3_64(payload) != hash {
        return None;
    }
    let mut c = Cursor { b: payload, pos: 0 };
    let mut sample = Sample::default();
    for _ in 0..c.u64()? {
        let name = c.string()?;
        let shape: Vec<usize> = (0..4)
            .map(|_| c.u64().map(|v| v as usize))
            .collect::<Option<_>>()?;
        let mut affine = [[0f64; 4]; 4];
        for v in affine.iter_mut().flatten() {
            *v = f64::from_le_bytes(c.take(8)?.try_into().ok()?);
        }
        let n: usize = shape.iter().product();
        let data: Vec<f32> = c
            .take(n.checked_mul(4)?)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let data = Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), data).ok()?;
        sample.images.insert(name, MetaImage { data, affine });
    }
    for _ in 0..c.u64()? {
        let name = c.string()?;
        let n = c.u64()? as usize;
        let values = (0..n)
            .map(|_| Some(i64::from_le_bytes(c.take(8)?.try_into().ok()?)))
            .collect::<Option<Vec<_>>>()?;
        sample.meta.insert(name, values);
    }
    (c.pos == payload.len()).then_some(sample)
}

/// Writes a cache entry atomically (a unique temporary file, then a rename), so concurrent runs
/// sharing the directory never read a half-written entry.
pub fn write_atomic(path: &Path, sample: &Sample) -> Result<()> {
    crate::io::atomic::write_atomic(path, &encode(sample))
}
