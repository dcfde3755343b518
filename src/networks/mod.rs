//! Networks in Burn with MONAI's exact maths and state-dict names (SPEC §6.1–6.5).

pub mod attention;
pub mod backend_cast;
pub mod blocks;
pub mod checkpoint;
pub mod conv;
pub mod gelu;
pub mod instance_norm;
pub mod linear;
pub mod native;
pub mod nets;
pub mod pretrained;
pub mod row_softmax;
pub mod state_dict;
pub mod vector_math;

pub use nets::{Unetr, UnetrConfig, Vit, VitAutoEnc, VitAutoEncConfig, VitConfig};
