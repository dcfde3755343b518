//! Networks in Burn with MONAI's exact maths and state-dict names (docs/MONAI_COMPAT.md,
//! "Networks").

pub mod blocks;
pub mod checkpoint;
pub mod convirt_weights;
pub mod native;
pub mod nets;
pub mod pretrained;
pub mod restoration_transfer;
pub mod seeded_init;
pub(crate) mod segmentation_model;
pub mod state_dict;
pub mod swin_transfer;
mod torch_names;

pub use nets::{
    DynUnet, DynUnetConfig, SegResNet, SegResNetConfig, SwinSslHead, SwinSslHeadConfig, SwinUnetr,
    SwinUnetrConfig, Unetr, UnetrConfig, Vit, VitAutoEnc, VitAutoEncConfig, VitConfig,
};
pub use segmentation_model::{NetworkKind, SegNetworkConfig, SegmentationModel};
