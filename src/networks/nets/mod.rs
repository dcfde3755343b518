//! Networks: the ViT backbone, the SSL `ViTAutoEnc` and the segmentation `UNETR`.

pub mod unetr;
pub mod vit;
pub mod vitautoenc;

pub use unetr::{Unetr, UnetrConfig};
pub use vit::{Vit, VitConfig};
pub use vitautoenc::{VitAutoEnc, VitAutoEncConfig};
