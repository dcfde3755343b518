//! Moving a pretrained Swin backbone into a fine-tuning SwinUNETR, whichever layout it was saved
//! in: the published self-supervised backbone (`{"state_dict": {"module.patch_embed…",
//! "module.layers1.0.blocks.0.mlp.fc1…"}}`, what MONAI's `SwinUNETR.load_from` reads), the
//! research code's `SSLHead` (`module.swinViT.…` with rotation, contrastive and reconstruction
//! heads), MONAI `SwinUNETR` state dicts (`swinViT.…` or `swin_vit.…`, with or without DDP's
//! `module.`), v1 or v2, and ssl3d's own exports. Unlike a `strict=False` load, nothing is
//! skipped silently: the report names every key, and a checkpoint that fits nothing is an error.

use std::collections::BTreeMap;

use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

use super::checkpoint::{TransferReport, key_examples};
use super::nets::SwinUnetr;
use super::restoration_transfer::is_output_layer;
use super::state_dict::{Arch, load_state_dict};
use crate::error::{Error, Result};

/// Where a checkpoint key belongs, once its layout's differences are undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwinKey {
    /// A SwinUNETR key under MONAI's name (`swinViT.…`, or the decoder's `encoder1.…`).
    Model(String),
    /// A self-supervised pretraining head (`rotation_head`, `contrastive_head`, the
    /// reconstruction decoder `conv`): not part of a segmentation network.
    PretrainingHead,
}

/// The first part of a backbone key without its `swinViT.` prefix.
fn is_backbone_root(first: &str) -> bool {
    first == "patch_embed"
        || first.strip_prefix("layers").is_some_and(|rest| {
            let rest = rest.strip_suffix('c').unwrap_or(rest);
            matches!(rest, "1" | "2" | "3" | "4")
        })
}

/// MONAI SwinUNETR's name for `key` from any of the layouts the module doc lists: DDP's
/// `module.` dropped (however often), `swin_vit` read as `swinViT`, a bare backbone put under
/// `swinViT.`, and the published backbone's `mlp.fc1`/`fc2` read as MONAI's `linear1`/`linear2`.
pub fn swin_key(key: &str) -> SwinKey {
    let mut k = key;
    while let Some(rest) = k.strip_prefix("module.") {
        k = rest;
    }
    let first = k.split('.').next().unwrap_or_default();
    if matches!(
        first,
        "rotation_head" | "contrastive_head" | "rotation_pre" | "contrastive_pre" | "conv"
    ) {
        return SwinKey::PretrainingHead;
    }
    let mut name = if let Some(rest) = k.strip_prefix("swin_vit.") {
        format!("swinViT.{rest}")
    } else if is_backbone_root(first) {
        format!("swinViT.{k}")
    } else {
        k.to_string()
    };
    if name.starts_with("swinViT.") {
        name = name
            .replace(".mlp.fc1.", ".mlp.linear1.")
            .replace(".mlp.fc2.", ".mlp.linear2.");
    }
    SwinKey::Model(name)
}

/// Whether MONAI key `key` is one of v2's residual conv stages (`swinViT.layers1c.…`).
fn is_v2_stage(key: &str) -> bool {
    key.strip_prefix("swinViT.layers")
        .is_some_and(|rest| rest.as_bytes().get(1) == Some(&b'c'))
}

