//! Pretrained weights for ConVIRT's towers, from the files users have (docs/CONVIRT.md, "Weights"):
//! a Hugging Face BERT folder (`config.json`, `model.safetensors` or `pytorch_model.bin`, the
//! vocabulary) given as a path or as a model name already in the local Hugging Face cache (nothing
//! is downloaded); torchvision's ResNet `.pth` (or safetensors); the reference's whole `ModelCLR`
//! `model.pth`. A file that does not fit the model is refused naming what differs — the silent
//! `strict=False` partial load is the failure users of such code report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

use super::checkpoint::{key_examples, read_safetensors, read_torch_state_dict, vit_backbone};
use super::nets::{BertConfig, BertModel, Convirt, ResNet};
use super::state_dict::{Arch, LoadReport, load_state_dict};
use crate::error::{Error, Result};

/// The local Hugging Face hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
fn hf_hub_cache() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(p).join("hub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// `name`'s snapshot in the hub cache (`models--org--name/snapshots/<refs/main>`).
fn cached_snapshot(cache: &Path, name: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", name.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(hash) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = snapshots.join(hash.trim());
        if dir.is_dir() {
            return Some(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    (dirs.len() == 1).then(|| dirs.remove(0))
}

/// A BERT model folder from `name_or_dir`: an existing folder, or a model name in the local
/// Hugging Face cache.
pub fn resolve_bert_folder(name_or_dir: &str) -> Result<PathBuf> {
    resolve_bert_folder_in(name_or_dir, hf_hub_cache())
}

/// [`resolve_bert_folder`] with the hub cache at `cache`.
pub fn resolve_bert_folder_in(name_or_dir: &str, cache: Option<PathBuf>) -> Result<PathBuf> {
    let dir = PathBuf::from(name_or_dir);
    if dir.is_dir() {
        return Ok(dir);
    }
    if let Some(snapshot) = cache
        .as_deref()
        .and_then(|c| cached_snapshot(c, name_or_dir))
    {
        return Ok(snapshot);
    }
    Err(Error::bad_file(
        dir,
        format!(
            "no such folder, and no model of that name in the Hugging Face cache ({}); ssl3d \
             downloads nothing: fetch it once with `huggingface-cli download {name_or_dir}` or \
             give the folder that holds config.json, the weights and vocab.txt",
            cache.map_or_else(|| "not found".into(), |c| c.display().to_string())
        ),
    ))
}

/// A folder's weights file: `model.safetensors`, else `pytorch_model.bin`.
pub fn hf_weights_file(dir: &Path) -> Result<PathBuf> {
    ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::bad_file(
                dir,
                "no model.safetensors or pytorch_model.bin: not a Hugging Face model folder",
            )
        })
}

/// A folder's weights ([`hf_weights_file`]).
pub fn read_hf_weights(dir: &Path) -> Result<BTreeMap<String, TensorData>> {
    read_weights_file(&hf_weights_file(dir)?)
}

/// Refuses a load that left parameters at their initial values, or found tensors the model has
/// no place for beyond the heads a pretraining file is expected to carry (`extra_ok`).
fn complete(report: LoadReport, from: &Path, what: &str, extra_ok: &[&str]) -> Result<LoadReport> {
    if !report.missing.is_empty() {
        return Err(Error::bad_file(
            from,
            format!(
                "lacks {} of the {what}'s {} tensors ({}): the file and the model's settings \
                 describe different networks",
                report.missing.len(),
                report.missing.len() + report.loaded.len(),
                key_examples(&report.missing, 3)
            ),
        ));
    }
    let strange: Vec<String> = report
        .unexpected
        .iter()
        .filter(|k| !extra_ok.iter().any(|p| k.starts_with(p)))
        .cloned()
        .collect();
    if !strange.is_empty() {
        return Err(Error::bad_file(
            from,
            format!(
                "holds {} tensors the {what} has no place for ({}): the file and the model's \
                 settings describe different networks",
                strange.len(),
                key_examples(&strange, 3)
            ),
        ));
    }
    Ok(report)
}

/// The folder's BERT configuration (its `config.json`).
pub fn bert_config_of(dir: &Path) -> Result<BertConfig> {
    BertConfig::from_hf_json(&dir.join("config.json"))
}

/// Loads a Hugging Face folder's weights into `bert` (built from the same folder's config); the
/// masked-LM and next-sentence heads of pretraining checkpoints (`cls.…`) are left out.
pub fn load_bert_folder<B: Backend>(bert: &mut BertModel<B>, dir: &Path) -> Result<LoadReport> {
    let tensors = read_hf_weights(dir)?;
    let report = load_state_dict(bert, Arch::Bert, &tensors)?;
    complete(report, dir, "BERT", &["cls."])
}

/// Loads torchvision ResNet weights (`.pth`, or `.safetensors`); its classifier `fc` is left out.
pub fn load_torchvision_resnet<B: Backend>(
    resnet: &mut ResNet<B>,
    path: &Path,
) -> Result<LoadReport> {
    let tensors = read_weights_file(path)?;
    let report = load_state_dict(resnet, Arch::ResNet, &tensors)?;
    complete(report, path, "ResNet", &["fc."])
}

/// Loads the reference implementation's whole `ModelCLR` state dict (its `model.pth`).
pub fn load_modelclr<B: Backend>(model: &mut Convirt<B>, path: &Path) -> Result<LoadReport> {
    let tensors = read_weights_file(path)?;
    let report = load_state_dict(model, Arch::Convirt, &tensors)?;
    complete(report, path, "ConVIRT model", &[])
}

/// Moves a pretrained ViT backbone (an `ssl-pretrain` run's ViTAutoEnc keys `patch_embedding.…`,
/// `blocks.…`, `norm.…`, or UNETR's `vit.…`) into the CT variant's image encoder; the source's
/// decoder is left out. Every ViT tensor must be there, with the model's shapes.
pub fn load_vit_backbone<B: Backend>(
    model: &mut Convirt<B>,
    tensors: &BTreeMap<String, TensorData>,
    from: &Path,
) -> Result<LoadReport> {
    let (backbone, _) = vit_backbone(tensors);
    let mut report = load_state_dict(model, Arch::Convirt, &backbone)?;
    report.missing.retain(|k| k.starts_with("vit."));
    if report.loaded.is_empty() {
        return Err(Error::bad_file(
            from,
            format!(
                "holds no ViT backbone (keys like patch_embedding.*, blocks.*, norm.*); found: {}",
                key_examples(tensors.keys(), 5)
            ),
        ));
    }
    complete(report, from, "ViT backbone", &[])
}

fn read_weights_file(path: &Path) -> Result<BTreeMap<String, TensorData>> {
    if path.extension().is_some_and(|e| e == "safetensors") {
        read_safetensors(path)
    } else {
        read_torch_state_dict(path)
    }
}

/// torch's hub checkpoint folder: `$TORCH_HOME/hub/checkpoints`, else
/// `$XDG_CACHE_HOME/torch/hub/checkpoints`, else `~/.cache/torch/hub/checkpoints`.
fn torch_hub_checkpoints() -> Option<PathBuf> {
    let home = std::env::var_os("TORCH_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(|c| PathBuf::from(c).join("torch"))
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/torch")))
        });
    home.map(|h| h.join("hub/checkpoints"))
}

