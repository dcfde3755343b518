//! Networks: the ViT backbone, the SSL `ViTAutoEnc`, the segmentation `UNETR` and the CNN
//! baselines `DynUNet` and `SegResNet`; `SwinUNETR`; ConVIRT's ResNet and BERT towers.

/// `with_<field>(self, value) -> Self` builders for a config's fields (what Burn's `Config`
/// derive writes, for the configs whose JSON form needs serde's per-field defaults).
macro_rules! with_setters {
    ($ty:ident { $($setter:ident => $field:ident: $fty:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                pub fn $setter(mut self, $field: $fty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

pub mod bert;
pub mod convirt;
pub mod dynunet;
pub mod resnet;
pub mod segresnet;
pub mod swin_ssl_head;
pub mod swin_unetr;
pub mod unetr;
pub mod vit;
pub mod vitautoenc;

pub use bert::{BertConfig, BertModel};
pub use convirt::{Convirt, ConvirtModelConfig};
pub use dynunet::{DynUnet, DynUnetConfig};
pub use resnet::{ResNet, ResNetConfig};
pub use segresnet::{SegResNet, SegResNetConfig};
pub use swin_ssl_head::{SwinSslHead, SwinSslHeadConfig};
pub use swin_unetr::{SwinUnetr, SwinUnetrConfig};
pub use unetr::{Unetr, UnetrConfig};
pub use vit::{Vit, VitConfig};
pub use vitautoenc::{VitAutoEnc, VitAutoEncConfig};
