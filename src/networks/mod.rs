//! Networks in Burn with MONAI's exact maths and state-dict names (SPEC §6.1–6.5).

pub mod attention;
pub mod backend_cast;
pub mod blocks;
pub mod checkpoint;
pub mod conv;
pub mod gelu;
pub mod instance_norm;
pub mod native;
pub mod nets;
pub mod pretrained;
pub mod state_dict;

pub use nets::{Unetr, UnetrConfig, Vit, VitAutoEnc, VitAutoEncConfig, VitConfig};
