//! MONAI state-dict names ↔ ssl3d parameters. Field names mirror MONAI's keys; the few differences
//! are mapped here: the ViTAutoEnc backbone lives under `vit`, LayerNorm's `weight`/`bias` are
//! Burn's `gamma`/`beta`, Linear weights are stored transposed, `Sequential` children `0`/`1` of
//! UNETR's up-sampling stages are `up`/`res`, and MONAI ≥ 1.4's unused cross-attention has no
//! counterpart (ignored on import, left out on export).

use std::collections::BTreeMap;

use burn::module::ParamId;
use burn::store::{ModuleSnapshot, TensorSnapshot};
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

use super::torch_names::{TorchLayout, burn_to_torch, torch_to_burn};
use crate::error::{Error, Result};

/// Which MONAI network a state dict belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `ViTAutoEnc`: backbone keys at the top level.
    VitAutoEnc,
    /// `UNETR`: backbone keys under `vit.`.
    Unetr,
    /// `DynUNet`: MONAI's names as they are; its `skip_layers.…` keys are second names of the
    /// same tensors (the recursive module that runs the blocks), ignored on import.
    DynUnet,
    /// `SwinUNETR`: MONAI's names with `swinViT` as `swin_vit`; the `relative_position_index`
    /// buffers are computed, not read (ignored on import, left out on export).
    SwinUnetr,
    /// The research code's Swin `SSLHead`: SwinUNETR's encoder keys, `rotation_head` and
    /// `contrastive_head` (Linear), and the decoder's `Sequential` positions `conv.0`, `conv.4`, …
    /// as `conv.0`, `conv.1`, ….
    SwinSslHead,
    /// torchvision's ResNet without `fc` (`networks::torch_names`).
    ResNet,
    /// Hugging Face's `BertModel` (`networks::torch_names`).
    Bert,
    /// The ConVIRT reference's `ModelCLR`: ResNet, BERT and projection heads
    /// (`networks::torch_names`); ssl3d's CT variant holds MONAI's ViT under `vit.` (UNETR's
    /// names, so `ssl-finetune` takes the backbone from it) in the ResNet's place.
    Convirt,
    /// `SegResNet`: MONAI's names, `convInit` as `conv_init` and its `Sequential` positions as
    /// named fields
    /// (`down_layers.i.0` ↔ `pre_conv`, `down_layers.i.k` ↔ `blocks.{k−1}`, `up_samples.i.0` ↔
    /// `conv`, `conv_final.0`/`.2` ↔ `norm`/`conv`).
    SegResNet,
}

/// SegResNet's MONAI key → ssl3d's parameter path, or back (`to_burn` false).
fn segresnet_rename(key: &str, to_burn: bool) -> String {
    let mut parts: Vec<String> = key.split('.').map(str::to_string).collect();
    match (parts[0].as_str(), to_burn) {
        ("convInit", true) => parts[0] = "conv_init".into(),
        ("conv_init", false) => parts[0] = "convInit".into(),
        ("down_layers", true) if parts.len() > 3 => {
            let k: usize = parts[2].parse().unwrap_or(usize::MAX);
            match k {
                0 => parts[2] = "pre_conv".into(),
                usize::MAX => {}
                k => {
                    parts[2] = format!("{}", k - 1);
                    parts.insert(2, "blocks".into());
                }
            }
        }
        ("down_layers", false) if parts.len() > 3 => {
            if parts[2] == "pre_conv" {
                parts[2] = "0".into();
            } else if parts[2] == "blocks" {
                let k: usize = parts[3].parse().unwrap_or(0);
                parts.remove(2);
                parts[2] = format!("{}", k + 1);
            }
        }
        ("up_samples", _) if parts.len() > 2 => {
            let (from, to) = if to_burn {
                ("0", "conv")
            } else {
                ("conv", "0")
            };
            if parts[2] == from {
                parts[2] = to.into();
            }
        }
        ("conv_final", _) if parts.len() > 1 => {
            for (monai, burn) in [("0", "norm"), ("2", "conv")] {
                let (from, to) = if to_burn {
                    (monai, burn)
                } else {
                    (burn, monai)
                };
                if parts[1] == from {
                    parts[1] = to.into();
                    break;
                }
            }
        }
        _ => {}
    }
    parts.join(".")
}

const LINEAR_MODULES: [&str; 4] = ["linear1", "linear2", "qkv", "out_proj"];
const LAYER_NORMS: [&str; 3] = ["norm", "norm1", "norm2"];

