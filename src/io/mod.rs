//! NIfTI-1 input and output (`.nii`, `.nii.gz`, `.hdr`/`.img` pairs), matching what nibabel reads,
//! and atomic writes of the files a run leaves behind.

pub mod affine;
pub(crate) mod atomic;
pub(crate) mod datatype;
mod gzip;
pub mod header;
pub mod inspect;
pub mod paths;
pub mod raster;
pub mod reader;
pub mod volume;
pub mod writer;

pub use affine::{Affine, AffineSource};
pub use atomic::{write_atomic, write_json_atomic};
pub use header::{HeaderInfo, read_header};
pub use inspect::{InspectReport, inspect};
pub use reader::{NiftiImage, VoxelData, read_label_map, read_nifti};
pub use volume::{
    LabelVolume, Volume, check_label_matches, load_labels, load_volume, load_volume_with_header,
};
pub use writer::{Placement, write_image, write_volume};
