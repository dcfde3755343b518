//! Networks: the ViT backbone, the SSL `ViTAutoEnc`, the segmentation `UNETR` and the CNN
//! baselines `DynUNet` and `SegResNet`.

pub mod dynunet;
pub mod segresnet;
pub mod unetr;
pub mod vit;
pub mod vitautoenc;

pub use dynunet::{DynUnet, DynUnetConfig};
pub use segresnet::{SegResNet, SegResNetConfig};
pub use unetr::{Unetr, UnetrConfig};
pub use vit::{Vit, VitConfig};
pub use vitautoenc::{VitAutoEnc, VitAutoEncConfig};