/// Keys MONAI writes that ssl3d's modules deliberately do not have.
pub fn is_unused_monai_key(key: &str) -> bool {
    key.contains(".cross_attn.")
        || key.contains(".norm_cross_attn.")
        || key.ends_with("cls_token")
        || key.ends_with("relative_position_index")
}

/// SwinUNETR's renames beyond [`rename`]: `swinViT` ↔ `swin_vit`, and which weights are Linear
/// (window attention's `proj` and patch merging's `reduction` too; the patch embedding's `proj`
/// is a convolution).
fn swin_rename(parts: &mut [String], to_burn: bool) -> bool {
    let (monai, burn) = ("swinViT", "swin_vit");
    if parts[0] == if to_burn { monai } else { burn } {
        parts[0] = if to_burn { burn } else { monai }.to_string();
    }
    // The SSL head's reconstruction decoder: every fourth `Sequential` child is a convolution.
    if parts.len() == 3 && parts[0] == "conv" {
        match parts[1].parse::<usize>() {
            Ok(k) if !to_burn => parts[1] = (4 * k).to_string(),
            Ok(k) if k % 4 == 0 => parts[1] = (k / 4).to_string(),
            // No parameters there (norms, activations): a key that has no place.
            _ => parts[1] = format!("{}_not_a_convolution", parts[1]),
        }
        return false;
    }
    if parts.len() == 2 && matches!(parts[0].as_str(), "rotation_head" | "contrastive_head") {
        return parts[1] == "weight";
    }
    let linear = rename(parts, to_burn);
    let n = parts.len();
    let weight = parts[n - 1] == "weight";
    linear
        || (weight && parts[n - 2] == "reduction")
        || (weight && parts[n - 2] == "proj" && n > 2 && parts[n - 3] == "attn")
}

/// Renames the parts of a key that differ between MONAI and Burn, in either direction
/// (`to_burn`): `Sequential` children `0`/`1` ↔ `up`/`res`, LayerNorm `weight`/`bias` ↔
/// `gamma`/`beta`. Returns whether the tensor is a Linear weight (stored transposed in Burn).
fn rename(parts: &mut [String], to_burn: bool) -> bool {
    let swap = |s: &mut String, pairs: &[(&str, &str)]| {
        for (monai, burn) in pairs {
            let (from, to) = if to_burn {
                (monai, burn)
            } else {
                (burn, monai)
            };
            if s == from {
                *s = to.to_string();
                return;
            }
        }
    };
    if parts.len() > 3 && parts[0].starts_with("encoder") && parts[1] == "blocks" {
        swap(&mut parts[3], &[("0", "up"), ("1", "res")]);
    }
    let n = parts.len();
    let module = parts[n - 2].clone();
    if LAYER_NORMS.contains(&module.as_str()) {
        swap(&mut parts[n - 1], &[("weight", "gamma"), ("bias", "beta")]);
        false
    } else {
        LINEAR_MODULES.contains(&module.as_str()) && parts[n - 1] == "weight"
    }
}

/// The torchvision / Hugging Face layout of `arch`, for the networks that are not MONAI's.
fn torch_layout(arch: Arch) -> Option<TorchLayout> {
    match arch {
        Arch::ResNet => Some(TorchLayout::ResNet),
        Arch::Bert => Some(TorchLayout::Bert),
        Arch::Convirt => Some(TorchLayout::Convirt),
        _ => None,
    }
}

/// The Burn parameter path for a MONAI key, and whether the tensor is transposed (Linear).
/// `None` for keys ssl3d does not model (unused cross-attention).
fn monai_to_burn(key: &str, arch: Arch) -> Option<(String, bool)> {
    if arch == Arch::Convirt && key.starts_with("vit.") {
        return monai_to_burn(key, Arch::Unetr);
    }
    if let Some(layout) = torch_layout(arch) {
        return torch_to_burn(key, layout);
    }
    if arch == Arch::DynUnet {
        return (!key.starts_with("skip_layers.")).then(|| (key.to_string(), false));
    }
    if arch == Arch::SegResNet {
        return Some((segresnet_rename(key, true), false));
    }
    if is_unused_monai_key(key) {
        return None;
    }
    let mut parts: Vec<String> = key.split('.').map(str::to_string).collect();
    if matches!(arch, Arch::SwinUnetr | Arch::SwinSslHead) {
        let transpose = swin_rename(&mut parts, true);
        return Some((parts.join("."), transpose));
    }
    if arch == Arch::VitAutoEnc && !parts[0].starts_with("conv3d_transpose") {
        parts.insert(0, "vit".into());
    }
    let transpose = rename(&mut parts, true);
    Some((parts.join("."), transpose))
}

