//! Speed measurements behind `ssl-bench` and `ssl-data bench`: the full-size tutorial networks
//! (forward, forward + backward, training step at 96³) and the data side (reading NIfTI, each
//! pipeline stage, the cached loader, sliding-window stitching), and a device's agreement with the
//! CPU on tiny models (`device_parity`) and on a checkpoint (`checkpoint_parity`), and
//! full-size sliding-window validation (`segmentation_inference`). Each returns its numbers; the
//! binaries only print them. Results go in `docs/BENCHMARKS.md` with the command that made them.

pub mod all_reduce;
pub mod checkpoint_parity;
pub mod convirt;
pub mod data;
pub mod device_parity;
pub mod networks;
pub mod segmentation_inference;
pub mod timing;

pub use timing::{median, time_steady};
