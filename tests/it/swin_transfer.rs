//! Pretrained Swin backbones into a fine-tuning SwinUNETR, in every layout users have (the
//! published `module.`-prefixed backbone with `mlp.fc1`, the research code's SSLHead with its
//! heads, MONAI SwinUNETR state dicts under `swinViT` or `swin_vit`, with or without `module.`,
//! v1 and v2): the tiny MONAI network's formula weights are saved in each layout, moved in through
//! `ssl-finetune`'s reader and transfer, and must give MONAI's hidden states, with a report that
//! names what was loaded, dropped, ignored and left at init. Mismatches are errors naming the key.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::TensorData;
use serde_json::Value;
use ssl3d::networks::checkpoint::{TransferReport, write_safetensors};
use ssl3d::networks::swin_transfer::transfer_swin;
use ssl3d::networks::{SwinUnetr, SwinUnetrConfig};

use crate::common;
use crate::networks::{B, check_full_summary, fixture_keys, formula_input, formula_weight, values};
use crate::swin_unetr::config;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/monai_swin_unetr.json")).unwrap()
}

/// MONAI's state dict of fixture network `e` with formula weights.
fn monai_state_dict(e: &Value) -> BTreeMap<String, TensorData> {
    (fixture_keys(e).iter())
        .map(|(k, s)| (k.clone(), formula_weight(k, s)))
        .collect()
}

/// Saves `tensors` as safetensors and moves them into a fresh `cfg` network through the reader
/// `ssl-finetune --pretrained` uses.
fn transfer(
    cfg: &SwinUnetrConfig,
    tensors: &BTreeMap<String, TensorData>,
    dir: &Path,
    name: &str,
) -> ssl3d::Result<(SwinUnetr<B>, TransferReport)> {
    let file = dir.join(format!("{name}.safetensors"));
    write_safetensors(&file, tensors).unwrap();
    let read = ssl3d::networks::checkpoint::read_safetensors(&file).unwrap();
    let mut model = cfg.init::<B>(&Default::default());
    let report = transfer_swin(&mut model, &read)?;
    Ok((model, report))
}

fn backbone_matches_monai(model: &SwinUnetr<B>, e: &Value, what: &str) {
    let shape = common::usizes(&e["input"]["shape"]);
    let x = formula_input(
        [shape[0], shape[1], shape[2], shape[3], shape[4]],
        e["input"]["phase"].as_f64().unwrap(),
        e["input"]["freq"].as_f64().unwrap(),
    );
    let hidden = model.swin_vit.forward(x, true);
    for (i, (h, s)) in hidden
        .into_iter()
        .zip(e["hidden_states"].as_array().unwrap())
        .enumerate()
    {
        check_full_summary(&values(h), s, &format!("{what}: hidden state {i}"));
    }
}

/// The published backbone's key for a MONAI `swinViT.` key (`module.`, no `swinViT.`, `mlp.fc1`).
fn published_key(key: &str) -> Option<String> {
    let rest = key.strip_prefix("swinViT.")?;
    Some(format!(
        "module.{}",
        rest.replace(".mlp.linear1.", ".mlp.fc1.")
            .replace(".mlp.linear2.", ".mlp.fc2.")
    ))
}

