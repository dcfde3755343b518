//! `ssl-data synth --reports` and `ssl-convirt` end to end: the synthetic corpus is complete and
//! deterministic (every report word in its vocabulary, labels agreeing with the reports, a BERT
//! folder that loads), a run writes every output, resumes bit for bit, fine-tunes from a run,
//! and refuses what cannot run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use ssl3d::networks::convirt_weights::{bert_config_of, load_bert_folder, load_modelclr};
use ssl3d::networks::native::load_config;
use ssl3d::networks::nets::bert::masked_mean;
use ssl3d::networks::nets::{BertModel, Convirt, ConvirtModelConfig};
use ssl3d::text::ReportTokenizer;
use ssl3d::train::read_records;

use crate::common;
use crate::networks::B;

/// `ssl-data synth --reports` of `pairs` tiny pairs into `dir`, its BERT left at random (the
/// runs here test the pipeline, not what BERT knows).
pub(crate) fn synth_pairs(dir: &Path, pairs: usize, seed: u64) {
    synth_pairs_with_bert(dir, pairs, seed, 0, &[]);
}

/// The same with `bert_steps` masked-LM steps pretraining the corpus's BERT and `more`
/// arguments to `ssl-data synth --reports`.
pub(crate) fn synth_pairs_with_bert(
    dir: &Path,
    pairs: usize,
    seed: u64,
    bert_steps: usize,
    more: &[&str],
) {
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-data"))
        .args(["synth", "--reports", "--pairs", &pairs.to_string()])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(dir)
        .args(["--bert-steps", &bert_steps.to_string()])
        .args(more)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The corpus's config.yaml with `batch_size` and `valid_size` changed and each `(from, to)`
/// replaced, saved as `name`.
pub(crate) fn config(
    dir: &Path,
    name: &str,
    batch: usize,
    valid_size: f64,
    replace: &[(&str, &str)],
) -> PathBuf {
    let (batch, valid_size) = (
        format!("batch_size: {batch}"),
        format!("valid_size: {valid_size}"),
    );
    let mut all = vec![
        ("batch_size: 8", batch.as_str()),
        ("valid_size: 0.25", valid_size.as_str()),
    ];
    all.extend_from_slice(replace);
    edited_config(dir, "config.yaml", name, &all)
}

/// The corpus's config file `source` (`config.yaml` or `config-ct.yaml`) with each `(from, to)`
/// replaced in turn, each `from` required to be there, saved as `name`.
pub(crate) fn edited_config(
    dir: &Path,
    source: &str,
    name: &str,
    replace: &[(&str, &str)],
) -> PathBuf {
    let mut text = std::fs::read_to_string(dir.join(source)).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "{source} has no {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn convirt(config: &Path, logdir: &Path, epochs: usize, more: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssl-convirt"))
        .arg("--config")
        .arg(config)
        .arg("--logdir")
        .arg(logdir)
        .args(["--epochs", &epochs.to_string()])
        .args(more)
        .output()
        .unwrap()
}

pub(crate) fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "ssl-convirt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refused(out: &Output, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should have been refused");
    assert!(err.contains(says), "the error should say {says:?}: {err}");
}

/// The `kind` records of a run's log.
pub(crate) fn records(logdir: &Path, kind: &str) -> Vec<Value> {
    (read_records(&logdir.join("metrics.jsonl"))
        .unwrap()
        .into_iter())
    .filter(|r| r["kind"] == kind)
    .collect()
}

/// Mean cosine similarity of the mean-pooled BERT embeddings of normal and of abnormal reports
/// with each other (across the two groups), and within the groups.
fn report_similarity(dir: &Path) -> (f64, f64) {
    let bert_dir = dir.join("bert");
    let mut bert: BertModel<B> = bert_config_of(&bert_dir).unwrap().init(&Default::default());
    load_bert_folder(&mut bert, &bert_dir).unwrap();
    let tokenizer = ReportTokenizer::from_model_dir(&bert_dir, true, 256).unwrap();
    let csv = std::fs::read_to_string(dir.join("pairs.csv")).unwrap();
    let (mut texts, mut normal) = (Vec::new(), Vec::new());
    for row in csv.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let report = std::fs::read_to_string(dir.join(cells[1])).unwrap();
        texts.push(report.split_whitespace().collect::<Vec<_>>().join(" "));
        normal.push(cells[3] == "1");
    }
    let t = tokenizer.encode_batch(&texts).unwrap();
    let ints = |v: &[i64]| {
        burn::tensor::Tensor::<B, 2, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(v.to_vec(), [t.batch, t.tokens]),
            &Default::default(),
        )
    };
    let out = bert.forward(
        ints(&t.input_ids),
        ints(&t.token_type_ids),
        ints(&t.attention_mask),
    );
    let pooled = masked_mean(out.last_hidden_state, ints(&t.attention_mask));
    let hidden = pooled.dims()[1];
    let v: Vec<f32> = pooled.into_data().to_vec().unwrap();
    let unit: Vec<Vec<f64>> = v
        .chunks(hidden)
        .map(|r| {
            let n = r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            r.iter().map(|x| *x as f64 / n).collect()
        })
        .collect();
    let (mut across, mut within) = ((0.0, 0), (0.0, 0));
    for i in 0..unit.len() {
        for j in i + 1..unit.len() {
            let c: f64 = unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum();
            let acc = if normal[i] == normal[j] {
                &mut within
            } else {
                &mut across
            };
            acc.0 += c;
            acc.1 += 1;
        }
    }
    (across.0 / across.1 as f64, within.0 / within.1 as f64)
}

