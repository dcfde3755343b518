//! ConVIRT's encoders and tokeniser against tests/fixtures/convirt_models.json (torchvision 0.21,
//! transformers 4.46 and tokenizers 0.20 on formula weights; made by
//! scripts/reference/gen_convirt_models.py): every ResNet and BERT there has torchvision's /
//! Hugging Face's keys, shapes and parameter count, loads the formula weights by those names and
//! gives PyTorch's outputs to 1e-4 of their scale (or a few times PyTorch's own float32 rounding),
//! batch statistics and PyTorch's running-statistics update included; whole ConVIRT models have
//! the reference `ModelCLR`'s keys and its two projections; `freeze_layers` stops gradients; the
//! WordPiece tokeniser gives transformers' ids, cased and lower-cased, truncated and padded.

use std::collections::BTreeMap;

use burn::backend::Autodiff;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde_json::Value;
use ssl3d::networks::blocks::batch_norm::BatchNorm2dConfig;
use ssl3d::networks::nets::{BertConfig, BertModel, ConvirtModelConfig, ResNet, ResNetConfig};
use ssl3d::networks::state_dict::{Arch, LoadReport, export_state_dict, load_state_dict};
use ssl3d::text::ReportTokenizer;

use crate::common;
use crate::networks::{B, check_full_summary};

type AB = Autodiff<B>;

pub(crate) fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/convirt_models.json")).unwrap()
}

/// The generator's rule: `f32(1 + 0.1·sin(0.1(j+1) + h))` for batch- and layer-norm scales and
/// running variances, else `f32(0.05·sin(…))`, `h = (Σ utf8 bytes of key mod 1000) / 100`.
/// The fixture's smallest network of a kind (`"berts"`, `"resnets"`), by parameter count: the
/// cheap one for tests that need any.
pub(crate) fn smallest<'a>(f: &'a Value, kind: &str) -> (&'a String, &'a Value) {
    f[kind]
        .as_object()
        .unwrap()
        .iter()
        .min_by_key(|(_, e)| e["num_params"].as_u64().unwrap())
        .unwrap()
}

/// The whole-model pair with the smallest BERT.
fn smallest_pair(f: &Value) -> &Value {
    f["convirt"]
        .as_object()
        .unwrap()
        .values()
        .min_by_key(|p| {
            f["berts"][p["bert"].as_str().unwrap()]["num_params"]
                .as_u64()
                .unwrap()
        })
        .unwrap()
}

pub(crate) fn formula(key: &str, shape: &[usize]) -> TensorData {
    let h = (key.bytes().map(|b| b as u64).sum::<u64>() % 1000) as f64 / 100.0;
    let p: Vec<&str> = key.split('.').collect();
    let n = p.len();
    let scale = p[n - 1] == "running_var"
        || (p[n - 1] == "weight"
            && n > 1
            && (p[n - 2].starts_with("bn")
                || p[n - 2] == "LayerNorm"
                || (n > 2 && p[n - 3] == "downsample" && p[n - 2] == "1")));
    let v: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|j| {
            let s = (0.1 * (j as f64 + 1.0) + h).sin();
            (if scale { 1.0 + 0.1 * s } else { 0.05 * s }) as f32
        })
        .collect();
    TensorData::new(v, shape.to_vec())
}

/// Key → shape, for the floating-point tensors (`num_batches_tracked` is an integer counter).
pub(crate) fn keys(v: &Value) -> BTreeMap<String, Vec<usize>> {
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
        .map(|(k, s)| (k.clone(), common::usizes(s)))
        .collect()
}

pub(crate) fn formula_dict(keys: &BTreeMap<String, Vec<usize>>) -> BTreeMap<String, TensorData> {
    keys.iter()
        .map(|(k, s)| (k.clone(), formula(k, s)))
        .collect()
}

