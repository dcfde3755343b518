//! TensorBoard event files, so `tensorboard --logdir runs/` shows a run's curves as it does for
//! MONAI users. A run's records are written as scalar summaries into
//! `events.out.tfevents.ssl3d` beside `metrics.jsonl`.
//!
//! The format is small and stable: a TFRecord stream (length, masked CRC-32C of the length, the
//! bytes, masked CRC-32C of the bytes) of `tensorflow.Event` protocol buffers, each holding a
//! wall time, a step and a `Summary` of `(tag, simple_value)` pairs; the first event only names
//! the file version. The few protobuf fields are encoded here by hand: the maintained writer
//! crates pull in a protobuf toolchain and image codecs for this one message. The reader exists
//! for tests and tools that check what was written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The event file's name in a run folder (TensorBoard reads every `*tfevents*` file it finds).
pub const EVENT_FILE: &str = "events.out.tfevents.ssl3d";

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC-32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = CASTAGNOLI.checksum(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One `tensorflow.Event`: wall_time (1, double), step (2, int64), then file_version (3) or a
/// summary (5) of values, each `tag` (1) and `simple_value` (2, float).
fn event(
    wall_time: f64,
    step: u64,
    file_version: Option<&str>,
    scalars: &[(String, f64)],
) -> Vec<u8> {
    let mut e = Vec::new();
    put_varint(&mut e, (1 << 3) | 1);
    e.extend_from_slice(&wall_time.to_le_bytes());
    put_varint(&mut e, 2 << 3);
    put_varint(&mut e, step);
    if let Some(version) = file_version {
        put_bytes(&mut e, 3, version.as_bytes());
    }
    if !scalars.is_empty() {
        let mut summary = Vec::new();
        for (tag, value) in scalars {
            let mut v = Vec::new();
            put_bytes(&mut v, 1, tag.as_bytes());
            put_varint(&mut v, (2 << 3) | 5);
            v.extend_from_slice(&(*value as f32).to_le_bytes());
            put_bytes(&mut summary, 1, &v);
        }
        put_bytes(&mut e, 5, &summary);
    }
    e
}

/// Appends scalar events to one event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Starts a new event file at `path` (replacing one that is there).
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = EventWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        w.record(&event(now(), 0, Some("brain.Event:2"), &[]))?;
        Ok(w)
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut frame = Vec::with_capacity(data.len() + 16);
        frame.extend_from_slice(&len);
        frame.extend_from_slice(&masked_crc(&len).to_le_bytes());
        frame.extend_from_slice(data);
        frame.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.out
            .write_all(&frame)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Writes `(tag, value)` pairs at `step` with wall time now.
    pub fn scalars(&mut self, step: u64, scalars: &[(String, f64)]) -> Result<()> {
        self.scalars_at(now(), step, scalars)
    }

    /// Writes `(tag, value)` pairs at `step` with the given wall time (seconds since 1970).
    pub(crate) fn scalars_at(
        &mut self,
        wall_time: f64,
        step: u64,
        scalars: &[(String, f64)],
    ) -> Result<()> {
        if scalars.is_empty() {
            return Ok(());
        }
        self.record(&event(wall_time, step, None, scalars))
    }

    /// Hands what is buffered to the OS (TensorBoard then sees it).
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One scalar read back from an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarEvent {
    pub step: u64,
    pub tag: String,
    pub value: f32,
}

/// One protobuf field: its number, its varint or fixed-size value, or its bytes.
type Field<'a> = (u64, u64, &'a [u8]);

/// A protobuf message's fields in order.
fn fields(mut b: &[u8]) -> std::result::Result<Vec<Field<'_>>, String> {
    fn varint(b: &mut &[u8]) -> std::result::Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("truncated varint")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    fn take<'a>(b: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
        if b.len() < n {
            return Err("truncated field".into());
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((field, varint(&mut b)?, &[][..])),
            1 => out.push((
                field,
                u64::from_le_bytes(take(&mut b, 8)?.try_into().unwrap()),
                &[][..],
            )),
            5 => out.push((
                field,
                u64::from(u32::from_le_bytes(take(&mut b, 4)?.try_into().unwrap())),
                &[][..],
            )),
            2 => {
                let n = varint(&mut b)? as usize;
                out.push((field, 0, take(&mut b, n)?));
            }
            w => return Err(format!("unsupported wire type {w}")),
        }
    }
    Ok(out)
}

/// Every scalar of an event file, in file order; checks each record's CRCs.
pub fn read_scalars(path: &Path) -> Result<Vec<ScalarEvent>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |what: String| Error::bad_file(path, format!("not a TensorBoard event file: {what}"));
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(bad("truncated record header".into()));
        }
        let (len, crc) = (
            &rest[..8],
            u32::from_le_bytes(rest[8..12].try_into().unwrap()),
        );
        if masked_crc(len) != crc {
            return Err(bad("length checksum mismatch".into()));
        }
        let n = u64::from_le_bytes(len.try_into().unwrap()) as usize;
        if rest.len() < 16 + n {
            return Err(bad("truncated record".into()));
        }
        let data = &rest[12..12 + n];
        if masked_crc(data) != u32::from_le_bytes(rest[12 + n..16 + n].try_into().unwrap()) {
            return Err(bad("record checksum mismatch".into()));
        }
        rest = &rest[16 + n..];
        let event = fields(data).map_err(bad)?;
        let step = event.iter().find(|f| f.0 == 2).map_or(0, |f| f.1);
        for (_, _, summary) in event.iter().filter(|f| f.0 == 5) {
            for (_, _, value) in fields(summary)
                .map_err(bad)?
                .into_iter()
                .filter(|f| f.0 == 1)
            {
                let v = fields(value).map_err(bad)?;
                let tag = v
                    .iter()
                    .find(|f| f.0 == 1)
                    .map(|f| String::from_utf8_lossy(f.2));
                let simple = v
                    .iter()
                    .find(|f| f.0 == 2)
                    .map(|f| f32::from_bits(f.1 as u32));
                if let (Some(tag), Some(value)) = (tag, simple) {
                    out.push(ScalarEvent {
                        step,
                        tag: tag.into_owned(),
                        value,
                    });
                }
            }
        }
    }
    Ok(out)
}