#[test]
fn masked_lm_pretraining_teaches_the_corpus_bert_its_reports() {
    let root = common::scratch("convirt_mlm");
    let (random, a, b) = (root.join("random"), root.join("a"), root.join("b"));
    synth_pairs_with_bert(&random, 24, 6, 0, &[]);
    synth_pairs_with_bert(&a, 24, 6, 150, &[]);
    synth_pairs_with_bert(&b, 24, 6, 150, &[]);
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(
        read(&a, "bert/model.safetensors"),
        read(&b, "bert/model.safetensors"),
        "the same seed pretrains the same weights"
    );
    let mlm: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("bert/pretraining.json")).unwrap())
            .unwrap();
    assert_eq!(mlm["steps"], 150);
    let (first, last) = (
        mlm["first_loss"].as_f64().unwrap(),
        mlm["last_loss"].as_f64().unwrap(),
    );
    assert!(
        last < 0.8 * first,
        "the masked-LM loss falls: {first} -> {last}"
    );
    // At random, normal and abnormal reports embed almost alike; pretrained, they part.
    let (across_random, _) = report_similarity(&random);
    let (across, within) = report_similarity(&a);
    assert!(
        across < across_random - 0.1 && across < within - 0.1,
        "normal vs abnormal reports: cosine {across:.3} pretrained (within groups {within:.3}), \
         {across_random:.3} at random"
    );
}