/// Loads the Swin backbone of `source` (any layout [`swin_key`] reads) into `model`, and the
/// decoder too when the source is a whole SwinUNETR (all but the output layer, sized by the
/// classes). Pretraining heads are dropped; a v2 source's residual conv stages are dropped by a
/// v1 model and left at their initial values in a v2 model fed a v1 backbone, both named in the
/// report. An error, naming the key: a shape that does not fit (another `feature_size`,
/// `window_size` or head count), a backbone tensor the model has no place for or lacks (other
/// `depths`), or a checkpoint with no Swin backbone at all.
pub fn transfer_swin<B: Backend>(
    model: &mut SwinUnetr<B>,
    source: &BTreeMap<String, TensorData>,
) -> Result<TransferReport> {
    let v2_model = !model.swin_vit.layers1c.is_empty();
    let mut report = TransferReport::default();
    let mut renamed = BTreeMap::new();
    for (key, value) in source {
        match swin_key(key) {
            SwinKey::PretrainingHead => report.dropped.push(key.clone()),
            SwinKey::Model(name) if is_output_layer(Arch::SwinUnetr, &name) => {
                report.dropped.push(key.clone())
            }
            SwinKey::Model(name) if is_v2_stage(&name) && !v2_model => {
                report.dropped.push(key.clone())
            }
            SwinKey::Model(name) => {
                if renamed.insert(name.clone(), value.clone()).is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "the checkpoint holds {name} twice (under two of the layouts ssl3d reads, \
                         e.g. with and without `module.`): which one is meant is unclear"
                    )));
                }
            }
        }
    }
    let loaded = load_state_dict(model, Arch::SwinUnetr, &renamed).map_err(|e| {
        Error::InvalidArgument(format!(
            "{e}: the pretrained Swin backbone and this SwinUNETR differ; set swin_unetr's \
             feature_size, num_heads and window_size to the checkpoint's (the published backbone: \
             48, [3, 6, 12, 24], [7, 7, 7])"
        ))
    })?;
    if !loaded.loaded.iter().any(|k| k.starts_with("swinViT.")) {
        return Err(Error::InvalidArgument(format!(
            "the checkpoint holds no Swin backbone weights (keys like swinViT.patch_embed.*, \
             module.layers1.*); found: {}",
            key_examples(source.keys(), 5)
        )));
    }
    if !loaded.unexpected.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the checkpoint holds {} tensor(s) this SwinUNETR has no place for, e.g. {}: set \
             swin_unetr's depths to the checkpoint's (a trained tensor is never dropped silently)",
            loaded.unexpected.len(),
            key_examples(&loaded.unexpected, 3)
        )));
    }
    let (backbone_missing, left): (Vec<String>, Vec<String>) =
        (loaded.missing.into_iter()).partition(|k| k.starts_with("swinViT.") && !is_v2_stage(k));
    if let Some(first) = backbone_missing.first() {
        return Err(Error::InvalidArgument(format!(
            "the checkpoint lacks {} of this SwinUNETR's backbone tensors, e.g. {first}: set \
             swin_unetr's depths to the checkpoint's",
            backbone_missing.len()
        )));
    }
    report.loaded = loaded.loaded;
    report.ignored = loaded.ignored;
    report.left_at_init = left;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(key: &str) -> SwinKey {
        SwinKey::Model(key.to_string())
    }

    #[test]
    fn every_published_layout_reads_as_monais_names() {
        let want = "swinViT.layers1.0.blocks.0.mlp.linear1.weight";
        for key in [
            "module.layers1.0.blocks.0.mlp.fc1.weight",
            "layers1.0.blocks.0.mlp.fc1.weight",
            "module.swinViT.layers1.0.blocks.0.mlp.linear1.weight",
            "module.module.swin_vit.layers1.0.blocks.0.mlp.linear1.weight",
            "swin_vit.layers1.0.blocks.0.mlp.linear1.weight",
            want,
        ] {
            assert_eq!(swin_key(key), model(want), "{key}");
        }
        assert_eq!(
            swin_key("module.patch_embed.proj.bias"),
            model("swinViT.patch_embed.proj.bias")
        );
        assert_eq!(
            swin_key("layers3c.0.layer.conv1.conv.weight"),
            model("swinViT.layers3c.0.layer.conv1.conv.weight")
        );
        assert_eq!(
            swin_key("module.decoder1.transp_conv.conv.weight"),
            model("decoder1.transp_conv.conv.weight")
        );
        for head in [
            "module.rotation_head.weight",
            "contrastive_head.bias",
            "module.conv.0.weight",
        ] {
            assert_eq!(swin_key(head), SwinKey::PretrainingHead, "{head}");
        }
        assert!(is_v2_stage("swinViT.layers4c.0.layer.conv1.conv.weight"));
        assert!(!is_v2_stage(
            "swinViT.layers4.0.downsample.reduction.weight"
        ));
    }
}