pub(crate) fn vals<BB: Backend, const D: usize>(t: Tensor<BB, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

pub(crate) fn image<BB: Backend>(input: &Value) -> Tensor<BB, 4> {
    let s = common::usizes(&input["shape"]);
    let (phase, freq) = (
        input["phase"].as_f64().unwrap(),
        input["freq"].as_f64().unwrap(),
    );
    let v: Vec<f32> = (0..s.iter().product::<usize>())
        .map(|j| (freq * j as f64 + phase).sin() as f32)
        .collect();
    Tensor::from_data(
        TensorData::new(v, [s[0], s[1], s[2], s[3]]),
        &Default::default(),
    )
}

pub(crate) fn ints<BB: Backend>(v: &Value) -> Tensor<BB, 2, Int> {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    let (b, n) = (rows.len(), rows[0].len());
    Tensor::from_data(TensorData::new(rows.concat(), [b, n]), &Default::default())
}

fn exported_shapes<BB: Backend, M: burn::store::ModuleSnapshot<BB>>(
    m: &M,
    arch: Arch,
) -> BTreeMap<String, Vec<usize>> {
    export_state_dict(m, arch)
        .unwrap()
        .into_iter()
        .map(|(k, d)| (k, d.shape.to_vec()))
        .collect()
}

/// The same keys and shapes; on a difference, the keys that differ.
fn same_keys(ours: BTreeMap<String, Vec<usize>>, want: &BTreeMap<String, Vec<usize>>, what: &str) {
    let only = |a: &BTreeMap<String, Vec<usize>>, b: &BTreeMap<String, Vec<usize>>| {
        a.iter()
            .filter(|(k, s)| b.get(*k) != Some(*s))
            .map(|(k, s)| format!("{k} {s:?}"))
            .take(6)
            .collect::<Vec<_>>()
    };
    assert!(
        ours == *want,
        "{what}: ours only {:?}, the reference's only {:?}",
        only(&ours, want),
        only(want, &ours)
    );
}

fn complete(report: &LoadReport, what: &str) {
    assert!(
        report.missing.is_empty() && report.unexpected.is_empty(),
        "{what}: {report:?}"
    );
}

pub(crate) fn bert_config(e: &Value) -> BertConfig {
    let c: BertConfig = serde_json::from_value(e["config"].clone()).unwrap();
    c.check().unwrap();
    c
}

/// A ResNet of the fixture with the formula weights loaded by torchvision's names.
fn resnet_with_formula<BB: Backend>(e: &Value, name: &str) -> ResNet<BB> {
    let cfg = ResNetConfig::torchvision(e["arch"].as_str().unwrap()).unwrap();
    let mut net = cfg.init::<BB>(&Default::default());
    let want = keys(&e["keys"]);
    same_keys(exported_shapes(&net, Arch::ResNet), &want, name);
    let running: usize = want
        .iter()
        .filter(|(k, _)| k.contains("running_"))
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    // Burn counts the running statistics among a module's parameters; PyTorch does not.
    assert_eq!(
        (net.num_params() - running) as u64,
        e["num_params"].as_u64().unwrap(),
        "{name}: parameters"
    );
    let report = load_state_dict(&mut net, Arch::ResNet, &formula_dict(&want)).unwrap();
    complete(&report, name);
    net
}

#[test]
fn every_resnet_reproduces_torchvision_with_running_and_batch_statistics() {
    let f = fixture();
    for (name, e) in f["resnets"].as_object().unwrap() {
        let net = resnet_with_formula::<B>(e, name);
        let features = net.forward(image(&e["input"]));
        check_full_summary(
            &vals(features),
            &e["features_eval"],
            &format!("{name} features"),
        );
        drop(net);
        // Training mode (autodiff): batch statistics, and PyTorch's running-statistics update.
        let net = resnet_with_formula::<AB>(e, name);
        let stage1 = net.forward_stages(image(&e["input"]), 1);
        check_full_summary(
            &vals(stage1),
            &e["layer1_train"],
            &format!("{name} layer1 train"),
        );
        let ran = &e["running_after_train"];
        for (bn, norm) in [("bn1", &net.bn1), ("layer1.0.bn1", &net.layer1[0].bn1)] {
            let what = format!("{name} {bn}");
            check_full_summary(
                &vals(norm.running_mean.value_sync()),
                &ran[bn]["mean"],
                &what,
            );
            check_full_summary(&vals(norm.running_var.value_sync()), &ran[bn]["var"], &what);
        }
    }
}

#[test]
fn batch_norm_trains_with_pytorchs_unbiased_running_variance() {
    let f = fixture();
    let e = &f["batch_norm"];
    let shape = common::usizes(&e["input"]["shape"]);
    let prefix = e["key_prefix"].as_str().unwrap();
    let mut bn = BatchNorm2dConfig::new(shape[1]).init::<AB>(&Default::default());
    let tensors: BTreeMap<_, _> = ["weight", "bias", "running_mean", "running_var"]
        .iter()
        .map(|p| (p.to_string(), formula(&format!("{prefix}{p}"), &[shape[1]])))
        .collect();
    complete(
        &load_state_dict(&mut bn, Arch::ResNet, &tensors).unwrap(),
        "batch norm",
    );
    let y = bn.forward(image(&e["input"]));
    check_full_summary(&vals(y), &e["out"], "batch norm out");
    check_full_summary(
        &vals(bn.running_mean.value_sync()),
        &e["running_mean"],
        "running mean",
    );
    check_full_summary(
        &vals(bn.running_var.value_sync()),
        &e["running_var"],
        "running var",
    );
}

pub(crate) fn bert_outputs<BB: Backend>(
    bert: &BertModel<BB>,
    e: &Value,
) -> ssl3d::networks::nets::bert::BertOutput<BB> {
    bert.forward(
        ints(&e["input_ids"]),
        ints(&e["token_type_ids"]),
        ints(&e["attention_mask"]),
    )
}

#[test]
fn every_bert_reproduces_transformers() {
    let f = fixture();
    for (name, e) in f["berts"].as_object().unwrap() {
        let cfg = bert_config(e);
        let mut bert = cfg.init::<B>(&Default::default());
        let want = keys(&e["keys"]);
        same_keys(exported_shapes(&bert, Arch::Bert), &want, name);
        assert_eq!(
            bert.num_params() as u64,
            e["num_params"].as_u64().unwrap(),
            "{name}: parameters"
        );
        complete(
            &load_state_dict(&mut bert, Arch::Bert, &formula_dict(&want)).unwrap(),
            name,
        );
        let out = bert_outputs(&bert, e);
        check_full_summary(
            &vals(out.last_hidden_state),
            &e["last_hidden_state"],
            &format!("{name} last hidden state"),
        );
        check_full_summary(
            &vals(out.pooler_output),
            &e["pooler_output"],
            &format!("{name} pooler"),
        );
    }
}

#[test]
fn bert_checkpoints_in_older_and_pretraining_layouts_load_the_same_tensors() {
    let f = fixture();
    let (name, e) = smallest(&f, "berts");
    let cfg = bert_config(e);
    let plain = formula_dict(&keys(&e["keys"]));
    // `BertForPreTraining` files: a `bert.` prefix, the masked-LM heads beside, and LayerNorm's
    // pre-2019 `gamma` / `beta` names.
    let mut legacy: BTreeMap<String, TensorData> = plain
        .iter()
        .map(|(k, v)| {
            let k = k
                .replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta");
            (format!("bert.{k}"), v.clone())
        })
        .collect();
    legacy.insert(
        "cls.predictions.bias".into(),
        TensorData::new(vec![0f32; 3], [3]),
    );
    let mut a = cfg.init::<B>(&Default::default());
    let mut b = cfg.init::<B>(&Default::default());
    complete(&load_state_dict(&mut a, Arch::Bert, &plain).unwrap(), name);
    let report = load_state_dict(&mut b, Arch::Bert, &legacy).unwrap();
    assert!(report.missing.is_empty(), "{report:?}");
    assert_eq!(report.unexpected, vec!["cls.predictions.bias".to_string()]);
    assert_eq!(
        vals(bert_outputs(&a, e).last_hidden_state),
        vals(bert_outputs(&b, e).last_hidden_state)
    );
}

#[test]
fn whole_convirt_models_have_the_reference_keys_and_projections() {
    let f = fixture();
    for (name, pair) in f["convirt"].as_object().unwrap() {
        let r = &f["resnets"][pair["resnet"].as_str().unwrap()];
        let t = &f["berts"][pair["bert"].as_str().unwrap()];
        let cfg = ConvirtModelConfig::radiograph(
            ResNetConfig::torchvision(r["arch"].as_str().unwrap()).unwrap(),
            bert_config(t),
        )
        .with_out_dim(pair["out_dim"].as_u64().unwrap() as usize);
        cfg.check().unwrap();
        let mut model = cfg.init::<B>(&Default::default());
        let modelclr = keys(&pair["modelclr_keys"]);
        same_keys(exported_shapes(&model, Arch::Convirt), &modelclr, name);
        // Each tower by its own names, the heads by ModelCLR's.
        complete(
            &load_state_dict(
                model.res_features.as_mut().unwrap(),
                Arch::ResNet,
                &formula_dict(&keys(&r["keys"])),
            )
            .unwrap(),
            name,
        );
        complete(
            &load_state_dict(
                &mut model.bert_model,
                Arch::Bert,
                &formula_dict(&keys(&t["keys"])),
            )
            .unwrap(),
            name,
        );
        let heads: BTreeMap<_, _> = keys(&r["projection_keys"])
            .into_iter()
            .chain(keys(&t["projection_keys"]))
            .collect();
        let report = load_state_dict(&mut model, Arch::Convirt, &formula_dict(&heads)).unwrap();
        assert_eq!(report.loaded.len(), 8, "{name}: {report:?}");
        let (h, z) = model.image_encoder(image(&r["input"]));
        check_full_summary(
            &vals(h),
            &r["features_eval"],
            &format!("{name} image features"),
        );
        let z = vals(z);
        check_full_summary(
            &z,
            &r["projection_eval"],
            &format!("{name} image projection"),
        );
        let text = |m: &ssl3d::networks::nets::Convirt<B>| {
            vals(m.text_encoder(
                ints(&t["input_ids"]),
                ints(&t["token_type_ids"]),
                ints(&t["attention_mask"]),
            ))
        };
        let zt = text(&model);
        check_full_summary(&zt, &t["projection"], &format!("{name} text projection"));
        // The whole model through the reference's layout and back.
        let saved = export_state_dict(&model, Arch::Convirt).unwrap();
        drop(model);
        let mut again = cfg.init::<B>(&Default::default());
        complete(
            &load_state_dict(&mut again, Arch::Convirt, &saved).unwrap(),
            name,
        );
        assert_eq!(vals(again.image_encoder(image(&r["input"])).1), z, "{name}");
        assert_eq!(text(&again), zt, "{name}");
    }
}

#[test]
fn frozen_bert_layers_get_no_gradients() {
    let f = fixture();
    let pair = smallest_pair(&f);
    let t = &f["berts"][pair["bert"].as_str().unwrap()];
    let cfg = ConvirtModelConfig::radiograph(
        ResNetConfig::torchvision(pair["resnet"].as_str().unwrap()).unwrap(),
        bert_config(t),
    )
    .with_out_dim(pair["out_dim"].as_u64().unwrap() as usize)
    .with_freeze_layers(vec![0]);
    cfg.check().unwrap();
    let model = cfg.init::<AB>(&Default::default());
    let z = model.text_encoder(
        ints(&t["input_ids"]),
        ints(&t["token_type_ids"]),
        ints(&t["attention_mask"]),
    );
    let grads = z.square().sum().backward();
    let query = |i: usize| {
        &model.bert_model.encoder.layer[i]
            .attention
            .self_attn
            .query
            .weight
    };
    assert!(
        query(0).grad(&grads).is_none(),
        "frozen layer 0 has a gradient"
    );
    assert!(query(1).grad(&grads).is_some(), "layer 1 has no gradient");
    assert!(model.bert_l1.weight.grad(&grads).is_some());
}

#[test]
fn settings_that_cannot_work_are_refused_with_their_reason() {
    let f = fixture();
    let (_, t) = smallest(&f, "berts");
    let cfg = bert_config(t);
    let refused = |c: &BertConfig, says: &str| {
        let err = c.check().unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    };
    let mut relu = cfg.clone();
    relu.hidden_act = "relu".into();
    refused(&relu, "hidden_act");
    let mut relative = cfg.clone();
    relative.position_embedding_type = "relative_key".into();
    refused(&relative, "position_embedding_type");
    let layers = cfg.num_hidden_layers;
    let err = ConvirtModelConfig::radiograph(ResNetConfig::torchvision("resnet18").unwrap(), cfg)
        .with_freeze_layers(vec![layers])
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("BERT layer {layers}")), "{err}");
    let err = ResNetConfig::torchvision("resnet51")
        .unwrap_err()
        .to_string();
    assert!(err.contains("resnet50"), "{err}");
    // A config.json that is not BERT's, and a vocabulary without BERT's special tokens.
    let dir = common::scratch("convirt_refusals");
    let json = dir.join("config.json");
    std::fs::write(&json, r#"{"hidden_size": "wide"}"#).unwrap();
    let err = BertConfig::from_hf_json(&json).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("not a BERT config"),
        "{err}"
    );
    let vocab = dir.join("vocab.txt");
    std::fs::write(&vocab, "[PAD]\n[UNK]\n[SEP]\nthe\n").unwrap();
    let err = ReportTokenizer::from_vocab(&vocab, false, 512)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("vocab.txt") && err.contains("[CLS]"), "{err}");
}

