//! ConVIRT's configuration and paired data: the reference's `config.yaml` read as it is (YAML, or
//! the same keys in JSON), unknown keys and impossible settings refused with their reason; the
//! pairs CSV read with reports inline or from files and every bad row named; the validation split
//! and the text view's sentence candidates exactly the reference's (tests/fixtures/
//! convirt_data.json, made by scripts/reference/gen_convirt_data.py with numpy).

use std::path::Path;

use serde_json::Value;
use ssl3d::data::report_pairs::{PairsSource, read_pairs, reference_split, sentences};
use ssl3d::train::convirt_config::ConvirtConfig;

use crate::common;

/// The reference implementation's config.yaml, as its repository has it (paths shortened).
const REFERENCE_YAML: &str = r#"batch_size: 32
epochs: 1000
eval_every_n_epochs: 5
fine_tune_from: Jan16_02-27-36_edu-GPU-Linux
log_every_n_steps: 2
learning_rate: 1e-4
weight_decay: 1e-6
fp16_precision: True
truncation: True

model:
  out_dim: 512
  res_base_model: "resnet50"
  bert_base_model: 'emilyalsentzer/Bio_ClinicalBERT'
  freeze_layers: [0,1,2,3,4,5]
  do_lower_case: False
  
dataset:
  s: 1
  input_shape: (224,224,3)
  num_workers: 4
  valid_size: 0.1
  csv_file: 'pairs.csv'
  text_from_files: True # If 'True' the text input will be read from .txt files
  img_root_dir: '/your/root/images/directory'
  text_root_dir: '/your/root/text/directory'
  img_path_col: 0 # index for the image path column in the CSV dataframe.
  text_col: 5

loss:
  temperature: 0.1
  use_cosine_similarity: True
  alpha_weight: 0.75
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_reference_config_yaml_is_read_as_it_is_and_as_json() {
    let dir = common::scratch("convirt_config_yaml");
    let c = ConvirtConfig::load(&write(&dir, "config.yaml", REFERENCE_YAML)).unwrap();
    assert_eq!(
        (c.batch_size, c.epochs, c.eval_every_n_epochs),
        (32, 1000, 5)
    );
    assert_eq!((c.learning_rate, c.weight_decay), (1e-4, 1e-6));
    assert_eq!(
        c.fine_tune_from.as_deref(),
        Some("Jan16_02-27-36_edu-GPU-Linux")
    );
    assert_eq!(c.model.freeze_layers, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(c.model.bert_base_model, "emilyalsentzer/Bio_ClinicalBERT");
    assert!(!c.model.do_lower_case);
    assert_eq!(c.dataset.input_shape, [224, 224, 3]);
    assert_eq!((c.dataset.img_path_col, c.dataset.text_col), (0, 5));
    assert_eq!((c.loss.temperature, c.loss.alpha_weight), (0.1, 0.75));
    // The same settings as JSON, numbers as text where the reference evaluates them.
    let json = serde_json::json!({
        "learning_rate": "1e-4", "fine_tune_from": "Jan16_02-27-36_edu-GPU-Linux",
        "dataset": {"csv_file": "pairs.csv", "img_root_dir": "/your/root/images/directory",
                    "text_root_dir": "/your/root/text/directory", "input_shape": [224, 224, 3]}
    });
    let j = ConvirtConfig::load(&write(&dir, "config.json", &json.to_string())).unwrap();
    assert_eq!(j, c, "left-out keys take the reference file's values");
}

#[test]
fn unknown_keys_and_impossible_settings_are_refused_naming_the_file() {
    let dir = common::scratch("convirt_config_refused");
    let refused = |name: &str, text: &str, says: &str| {
        let path = write(&dir, name, text);
        let err = ConvirtConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(says), "{err}");
    };
    refused(
        "top.yaml",
        &format!("{REFERENCE_YAML}\nlearning_rat: 1\n"),
        "learning_rat",
    );
    // (file, the reference's text, replaced by, the reason named)
    for (name, from, to, says) in [
        ("typo.yaml", "alpha_weight", "alpha_wieght", "alpha_wieght"),
        (
            "batch.yaml",
            "batch_size: 32",
            "batch_size: 1",
            "batch_size 1",
        ),
        (
            "alpha.yaml",
            "alpha_weight: 0.75",
            "alpha_weight: 1.5",
            "alpha_weight",
        ),
        (
            "temp.yaml",
            "temperature: 0.1",
            "temperature: 0",
            "temperature",
        ),
        ("shape.yaml", "(224,224,3)", "(224,224,4)", "input_shape"),
        (
            "shape_text.yaml",
            "(224,224,3)",
            "(224,224)",
            "height,width,channels",
        ),
        (
            "lr.yaml",
            "learning_rate: 1e-4",
            "learning_rate: fast",
            "not a number",
        ),
        (
            "resnet.yaml",
            "\"resnet50\"",
            "\"resnet51\"",
            "res_base_model",
        ),
        (
            "valid.yaml",
            "valid_size: 0.1",
            "valid_size: 1.0",
            "valid_size",
        ),
        ("nocsv.yaml", "  csv_file: 'pairs.csv'\n", "", "csv_file"),
    ] {
        assert!(REFERENCE_YAML.contains(from), "{from}");
        refused(name, &REFERENCE_YAML.replace(from, to), says);
    }
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/convirt_data.json")).unwrap()
}