/// The MONAI key for a Burn parameter path (inverse of [`monai_to_burn`]).
fn burn_to_monai(path: &str, arch: Arch) -> (String, bool) {
    if arch == Arch::Convirt && path.starts_with("vit.") {
        return burn_to_monai(path, Arch::Unetr);
    }
    if let Some(layout) = torch_layout(arch) {
        return burn_to_torch(path, layout);
    }
    if arch == Arch::DynUnet {
        return (path.to_string(), false);
    }
    if arch == Arch::SegResNet {
        return (segresnet_rename(path, false), false);
    }
    let mut parts: Vec<String> = path.split('.').map(str::to_string).collect();
    if matches!(arch, Arch::SwinUnetr | Arch::SwinSslHead) {
        let transpose = swin_rename(&mut parts, false);
        return (parts.join("."), transpose);
    }
    if arch == Arch::VitAutoEnc && parts[0] == "vit" {
        parts.remove(0);
    }
    let transpose = rename(&mut parts, false);
    (parts.join("."), transpose)
}

fn transpose2(data: &TensorData) -> TensorData {
    let [r, c] = [data.shape[0], data.shape[1]];
    let v: Vec<f32> = data.to_vec().expect("f32 weights");
    let mut t = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = v[i * c + j];
        }
    }
    TensorData::new(t, [c, r])
}

/// What a state-dict load did: nothing is silently skipped.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadReport {
    /// MONAI keys loaded into the model.
    pub loaded: Vec<String>,
    /// MONAI keys deliberately ignored (unused cross-attention).
    pub ignored: Vec<String>,
    /// MONAI keys with no parameter in the model (e.g. a decoder the model does not have).
    pub unexpected: Vec<String>,
    /// Model parameters (as MONAI keys) the state dict did not provide: they keep their values.
    pub missing: Vec<String>,
}

/// Loads MONAI-named f32 tensors into `model`. A key whose shape differs from the model's is an
/// error naming the key and both shapes; everything else is reported.
pub fn load_state_dict<B: Backend, M: ModuleSnapshot<B>>(
    model: &mut M,
    arch: Arch,
    tensors: &BTreeMap<String, TensorData>,
) -> Result<LoadReport> {
    let params: BTreeMap<String, Vec<usize>> = model
        .collect(None, None, false)
        .into_iter()
        .map(|s| (s.full_path(), s.shape.to_vec()))
        .collect();
    let mut report = LoadReport::default();
    let mut snapshots = Vec::new();
    let mut provided = std::collections::BTreeSet::new();
    for (key, data) in tensors {
        let Some((path, transpose)) = monai_to_burn(key, arch) else {
            report.ignored.push(key.clone());
            continue;
        };
        let Some(want) = params.get(&path) else {
            report.unexpected.push(key.clone());
            continue;
        };
        let data = if transpose && data.shape.len() == 2 {
            transpose2(data)
        } else {
            data.clone()
        };
        if data.shape.to_vec() != *want {
            let monai_shape = if transpose {
                want.iter().rev().copied().collect::<Vec<_>>()
            } else {
                want.clone()
            };
            return Err(Error::InvalidArgument(format!(
                "state dict key {key}: shape {:?} does not fit the model's {:?}",
                if transpose {
                    data.shape.iter().rev().copied().collect::<Vec<_>>()
                } else {
                    data.shape.to_vec()
                },
                monai_shape
            )));
        }
        provided.insert(path.clone());
        let stack: Vec<String> = path.split('.').map(str::to_string).collect();
        snapshots.push(TensorSnapshot::from_data(
            data,
            stack,
            Vec::new(),
            ParamId::new(),
        ));
        report.loaded.push(key.clone());
    }
    let result = model.apply(snapshots, None, None, false);
    if !result.errors.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "loading the state dict failed: {:?}",
            result.errors
        )));
    }
    report.missing = params
        .keys()
        .filter(|p| !provided.contains(*p))
        .map(|p| burn_to_monai(p, arch).0)
        .collect();
    Ok(report)
}

/// The model's parameters as MONAI-named f32 tensors (Linear weights transposed back).
pub fn export_state_dict<B: Backend, M: ModuleSnapshot<B>>(
    model: &M,
    arch: Arch,
) -> Result<BTreeMap<String, TensorData>> {
    let mut out = BTreeMap::new();
    for s in model.collect(None, None, false) {
        let (key, transpose) = burn_to_monai(&s.full_path(), arch);
        let data = s
            .to_data()
            .map_err(|e| Error::InvalidArgument(format!("cannot read parameter {key}: {e:?}")))?
            .convert::<f32>();
        out.insert(key, if transpose { transpose2(&data) } else { data });
    }
    Ok(out)
}
