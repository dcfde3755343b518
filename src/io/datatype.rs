//! NIfTI-1 datatype codes. The volume size comes from the datatype, never from `bitpix`
//! (some writers get `bitpix` wrong).

/// A stored voxel type ssl3d can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    /// Three u8 channels per voxel: a picture, never a scalar (CT) volume.
    Rgb24,
}

impl StoredType {
    /// Maps a header `datatype` code; unknown or unsupported codes get a readable reason.
    pub(crate) fn from_code(code: i16) -> Result<Self, String> {
        Ok(match code {
            2 => StoredType::U8,
            4 => StoredType::I16,
            8 => StoredType::I32,
            16 => StoredType::F32,
            64 => StoredType::F64,
            128 => StoredType::Rgb24,
            256 => StoredType::I8,
            512 => StoredType::U16,
            768 => StoredType::U32,
            1024 => StoredType::I64,
            1280 => StoredType::U64,
            32 | 1792 | 2048 => {
                return Err(format!(
                    "complex datatype (code {code}) is not a scalar intensity volume"
                ));
            }
            1536 => return Err("float128 datatype (code 1536) is not supported".into()),
            2304 => return Err("RGBA32 datatype (code 2304) is not a scalar volume".into()),
            0 => return Err("datatype code 0 (unknown) in header".into()),
            _ => return Err(format!("unknown datatype code {code}")),
        })
    }

    /// Bytes per voxel on disk.
    pub fn size(&self) -> usize {
        match self {
            StoredType::U8 | StoredType::I8 => 1,
            StoredType::I16 | StoredType::U16 => 2,
            StoredType::Rgb24 => 3,
            StoredType::I32 | StoredType::U32 | StoredType::F32 => 4,
            StoredType::I64 | StoredType::U64 | StoredType::F64 => 8,
        }
    }

    /// numpy-style name, as nibabel reports it.
    pub fn name(&self) -> &'static str {
        match self {
            StoredType::U8 => "uint8",
            StoredType::I8 => "int8",
            StoredType::I16 => "int16",
            StoredType::U16 => "uint16",
            StoredType::I32 => "int32",
            StoredType::U32 => "uint32",
            StoredType::I64 => "int64",
            StoredType::U64 => "uint64",
            StoredType::F32 => "float32",
            StoredType::F64 => "float64",
            StoredType::Rgb24 => "RGB24",
        }
    }

    /// Largest magnitude a stored value can have (integers); infinite for floats.
    pub(crate) fn max_abs(&self) -> f64 {
        match self {
            StoredType::U8 => 255.0,
            StoredType::I8 => 128.0,
            StoredType::I16 => 32768.0,
            StoredType::U16 => 65535.0,
            StoredType::I32 => 2147483648.0,
            StoredType::U32 => 4294967295.0,
            StoredType::I64 | StoredType::U64 => 18446744073709551615.0,
            StoredType::F32 | StoredType::F64 | StoredType::Rgb24 => f64::INFINITY,
        }
    }
}
