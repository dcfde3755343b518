//! Network building blocks, named and laid out like MONAI's so state dicts map one to one.

pub(crate) mod affine_instance_norm;
pub mod batch_norm;
pub mod bert_embeddings;
pub mod bert_layer;
pub mod dynunet_block;
pub(crate) mod dynunet_conv_block;
pub mod mlp;
pub mod patch_embedding;
pub mod resnet_block;
pub(crate) mod segresnet_block;
pub mod selfattention;
pub mod swin_block;
pub(crate) mod token_linear;
pub mod transformerblock;
pub mod unetr_block;
pub mod window_attention;
