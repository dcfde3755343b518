//! Pretrained weights for ConVIRT's towers: a Hugging Face BERT folder by path or by model name in
//! the local hub cache, safetensors written here in HF's layout (older and pretraining names
//! included) giving tests/fixtures/convirt_models.json's outputs, weights that do not fit refused
//! naming what differs; and, where a reference set carries them
//! (scripts/reference/gen_convirt_checkpoints.py), real `save_pretrained` folders, a torchvision
//! `.pth` and the reference's `ModelCLR` `model.pth` give the same outputs.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::TensorData;
use serde_json::Value;
use ssl3d::networks::checkpoint::write_safetensors;
use ssl3d::networks::convirt_weights::{
    bert_config_of, load_bert_folder, load_modelclr, load_torchvision_resnet,
    resolve_bert_folder_in,
};
use ssl3d::networks::nets::{ConvirtModelConfig, ResNetConfig};
use ssl3d::text::ReportTokenizer;

use crate::common;
use crate::convirt_models::{
    bert_config, bert_outputs, fixture, formula_dict, image, ints, keys, smallest, vals,
};
use crate::networks::{B, check_full_summary};

/// A Hugging Face folder for fixture BERT `e`: config.json, model.safetensors, vocab.txt.
fn hf_folder(dir: &Path, e: &Value, tensors: &BTreeMap<String, TensorData>, vocab: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    let mut config = e["config"].clone();
    config["transformers_version"] = "4.46.3".into();
    config["torch_dtype"] = "float32".into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    write_safetensors(&dir.join("model.safetensors"), tensors).unwrap();
    let words: Vec<String> = serde_json::from_value(vocab.clone()).unwrap();
    std::fs::write(dir.join("vocab.txt"), words.join("\n") + "\n").unwrap();
}

fn check_bert_folder(dir: &Path, e: &Value, what: &str) {
    let cfg = bert_config_of(dir).unwrap();
    let mut bert = cfg.init::<B>(&Default::default());
    let report = load_bert_folder(&mut bert, dir).unwrap();
    assert!(report.missing.is_empty(), "{what}: {report:?}");
    let out = bert_outputs(&bert, e);
    check_full_summary(&vals(out.last_hidden_state), &e["last_hidden_state"], what);
    check_full_summary(&vals(out.pooler_output), &e["pooler_output"], what);
    ReportTokenizer::from_model_dir(dir, false, 512).unwrap();
}

#[test]
fn a_hugging_face_folder_loads_by_path_or_by_name_from_the_hub_cache() {
    let f = fixture();
    let (name, e) = smallest(&f, "berts");
    let dir = common::scratch("convirt_hf_folder");
    let tensors = formula_dict(&keys(&e["keys"]));
    hf_folder(&dir.join("plain"), e, &tensors, &f["tokenizer"]["vocab"]);
    check_bert_folder(&dir.join("plain"), e, name);
    // `BertForPreTraining`'s layout: `bert.` keys, LayerNorm's older gamma/beta, the LM heads.
    let mut pretraining: BTreeMap<String, TensorData> = tensors
        .iter()
        .map(|(k, v)| {
            (
                format!("bert.{}", k.replace("LayerNorm.weight", "LayerNorm.gamma")),
                v.clone(),
            )
        })
        .collect();
    pretraining.insert(
        "cls.predictions.bias".into(),
        TensorData::new(vec![0f32; 4], [4]),
    );
    hf_folder(
        &dir.join("pretraining"),
        e,
        &pretraining,
        &f["tokenizer"]["vocab"],
    );
    check_bert_folder(&dir.join("pretraining"), e, "pretraining layout");
    // The hub cache's layout: models--org--name/refs/main names the snapshot.
    let cache = dir.join("hub");
    let repo = cache.join("models--clinical--tiny-bert");
    hf_folder(
        &repo.join("snapshots/0123abcd"),
        e,
        &tensors,
        &f["tokenizer"]["vocab"],
    );
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd\n").unwrap();
    let found = resolve_bert_folder_in("clinical/tiny-bert", Some(cache.clone())).unwrap();
    assert_eq!(found, repo.join("snapshots/0123abcd"));
    let err = resolve_bert_folder_in("clinical/absent-bert", Some(cache))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clinical/absent-bert") && err.contains("downloads nothing"),
        "{err}"
    );
}

