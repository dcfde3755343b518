//! torchvision and Hugging Face state-dict names ↔ ssl3d parameters, for ConVIRT's encoders:
//! torchvision's ResNet (`downsample.0`/`.1` ↔ `downsample.conv`/`.bn`; `num_batches_tracked`
//! is not modelled), HF's BERT (`self` ↔ `self_attn`, `LayerNorm` ↔ `layer_norm` with Burn's
//! `gamma`/`beta`, the older `LayerNorm.gamma`/`.beta` files read too; a `bert.` prefix, as in
//! `BertForPreTraining` checkpoints, is read past) and the ConVIRT reference's `ModelCLR`
//! (`res_features.0/1/4…7` ↔ `res_features.conv1/bn1/layer1…4`, `bert_model.…`, the projection
//! heads). Linear weights are stored transposed in Burn.

/// Which torchvision / Hugging Face layout a state dict has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TorchLayout {
    /// torchvision's ResNet.
    ResNet,
    /// Hugging Face's `BertModel` (a `bert.` prefix read past).
    Bert,
    /// The ConVIRT reference's `ModelCLR`.
    Convirt,
}

/// Linear layers of these names (BERT's and the projection heads) hold transposed weights.
const LINEARS: [&str; 8] = [
    "query", "key", "value", "dense", "res_l1", "res_l2", "bert_l1", "bert_l2",
];

/// `ModelCLR.res_features` children: torchvision's ResNet children without `fc`.
const RES_FEATURES: [(&str, &str); 6] = [
    ("0", "conv1"),
    ("1", "bn1"),
    ("4", "layer1"),
    ("5", "layer2"),
    ("6", "layer3"),
    ("7", "layer4"),
];

fn swap(s: &mut String, pairs: &[(&str, &str)], to_burn: bool) {
    for (torch, burn) in pairs {
        let (from, to) = if to_burn {
            (torch, burn)
        } else {
            (burn, torch)
        };
        if s == from {
            *s = to.to_string();
            return;
        }
    }
}

/// Renames the parts in place; returns whether the tensor is a transposed Linear weight.
fn rename(parts: &mut [String], layout: TorchLayout, to_burn: bool) -> bool {
    let n = parts.len();
    if layout == TorchLayout::Convirt && n > 2 && parts[0] == "res_features" {
        swap(&mut parts[1], &RES_FEATURES, to_burn);
    }
    for i in 0..n {
        if i > 0 && parts[i - 1] == "downsample" {
            swap(&mut parts[i], &[("0", "conv"), ("1", "bn")], to_burn);
        }
        swap(
            &mut parts[i],
            &[("self", "self_attn"), ("LayerNorm", "layer_norm")],
            to_burn,
        );
    }
    if n > 1 && matches!(parts[n - 2].as_str(), "layer_norm" | "LayerNorm") {
        // HF's `weight`/`bias`; files saved before HF renamed them hold `gamma`/`beta` already.
        swap(
            &mut parts[n - 1],
            &[("weight", "gamma"), ("bias", "beta")],
            to_burn,
        );
        return false;
    }
    n > 1 && parts[n - 1] == "weight" && LINEARS.contains(&parts[n - 2].as_str())
}

/// The Burn path of a torchvision / HF / ModelCLR key and whether it is transposed; `None` for
/// keys ssl3d does not model (`num_batches_tracked`, HF's `position_ids` buffer).
pub(super) fn torch_to_burn(key: &str, layout: TorchLayout) -> Option<(String, bool)> {
    if key.ends_with("num_batches_tracked") || key.ends_with("position_ids") {
        return None;
    }
    let key = match layout {
        TorchLayout::Bert => key.strip_prefix("bert.").unwrap_or(key),
        _ => key,
    };
    let mut parts: Vec<String> = key.split('.').map(str::to_string).collect();
    let transpose = rename(&mut parts, layout, true);
    Some((parts.join("."), transpose))
}

/// The torchvision / HF / ModelCLR key of a Burn path (inverse of [`torch_to_burn`]).
pub(super) fn burn_to_torch(path: &str, layout: TorchLayout) -> (String, bool) {
    let mut parts: Vec<String> = path.split('.').map(str::to_string).collect();
    let transpose = rename(&mut parts, layout, false);
    (parts.join("."), transpose)
}