#[test]
fn the_synthetic_corpus_is_complete_and_deterministic() {
    let root = common::scratch("convirt_corpus");
    let (a, b) = (root.join("a"), root.join("b"));
    synth_pairs(&a, 10, 4);
    synth_pairs(&b, 10, 4);
    for file in [
        "pairs.csv",
        "bert/vocab.txt",
        "bert/config.json",
        "bert/model.safetensors",
        "images/chest-0003.png",
        "reports/chest-0007.txt",
        "ct/chest-0010.nii.gz",
    ] {
        let read = |d: &Path| std::fs::read(d.join(file)).unwrap();
        assert_eq!(read(&a), read(&b), "{file} differs between equal seeds");
    }
    let tokenizer = ReportTokenizer::from_model_dir(&a.join("bert"), true, 256).unwrap();
    let unk = tokenizer.encode("[UNK]").unwrap()[1];
    let csv = std::fs::read_to_string(a.join("pairs.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 10);
    let mut normal = 0;
    for row in rows {
        let cells: Vec<&str> = row.split(',').collect();
        let report = std::fs::read_to_string(a.join(cells[1])).unwrap();
        assert!(a.join(cells[0]).is_file() && a.join(cells[2]).is_file());
        let ids = tokenizer.encode(&report).unwrap();
        assert!(
            !ids.contains(&unk),
            "{report} has a word the vocabulary lacks"
        );
        let flag = |i: usize| cells[i] == "1";
        assert_eq!(flag(3), report.contains("No acute"), "{row}: {report}");
        let impression = report.split("IMPRESSION:").nth(1).unwrap();
        assert_eq!(flag(4), impression.contains("ground-glass"), "{row}");
        assert_eq!(flag(5), impression.contains("consolidation"), "{row}");
        normal += usize::from(flag(3));
    }
    assert!(normal < 10, "a corpus of only normal chests");
    let bert_dir = a.join("bert");
    let mut bert: BertModel<B> = bert_config_of(&bert_dir).unwrap().init(&Default::default());
    let report = load_bert_folder(&mut bert, &bert_dir).unwrap();
    assert!(report.missing.is_empty() && !report.loaded.is_empty());
}

#[test]
fn ssl_convirt_trains_writes_its_outputs_resumes_and_fine_tunes() {
    let root = common::scratch("convirt_run");
    let data = root.join("pairs");
    // 24 pairs: 6 held out, 18 training pairs make 4 batches of 4 (the last pairs dropped).
    synth_pairs(&data, 24, 1);
    let cfg = config(&data, "c.yaml", 4, 0.25, &[]);
    let straight = root.join("straight");
    ok(&convirt(&cfg, &straight, 2, &[]));
    for file in [
        "config.json",
        "run.json",
        "metrics.jsonl",
        "events.out.tfevents.ssl3d",
        "best_model.mpk",
        "best_model.config.json",
        "best_model.safetensors",
        "final_model.mpk",
        "final_model.safetensors",
        "summary.json",
    ] {
        assert!(straight.join(file).is_file(), "{file} was not written");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["steps"], 8);
    assert_eq!(summary["train_pairs"], 18);
    assert_eq!(summary["validation_pairs"], 6);
    let vals = records(&straight, "val");
    assert_eq!(vals.len(), 2, "eval_every_n_epochs 1 validates every epoch");
    assert_eq!(vals[0]["retrieval"]["pairs"], 6);
    assert_eq!(
        vals[0]["batches"], 1,
        "6 validation pairs make one whole batch of 4"
    );

    // One epoch, then --resume to two: the same steps, bit for bit.
    let resumed = root.join("resumed");
    ok(&convirt(&cfg, &resumed, 1, &[]));
    ok(&convirt(&cfg, &resumed, 2, &["--resume"]));
    let losses = |dir: &Path| -> Vec<Value> {
        records(dir, "step")
            .iter()
            .map(|r| r["losses"].clone())
            .collect()
    };
    assert_eq!(losses(&straight).len(), 8);
    assert_eq!(
        losses(&resumed),
        losses(&straight),
        "a resumed run trains otherwise"
    );

    // The saved best model loads back by the reference's key names.
    let model_cfg: ConvirtModelConfig =
        load_config(&straight.join("best_model.config.json")).unwrap();
    let mut model: Convirt<B> = model_cfg.init(&Default::default());
    let report = load_modelclr(&mut model, &straight.join("best_model.safetensors")).unwrap();
    assert!(report.missing.is_empty());

    // A run starts from it through fine_tune_from.
    let from = format!("fine_tune_from: {}", straight.display());
    let cfg_ft = config(
        &data,
        "ft.yaml",
        4,
        0.25,
        &[("fine_tune_from: null", from.as_str())],
    );
    let tuned = root.join("tuned");
    ok(&convirt(&cfg_ft, &tuned, 1, &[]));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(tuned.join("run.json")).unwrap()).unwrap();
    assert!(
        run["init"]["file"]
            .as_str()
            .unwrap()
            .ends_with("best_model.safetensors"),
        "{run}"
    );
}

#[test]
fn ssl_convirt_refuses_what_cannot_run() {
    let root = common::scratch("convirt_refusals");
    let data = root.join("pairs");
    synth_pairs(&data, 12, 2);
    // 12 pairs, 3 held out: 9 training pairs.
    let big = config(&data, "big.yaml", 16, 0.25, &[]);
    refused(&convirt(&big, &root.join("r1"), 1, &[]), "no whole batch");
    let thin = config(&data, "thin.yaml", 4, 0.1, &[]);
    refused(
        &convirt(&thin, &root.join("r2"), 1, &[]),
        "validation pairs",
    );
    // The reference's `pretrained=True` needs torchvision's file; nothing is downloaded.
    let imagenet = config(
        &data,
        "imagenet.yaml",
        3,
        0.25,
        &[("res_weights: random", "res_weights: imagenet")],
    );
    let empty = root.join("torch_home");
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ssl-convirt"))
        .arg("--config")
        .arg(&imagenet)
        .args(["--epochs", "1", "--logdir"])
        .arg(root.join("r3"))
        .env("TORCH_HOME", &empty)
        .output()
        .unwrap();
    refused(&out, "torch hub cache");
    // A finished run's folder is not reused; a resume on other pairs is refused.
    let cfg = config(&data, "c.yaml", 3, 0.25, &[]);
    let run = root.join("r4");
    ok(&convirt(&cfg, &run, 1, &[]));
    refused(&convirt(&cfg, &run, 1, &[]), "already holds a run");
    let report = data.join("reports/chest-0001.txt");
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::write(&report, format!("{text} The heart size is normal.")).unwrap();
    refused(&convirt(&cfg, &run, 2, &["--resume"]), "pairs) differ");
    // A key the reference does not have.
    let typo = config(
        &data,
        "typo.yaml",
        3,
        0.25,
        &[("seed: 0", "seed: 0\nlearning_rat: 0.1")],
    );
    refused(&convirt(&typo, &root.join("r5"), 1, &[]), "learning_rat");
}