#[test]
fn the_validation_split_and_sentence_candidates_are_the_references() {
    let f = fixture();
    for s in f["splits"].as_array().unwrap() {
        let n = s["n"].as_u64().unwrap() as usize;
        let (train, valid) = reference_split(n, s["valid_size"].as_f64().unwrap());
        assert_eq!(train, common::usizes(&s["train"]), "n {n}: train");
        assert_eq!(valid, common::usizes(&s["valid"]), "n {n}: valid");
    }
    for s in f["sentences"].as_array().unwrap() {
        let want: Vec<String> = serde_json::from_value(s["sentences"].clone()).unwrap();
        assert_eq!(sentences(s["report"].as_str().unwrap()), want);
    }
}

#[test]
fn pairs_are_read_inline_or_from_files_and_bad_rows_are_named() {
    let dir = common::scratch("convirt_pairs");
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::create_dir_all(dir.join("txt")).unwrap();
    for i in 0..3 {
        std::fs::write(dir.join(format!("img/{i}.png")), b"not read here").unwrap();
        std::fs::write(
            dir.join(format!("txt/{i}.txt")),
            format!("Finding {i}.\nMore."),
        )
        .unwrap();
    }
    let inline = write(
        &dir,
        "inline.csv",
        "path,id,report\n0.png,a,\"Heart normal. Lungs clear.\"\n1.png,b,No effusion.\n",
    );
    let img_root = dir.join("img");
    let txt_root = dir.join("txt");
    fn src<'a>(
        csv: &'a Path,
        img: &'a Path,
        txt: &'a Path,
        col: usize,
        files: bool,
    ) -> PairsSource<'a> {
        PairsSource {
            csv_file: csv,
            img_root_dir: img,
            img_path_col: 0,
            text_col: col,
            text_from_files: files,
            text_root_dir: txt,
        }
    }
    let pairs = read_pairs(&src(&inline, &img_root, &txt_root, 2, false)).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].image, img_root.join("0.png"));
    assert_eq!(pairs[0].report, "Heart normal. Lungs clear.");
    let files = write(&dir, "files.csv", "img,txt\n2.png,2.txt\n0.png,0.txt\n");
    let pairs = read_pairs(&src(&files, &img_root, &txt_root, 1, true)).unwrap();
    assert_eq!(pairs[0].report, "Finding 2.\nMore.");
    let refused = |name: &str, csv: &str, col: usize, from_files: bool, says: &str| {
        let path = write(&dir, name, csv);
        let err = read_pairs(&src(&path, &img_root, &txt_root, col, from_files))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(says), "{err}");
    };
    refused(
        "missing_image.csv",
        "img,t\n0.png,ok.\n9.png,ok.\n",
        1,
        false,
        "line 3: image",
    );
    refused(
        "missing_text.csv",
        "img,t\n0.png,7.txt\n",
        1,
        true,
        "cannot read report",
    );
    refused("short_row.csv", "img,t,r\n0.png\n", 2, false, "no column 2");
    refused(
        "empty_report.csv",
        "img,t\n0.png,\" . \"\n",
        1,
        false,
        "has no text",
    );
    refused("header_only.csv", "img,t\n", 1, false, "no pairs");
}

