//! `ssl-data synth --reports`: a paired image–report corpus for ConVIRT that runs offline
//! (docs/CONVIRT.md, "Synthetic pairs"). For each synthetic chest: its frontal radiograph (a DRR
//! of the phantom) as a PNG, its CT volume, and a report of its actual findings; a pairs CSV in
//! the reference's layout with the finding labels beside it; a small BERT folder in Hugging
//! Face's layout (`config.json`, `vocab.txt` holding every word of the reports, seeded random
//! `model.safetensors`). (`train::convirt_config::write_corpus_config` adds the `config.yaml`
//! that trains on it.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use serde_json::json;

use super::radiograph::frontal_drr;
use super::reports::{Finding, FindingKind, chest_report};
use super::{Involvement, SynthSize, synthesize_chest_with_findings};
use crate::data::seeding::mix;
use crate::error::{Error, Result};
use crate::io::raster::write_png;
use crate::io::{write_atomic, write_volume};
use crate::networks::checkpoint::write_safetensors;
use crate::networks::nets::BertConfig;
use crate::networks::seeded_init::init_seeded;
use crate::networks::state_dict::{Arch, export_state_dict};

/// What `ssl-data synth --reports` writes.
#[derive(Debug, Clone)]
pub struct ReportCorpusOptions {
    /// The corpus folder (`images/`, `reports/`, `ct/`, `bert/`, `pairs.csv`, `config.yaml`).
    pub out_dir: PathBuf,
    pub seed: u64,
    pub size: SynthSize,
    pub count: usize,
    /// Share of normal chests.
    pub normal_share: f64,
    /// How large the other chests' lesions are.
    pub involvement: Involvement,
}

/// Paths of what was written.
#[derive(Debug, Clone)]
pub struct ReportCorpus {
    /// The corpus folder, absolute.
    pub dir: PathBuf,
    pub pairs_csv: PathBuf,
    pub bert_dir: PathBuf,
    pub pairs: usize,
    pub normal: usize,
    /// The reports, in pair order.
    pub reports: Vec<String>,
}

/// The BERT the corpus trains from scratch: two layers of width 64, positions for whole reports.
fn tiny_bert(vocab_size: usize) -> BertConfig {
    BertConfig {
        vocab_size,
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 128,
        max_position_embeddings: 256,
        ..BertConfig::default()
    }
}

/// BERT's basic pre-tokenisation, lower-cased: whitespace-separated, punctuation on its own.
fn basic_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut cur = String::new();
        for ch in word.chars().flat_map(char::to_lowercase) {
            if ch.is_ascii_punctuation() {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(ch.to_string());
            } else {
                cur.push(ch);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// A WordPiece vocabulary: BERT's special tokens, every character a report can hold (alone and
/// as a `##` continuation, so unseen numbers still tokenise), then every word of `reports`.
fn vocabulary(reports: &[String]) -> Vec<String> {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .map(String::from)
        .to_vec();
    let chars: Vec<char> = ('a'..='z')
        .chain('0'..='9')
        .chain(".,:;-()/%'".chars())
        .collect();
    vocab.extend(chars.iter().map(|c| c.to_string()));
    vocab.extend(chars.iter().map(|c| format!("##{c}")));
    let known: BTreeSet<String> = vocab.iter().cloned().collect();
    let words: BTreeSet<String> = reports.iter().flat_map(|r| basic_words(r)).collect();
    vocab.extend(words.into_iter().filter(|w| !known.contains(w)));
    vocab
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_atomic(path, text.as_bytes())
}

/// One chest of the corpus.
struct Chest {
    report: String,
    findings: Vec<Finding>,
}

/// Writes the corpus. Calls `progress` after each chest.
pub fn write_report_corpus(
    opts: &ReportCorpusOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ReportCorpus> {
    if opts.count < 2 {
        return Err(Error::InvalidArgument(
            "--count must be at least 2 image–report pairs".into(),
        ));
    }
    if !(0.0..=1.0).contains(&opts.normal_share) {
        return Err(Error::InvalidArgument(format!(
            "--normal-share {} must lie in [0, 1]",
            opts.normal_share
        )));
    }
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| Error::io(&opts.out_dir, e))?;
    let dir = opts
        .out_dir
        .canonicalize()
        .map_err(|e| Error::io(&opts.out_dir, e))?;
    let name = |n: usize| format!("chest-{n:04}");
    let chests = (1..=opts.count)
        .into_par_iter()
        .map(|n| {
            let (volume, findings) = synthesize_chest_with_findings(
                opts.size,
                opts.seed,
                n as u32,
                opts.normal_share,
                opts.involvement,
            );
            write_png(
                &dir.join(format!("images/{}.png", name(n))),
                &frontal_drr(&volume),
            )?;
            write_volume(
                &dir.join(format!("ct/{}.nii.gz", name(n))),
                &volume.hu,
                &volume.affine,
            )?;
            let mut rng = StdRng::seed_from_u64(mix(opts.seed ^ 0x5245_504f_5254 ^ n as u64));
            let report = chest_report(&findings, &mut rng);
            write_text(&dir.join(format!("reports/{}.txt", name(n))), &report)?;
            progress();
            Ok(Chest { report, findings })
        })
        .collect::<Result<Vec<Chest>>>()?;

    let mut csv = String::from("image,report,ct,normal,ground_glass,consolidation\n");
    for (i, c) in chests.iter().enumerate() {
        let has = |k: FindingKind| u8::from(c.findings.iter().any(|f| f.kind == k));
        csv.push_str(&format!(
            "images/{n}.png,reports/{n}.txt,ct/{n}.nii.gz,{},{},{}\n",
            u8::from(c.findings.is_empty()),
            has(FindingKind::GroundGlass),
            has(FindingKind::Consolidation),
            n = name(i + 1)
        ));
    }
    let pairs_csv = dir.join("pairs.csv");
    write_text(&pairs_csv, &csv)?;

    let reports: Vec<String> = chests.iter().map(|c| c.report.clone()).collect();
    let vocab = vocabulary(&reports);
    let bert_dir = dir.join("bert");
    write_text(&bert_dir.join("vocab.txt"), &(vocab.join("\n") + "\n"))?;
    let bert = tiny_bert(vocab.len());
    let mut hf = serde_json::to_value(&bert).expect("configs serialise");
    hf["model_type"] = json!("bert");
    hf["architectures"] = json!(["BertModel"]);
    write_text(
        &bert_dir.join("config.json"),
        &serde_json::to_string_pretty(&hf).expect("json"),
    )?;
    let model = init_seeded::<Flex, _>(&bert, mix(opts.seed ^ 0x4245_5254), &Default::default())?;
    write_safetensors(
        &bert_dir.join("model.safetensors"),
        &export_state_dict(&model, Arch::Bert)?,
    )?;

    Ok(ReportCorpus {
        dir,
        pairs_csv,
        bert_dir,
        pairs: chests.len(),
        normal: chests.iter().filter(|c| c.findings.is_empty()).count(),
        reports,
    })
}