/// The file names torchvision gives `pretrained=True` (ImageNet1K_V1) weights: today's
/// `IMAGENET1K_V1` and the older releases' names of the same weights.
const IMAGENET_V1_FILES: [&str; 10] = [
    "resnet18-f37072fd.pth",
    "resnet18-5c106cde.pth",
    "resnet34-b627a593.pth",
    "resnet34-333f7ec4.pth",
    "resnet50-0676ba61.pth",
    "resnet50-19c8e357.pth",
    "resnet101-63fe2227.pth",
    "resnet101-5d3b4d8f.pth",
    "resnet152-394f9c45.pth",
    "resnet152-b121ed2d.pth",
];

/// torchvision's ImageNet weights for `name` (`resnet50`, …) as `pretrained=True` would have
/// downloaded them, found in the local torch hub cache (nothing is downloaded).
pub fn imagenet_resnet_file(name: &str) -> Result<PathBuf> {
    imagenet_resnet_file_in(name, torch_hub_checkpoints())
}

/// [`imagenet_resnet_file`] with the hub's checkpoint folder at `dir`.
pub fn imagenet_resnet_file_in(name: &str, dir: Option<PathBuf>) -> Result<PathBuf> {
    let is_hash = |h: &str| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit());
    let mut found: Vec<PathBuf> = dir
        .as_deref()
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            file.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.strip_suffix(".pth"))
                .is_some_and(is_hash)
        })
        .collect();
    found.sort();
    let v1 = |p: &PathBuf| {
        p.file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| IMAGENET_V1_FILES.contains(&f))
    };
    if let Some(p) = found
        .iter()
        .find(|p| v1(p))
        .or(found.first().filter(|_| found.len() == 1))
    {
        return Ok(p.clone());
    }
    let place = dir.map_or_else(|| "no cache folder".into(), |d| d.display().to_string());
    let why = if found.is_empty() {
        format!(
            "torchvision's ImageNet weights for {name} are not in the torch hub cache ({place}); \
             ssl3d downloads nothing: run `python -c \"import torchvision; \
             torchvision.models.{name}(pretrained=True)\"` once, or set model.res_weights to a \
             .pth file, or to `random`"
        )
    } else {
        format!(
            "several {name} files in the torch hub cache ({place}) and none is the ImageNet1K_V1 \
             file pretrained=True loads; set model.res_weights to the one to use"
        )
    };
    Err(Error::InvalidArgument(format!(
        "model.res_weights imagenet: {why}"
    )))
}