#[test]
fn every_published_layout_loads_the_backbone_and_reports_what_it_did() {
    let fixture = fixture();
    let e = &fixture["networks"]["tiny_v1"];
    let cfg = config(&e["args"]);
    let monai = monai_state_dict(e);
    let dir = common::scratch("swin-transfer-layouts");
    let index_buffers = monai
        .keys()
        .filter(|k| k.ends_with("relative_position_index"))
        .count();
    let backbone_weights = monai
        .keys()
        .filter(|k| k.starts_with("swinViT.") && !k.ends_with("relative_position_index"))
        .count();
    let decoder_weights = monai
        .keys()
        .filter(|k| !k.starts_with("swinViT.") && !k.starts_with("out."))
        .count();
    let out_weights = monai.keys().filter(|k| k.starts_with("out.")).count();
    assert!(index_buffers > 0 && decoder_weights > 0 && out_weights > 0);

    let renamed = |f: &dyn Fn(&str) -> Option<String>| -> BTreeMap<String, TensorData> {
        (monai.iter())
            .filter_map(|(k, v)| f(k).map(|k| (k, v.clone())))
            .collect()
    };
    // Whole MONAI SwinUNETRs: everything but the output layer loads.
    let whole_layouts: [(&str, BTreeMap<String, TensorData>); 3] = [
        ("monai", monai.clone()),
        ("ddp", renamed(&|k| Some(format!("module.{k}")))),
        (
            "swin_vit",
            renamed(&|k| Some(k.replacen("swinViT.", "swin_vit.", 1))),
        ),
    ];
    for (name, tensors) in &whole_layouts {
        let (model, report) = transfer(&cfg, tensors, &dir, name).unwrap();
        assert_eq!(
            report.loaded.len(),
            backbone_weights + decoder_weights,
            "{name}"
        );
        assert_eq!(report.ignored.len(), index_buffers, "{name}");
        assert_eq!(report.dropped.len(), out_weights, "{name}: {report:?}");
        assert!(report.dropped.iter().all(|k| k.contains("out.")), "{name}");
        assert_eq!(report.left_at_init.len(), out_weights, "{name}");
        backbone_matches_monai(&model, e, name);
    }

    // The published self-supervised backbone: the encoder only, decoder left at init.
    let published = renamed(&published_key);
    assert!(published.keys().any(|k| k.contains(".mlp.fc1.")));
    let (model, report) = transfer(&cfg, &published, &dir, "published").unwrap();
    assert_eq!(report.loaded.len(), backbone_weights);
    assert_eq!(report.ignored.len(), index_buffers);
    assert!(report.dropped.is_empty(), "{report:?}");
    assert_eq!(report.left_at_init.len(), decoder_weights + out_weights);
    assert!(report.summary().contains("decoder"), "{}", report.summary());
    backbone_matches_monai(&model, e, "published");

    // The research code's SSLHead checkpoint: `module.swinViT.` with its three heads.
    let dim = 16 * cfg.feature_size;
    let mut ssl_head = renamed(&|k| k.starts_with("swinViT.").then(|| format!("module.{k}")));
    for (key, shape) in [
        ("module.rotation_head.weight", vec![4, dim]),
        ("module.rotation_head.bias", vec![4]),
        ("module.contrastive_head.weight", vec![512, dim]),
        ("module.contrastive_head.bias", vec![512]),
        ("module.conv.0.weight", vec![dim / 2, dim, 3, 3, 3]),
        ("module.conv.0.bias", vec![dim / 2]),
    ] {
        ssl_head.insert(key.to_string(), formula_weight(key, &shape));
    }
    let (model, report) = transfer(&cfg, &ssl_head, &dir, "ssl_head").unwrap();
    assert_eq!(report.loaded.len(), backbone_weights);
    assert_eq!(report.dropped.len(), 6, "{report:?}");
    backbone_matches_monai(&model, e, "ssl_head");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn v1_and_v2_backbones_cross_with_the_residual_stages_named() {
    let fixture = fixture();
    let e = &fixture["networks"]["tiny_v2"];
    let v2 = config(&e["args"]);
    let v1 = v2.clone().with_use_v2(false);
    let monai_v2 = monai_state_dict(e);
    let dir = common::scratch("swin-transfer-versions");
    let residual = |k: &String| k.contains(".layers1c.") || k.contains("layers4c.");
    let stages = monai_v2
        .keys()
        .filter(|k| k.starts_with("swinViT.layers") && k.as_bytes()[15] == b'c')
        .count();
    assert!(stages > 0);
    // v2 checkpoint, v1 model: the residual stages are dropped, by name.
    let (_, report) = transfer(&v1, &monai_v2, &dir, "v2_into_v1").unwrap();
    assert_eq!(
        report.dropped.iter().filter(|k| k.contains("c.0.")).count(),
        stages,
        "{report:?}"
    );
    assert!(report.dropped.iter().any(residual));
    // v1 checkpoint (the v2 one without its stages), v2 model: they start at init, named.
    let monai_v1: BTreeMap<_, _> = (monai_v2.iter())
        .filter(|(k, _)| !(k.starts_with("swinViT.layers") && k.as_bytes()[15] == b'c'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (_, report) = transfer(&v2, &monai_v1, &dir, "v1_into_v2").unwrap();
    assert_eq!(
        (report.left_at_init.iter())
            .filter(|k| k.starts_with("swinViT."))
            .count(),
        stages,
        "{report:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checkpoints_that_do_not_fit_are_refused_naming_the_key() {
    let fixture = fixture();
    let e = &fixture["networks"]["tiny_v1"];
    let cfg = config(&e["args"]);
    let monai = monai_state_dict(e);
    let dir = common::scratch("swin-transfer-refusals");
    let refused = |c: &SwinUnetrConfig, t: &BTreeMap<String, TensorData>, name, says: &[&str]| {
        let err = transfer(c, t, &dir, name).unwrap_err().to_string();
        for s in says {
            assert!(err.contains(s), "{name}: {err}");
        }
    };
    // Another width: the first key that differs, both shapes, and the setting to change.
    let wider = cfg.clone().with_feature_size(2 * cfg.feature_size);
    refused(
        &wider,
        &monai,
        "wider",
        &["state dict key", "shape", "feature_size"],
    );
    // Deeper stages in the checkpoint than in the model.
    let shallower = cfg.clone().with_depths(vec![2, 2, 2, 1]);
    refused(
        &shallower,
        &monai,
        "deeper",
        &["no place for", "layers4.0.blocks.1", "depths"],
    );
    // Shallower stages in the checkpoint.
    let deeper = cfg.clone().with_depths(vec![2, 2, 2, 3]);
    refused(
        &deeper,
        &monai,
        "shallower",
        &["lacks", "layers4.0.blocks.2", "depths"],
    );
    // A UNETR checkpoint: no Swin backbone at all (a strict=False load would start random).
    let unetr: BTreeMap<String, TensorData> = [
        "vit.patch_embedding.patch_embeddings.1.weight",
        "vit.blocks.0.attn.qkv.weight",
    ]
    .iter()
    .map(|k| (k.to_string(), formula_weight(k, &[4, 4])))
    .collect();
    refused(&cfg, &unetr, "unetr", &["no Swin backbone", "vit.blocks.0"]);
    // The same tensor under two layouts.
    let mut twice = monai.clone();
    let key = "swinViT.patch_embed.proj.bias";
    twice.insert(format!("module.{key}"), monai[key].clone());
    refused(&cfg, &twice, "twice", &[key, "twice"]);
    std::fs::remove_dir_all(&dir).ok();
}