#[test]
fn a_hugging_face_config_json_is_read_with_its_other_keys() {
    let f = fixture();
    let dir = common::scratch("convirt_config_json");
    for (name, e) in f["berts"].as_object().unwrap() {
        let path = dir.join(format!("{name}.json"));
        let mut json = e["config"].clone();
        json["transformers_version"] = "4.46.3".into();
        std::fs::write(&path, json.to_string()).unwrap();
        let cfg = BertConfig::from_hf_json(&path).unwrap();
        let want = &e["config"];
        assert_eq!(
            cfg.vocab_size as u64,
            want["vocab_size"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            cfg.hidden_size as u64,
            want["hidden_size"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            cfg.num_hidden_layers as u64,
            want["num_hidden_layers"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            cfg.layer_norm_eps,
            want["layer_norm_eps"].as_f64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_wordpiece_tokenizer_gives_transformers_ids() {
    let f = fixture();
    let tk = &f["tokenizer"];
    let dir = common::scratch("convirt_tokenizer");
    let vocab = dir.join("vocab.txt");
    let words: Vec<String> = serde_json::from_value(tk["vocab"].clone()).unwrap();
    std::fs::write(&vocab, words.join("\n") + "\n").unwrap();
    let max_length = tk["max_length"].as_u64().unwrap() as usize;
    for run in tk["runs"].as_array().unwrap() {
        let lower = run["do_lower_case"].as_bool().unwrap();
        let tokenizer = ReportTokenizer::from_vocab(&vocab, lower, max_length).unwrap();
        for case in run["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let ids = tokenizer.encode(text).unwrap();
            let want: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
            assert_eq!(ids, want, "do_lower_case {lower}: {text:?}");
            let tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
            assert_eq!(tokenizer.tokens(&ids), tokens, "{text:?}");
        }
        let batch = &run["batch"];
        let texts: Vec<String> = serde_json::from_value(batch["texts"].clone()).unwrap();
        let got = tokenizer.encode_batch(&texts).unwrap();
        for (key, ours) in [
            ("input_ids", &got.input_ids),
            ("attention_mask", &got.attention_mask),
            ("token_type_ids", &got.token_type_ids),
        ] {
            let want: Vec<Vec<i64>> = serde_json::from_value(batch[key].clone()).unwrap();
            assert_eq!(got.batch, want.len(), "{key}");
            assert_eq!(got.tokens, want[0].len(), "{key}");
            assert_eq!(*ours, want.concat(), "do_lower_case {lower}: {key}");
        }
    }
}