#[test]
fn pair_items_are_seeded_views_and_sentences_and_batches_are_padded_tokens() {
    use ssl3d::data::BatchSource;
    use ssl3d::data::report_pair_dataset::{PairImages, ReportPairDataset, TextView};
    use ssl3d::text::ReportTokenizer;
    use ssl3d::transforms::radiograph::RadiographViews;
    use std::sync::Arc;

    let dir = common::scratch("convirt_pair_dataset");
    let vocab = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "heart", "lungs", "clear", "normal", "no", "effusion",
    ];
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    let tokenizer =
        Arc::new(ReportTokenizer::from_vocab(&dir.join("vocab.txt"), true, 512).unwrap());
    let mut pairs = Vec::new();
    for (i, report) in [
        "Heart normal. Lungs clear.",
        "No effusion. Heart normal. Lungs clear",
    ]
    .iter()
    .enumerate()
    {
        let img = image::RgbImage::from_fn(50 + 10 * i as u32, 40, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x + y) * 3) as u8])
        });
        let path = dir.join(format!("{i}.png"));
        img.save(&path).unwrap();
        pairs.push(ssl3d::data::report_pairs::ReportPair {
            image: path,
            report: report.to_string(),
        });
    }
    let views = RadiographViews::reference([32, 32, 3]);
    let ds = ReportPairDataset::new(pairs.clone(), views, tokenizer);
    let a = ds.get(1, 7, 0).unwrap();
    // ssl3d's whole-report view: the same image view, the report's words as one text.
    let whole = ReportPairDataset::new(
        pairs.clone(),
        RadiographViews::reference([32, 32, 3]),
        Arc::new(ReportTokenizer::from_vocab(&dir.join("vocab.txt"), true, 512).unwrap()),
    )
    .with_text_view(TextView::Report);
    assert_eq!(
        whole.get(1, 7, 0).unwrap(),
        (
            a.0.clone(),
            "No effusion. Heart normal. Lungs clear".to_string()
        )
    );
    assert_eq!(
        a,
        ds.get(1, 7, 0).unwrap(),
        "the same seed, epoch and item give the same item"
    );
    assert_eq!(a.0.len(), 3 * 32 * 32);
    let report_sentences = sentences(&pairs[1].report);
    assert!(
        report_sentences.contains(&a.1),
        "{:?} is one of the report's sentences",
        a.1
    );
    let epochs: Vec<_> = (0..8).map(|e| ds.get(1, 7, e).unwrap()).collect();
    assert!(
        epochs.iter().any(|b| b.0 != a.0),
        "views change with the epoch"
    );
    assert!(
        epochs.iter().any(|b| b.1 != a.1),
        "sentences change with the epoch"
    );
    let batch = ds.collate(vec![ds.get(0, 7, 0).unwrap(), a]).unwrap();
    let PairImages::Radiographs(images) = &batch.images else {
        panic!("radiograph views batch as images")
    };
    assert_eq!(images.shape(), &[2, 3, 32, 32]);
    let t = &batch.tokens;
    assert_eq!(t.batch, 2);
    assert_eq!(t.input_ids.len(), 2 * t.tokens);
    // [CLS] first; the shorter sentence padded with [PAD] (0) and masked.
    assert!(t.input_ids.chunks(t.tokens).all(|row| row[0] == 2));
    let lens: Vec<i64> = t
        .attention_mask
        .chunks(t.tokens)
        .map(|m| m.iter().sum())
        .collect();
    assert_eq!(*lens.iter().max().unwrap() as usize, t.tokens);
    // An image that cannot be read is named when drawn.
    let broken = dir.join("broken.png");
    std::fs::write(&broken, b"not an image").unwrap();
    let bad = ReportPairDataset::new(
        vec![ssl3d::data::report_pairs::ReportPair {
            image: broken,
            report: "Heart normal.".into(),
        }],
        RadiographViews::reference([32, 32, 3]),
        Arc::new(ReportTokenizer::from_vocab(&dir.join("vocab.txt"), true, 512).unwrap()),
    );
    let err = bad.get(0, 7, 0).unwrap_err().to_string();
    assert!(err.contains("broken.png"), "{err}");
}