#[test]
fn weights_that_do_not_fit_the_config_are_refused_naming_what_differs() {
    let f = fixture();
    let (_, e) = smallest(&f, "berts");
    let dir = common::scratch("convirt_hf_mismatch");
    let tensors = formula_dict(&keys(&e["keys"]));
    hf_folder(&dir, e, &tensors, &f["tokenizer"]["vocab"]);
    let cfg = bert_config(e);
    // One layer more than the file has: its tensors are missing.
    let mut deeper = cfg.clone();
    deeper.num_hidden_layers += 1;
    let last = cfg.num_hidden_layers;
    let err = load_bert_folder(&mut deeper.init::<B>(&Default::default()), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lacks") && err.contains(&format!("encoder.layer.{last}.")),
        "{err}"
    );
    // One layer fewer: the file's last layer has no place.
    let mut shallower = cfg.clone();
    shallower.num_hidden_layers -= 1;
    let err = load_bert_folder(&mut shallower.init::<B>(&Default::default()), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no place for") && err.contains(&format!("encoder.layer.{}.", last - 1)),
        "{err}"
    );
    // Another width: the first tensor that does not fit is named with both shapes.
    let mut wider = cfg;
    wider.hidden_size *= 2;
    let err = load_bert_folder(&mut wider.init::<B>(&Default::default()), &dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shape"), "{err}");
    let err = load_bert_folder(
        &mut bert_config(e).init::<B>(&Default::default()),
        &dir.join("absent"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a Hugging Face model folder"), "{err}");
}

#[test]
fn a_torchvision_resnet_with_its_classifier_loads_without_it() {
    let f = fixture();
    let (name, r) = smallest(&f, "resnets");
    let dir = common::scratch("convirt_resnet_file");
    let mut tensors = formula_dict(&keys(&r["keys"]));
    let features = ResNetConfig::torchvision(r["arch"].as_str().unwrap())
        .unwrap()
        .num_features();
    tensors.insert(
        "fc.weight".into(),
        TensorData::new(vec![0f32; 2 * features], [2, features]),
    );
    tensors.insert("fc.bias".into(), TensorData::new(vec![0f32; 2], [2]));
    let path = dir.join("resnet.safetensors");
    write_safetensors(&path, &tensors).unwrap();
    let mut net = ResNetConfig::torchvision(r["arch"].as_str().unwrap())
        .unwrap()
        .init::<B>(&Default::default());
    let report = load_torchvision_resnet(&mut net, &path).unwrap();
    assert_eq!(
        report.unexpected,
        vec!["fc.bias".to_string(), "fc.weight".to_string()]
    );
    check_full_summary(
        &vals(net.forward(image(&r["input"]))),
        &r["features_eval"],
        name,
    );
}

#[test]
fn real_pytorch_and_hugging_face_files_give_the_fixture_outputs() {
    let Some((dir, json)) =
        common::generated_checkpoints("convirt_checkpoints.json", "gen_convirt_checkpoints.py")
    else {
        return;
    };
    let index: Value = serde_json::from_str(&json).unwrap();
    let f = fixture();
    let e = &f["berts"][index["bert"].as_str().unwrap()];
    for folder in index["bert_folders"].as_array().unwrap() {
        let folder = folder.as_str().unwrap();
        check_bert_folder(&dir.join(folder), e, folder);
    }
    let r = &f["resnets"][index["resnet"].as_str().unwrap()];
    let mut net = ResNetConfig::torchvision(r["arch"].as_str().unwrap())
        .unwrap()
        .init::<B>(&Default::default());
    load_torchvision_resnet(&mut net, &dir.join(index["resnet_pth"].as_str().unwrap())).unwrap();
    check_full_summary(
        &vals(net.forward(image(&r["input"]))),
        &r["features_eval"],
        "resnet .pth",
    );
    let pair = &f["convirt"][index["convirt"].as_str().unwrap()];
    let t = &f["berts"][pair["bert"].as_str().unwrap()];
    let cfg = ConvirtModelConfig::radiograph(
        ResNetConfig::torchvision(pair["resnet"].as_str().unwrap()).unwrap(),
        bert_config(t),
    )
    .with_out_dim(pair["out_dim"].as_u64().unwrap() as usize);
    let mut model = cfg.init::<B>(&Default::default());
    load_modelclr(
        &mut model,
        &dir.join(index["modelclr_pth"].as_str().unwrap()),
    )
    .unwrap();
    let rr = &f["resnets"][pair["resnet"].as_str().unwrap()];
    let (_, z) = model.image_encoder(image(&rr["input"]));
    check_full_summary(
        &vals(z),
        &rr["projection_eval"],
        "ModelCLR image projection",
    );
    let zt = model.text_encoder(
        ints(&t["input_ids"]),
        ints(&t["token_type_ids"]),
        ints(&t["attention_mask"]),
    );
    check_full_summary(&vals(zt), &t["projection"], "ModelCLR text projection");
}
