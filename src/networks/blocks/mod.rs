//! Network building blocks, named and laid out like MONAI's so state dicts map one to one.

pub mod affine_instance_norm;
pub mod dynunet_block;
pub mod dynunet_conv_block;
pub mod mlp;
pub mod patch_embedding;
pub mod segresnet_block;
pub mod selfattention;
pub mod token_linear;
pub mod transformerblock;
pub mod unetr_block;
