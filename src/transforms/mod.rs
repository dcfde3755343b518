//! MONAI's transforms with MONAI's exact semantics and random draws (docs/MONAI_COMPAT.md,
//! "Transforms" and "Random number streams"), one file per transform, and the tutorial's
//! pipelines built from them.

pub(crate) mod chain_summary;
pub mod coarse_holes;
pub(crate) mod compose;
pub(crate) mod copy_items;
pub mod crop_foreground;
pub mod invert_labels;
pub(crate) mod linalg;
pub(crate) mod load_image;
pub mod meta;
pub mod orientation;
pub mod pipelines;
pub mod radiograph;
pub mod rand_coarse_dropout;
pub mod rand_coarse_shuffle;
pub mod rand_crop_by_pos_neg_label;
pub(crate) mod rand_flip;
pub(crate) mod rand_rotate90;
pub(crate) mod rand_shift_intensity;
pub mod rand_spatial_crop_samples;
pub(crate) mod rng;
pub mod scale_intensity_range;
pub mod spacing;
pub mod spatial_pad;
pub mod swin_ssl_views;
pub(crate) mod twin_rng;
pub mod volume_views;

pub use chain_summary::ChainSummary;
pub use compose::{Compose, OneOf, Transform};
pub use meta::{MetaImage, Sample, sum, wsum};
pub use pipelines::{FinetuneTransforms, Pipeline, PipelineKind, PretrainTransforms};
pub use rng::RandomState;
