//! Moving a restoration-pretrained CNN (`ssl-pretrain --network dynunet|segresnet`) into the
//! same network for fine-tuning: every tensor by its MONAI name except the output layer, which
//! restored one channel and now predicts the classes (Models Genesis' transfer). The deep-
//! supervision heads a fine-tuning DynUNet adds start at their initial values.

use std::collections::BTreeMap;

use burn::store::ModuleSnapshot;
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

use super::checkpoint::{TransferReport, key_examples};
use super::state_dict::{Arch, load_state_dict};
use crate::error::{Error, Result};

/// Whether MONAI key `key` belongs to a network's output layers (`arch`'s final convolution and
/// DynUNet's deep-supervision heads): sized by the classes, so never carried from pretraining.
pub fn is_output_layer(arch: Arch, key: &str) -> bool {
    match arch {
        Arch::DynUnet => {
            key.starts_with("output_block.") || key.starts_with("deep_supervision_heads.")
        }
        Arch::SegResNet => key.starts_with("conv_final.2."),
        Arch::Unetr | Arch::SwinUnetr => key.starts_with("out."),
        Arch::VitAutoEnc | Arch::SwinSslHead | Arch::ResNet | Arch::Bert | Arch::Convirt => false,
    }
}

/// Loads a pretrained CNN's tensors (MONAI names, as `best_model.safetensors` holds them) into
/// `model` of the same architecture `arch`, all but the output layer. The networks must match
/// otherwise: a shape that differs is an error naming the key and both shapes; a pretrained
/// tensor the model has no place for, or a model tensor outside the output layers the source does
/// not provide, is an error too (a trained tensor is never dropped silently and nothing but the
/// output layer starts random).
pub fn transfer_restoration<B: Backend, M: ModuleSnapshot<B>>(
    model: &mut M,
    arch: Arch,
    source: &BTreeMap<String, TensorData>,
) -> Result<TransferReport> {
    let mut report = TransferReport::default();
    let mut body = BTreeMap::new();
    for (k, v) in source {
        if is_output_layer(arch, k) {
            report.dropped.push(k.clone());
        } else {
            body.insert(k.clone(), v.clone());
        }
    }
    let network = arch_name(arch);
    let loaded = load_state_dict(model, arch, &body).map_err(|e| {
        Error::InvalidArgument(format!(
            "{e}: the pretrained {network} and this one differ; give fine-tuning the pretraining \
             run's network settings (only out_channels and deep supervision may differ)"
        ))
    })?;
    if loaded.loaded.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the pretrained checkpoint holds no {network} weights (it has keys like {}): a {network} \
             fine-tunes from `ssl-pretrain --network {}`'s best model",
            key_examples(source.keys(), 3),
            network.to_lowercase()
        )));
    }
    if !loaded.unexpected.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the pretrained checkpoint holds {} tensor(s) this {network} has no place for, e.g. {}: \
             its settings differ from the pretraining run's (a trained tensor is never dropped \
             silently)",
            loaded.unexpected.len(),
            key_examples(&loaded.unexpected, 3)
        )));
    }
    let (heads, body_missing): (Vec<String>, Vec<String>) =
        (loaded.missing.into_iter()).partition(|k| is_output_layer(arch, k));
    if let Some(first) = body_missing.first() {
        return Err(Error::InvalidArgument(format!(
            "the pretrained checkpoint lacks {} of this {network}'s tensors, e.g. {first}: its \
             settings differ from the pretraining run's",
            body_missing.len()
        )));
    }
    report.loaded = loaded.loaded;
    report.ignored = loaded.ignored;
    report.left_at_init = heads;
    Ok(report)
}

/// The network's name in messages.
fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::DynUnet => "DynUNet",
        Arch::SegResNet => "SegResNet",
        Arch::Unetr => "UNETR",
        Arch::SwinUnetr => "SwinUNETR",
        Arch::SwinSslHead => "Swin SSLHead",
        Arch::VitAutoEnc => "ViTAutoEnc",
        Arch::ResNet => "ResNet",
        Arch::Bert => "BERT",
        Arch::Convirt => "ConVIRT",
    }
}
