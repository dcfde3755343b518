//! ConVIRT's evaluation: ROC AUC as scikit-learn's (tests/fixtures/roc_auc.json,
//! scripts/reference/gen_roc_auc.py), the linear probe on features that do and do not carry a
//! label, the finding labels read from the pairs CSV, and `ssl-convirt --evaluate` end to end on
//! the synthetic corpus (a run's model and the starting model).

use std::path::Path;

use burn::backend::{Autodiff, Flex};
use ndarray::Array2;
use serde_json::Value;
use ssl3d::data::report_labels::{binary_columns, read_finding_labels};
use ssl3d::metrics::roc_auc::roc_auc;
use ssl3d::train::linear_probe::{ProbeSettings, linear_probe};

use crate::common;
use crate::convirt_run::{convirt, ok, synth_pairs};

#[test]
fn roc_auc_matches_scikit_learn() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/roc_auc.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in f["cases"].as_array().unwrap() {
        let scores: Vec<f64> = serde_json::from_value(case["scores"].clone()).unwrap();
        let labels: Vec<bool> = serde_json::from_value(case["labels"].clone()).unwrap();
        let want = case["auc"].as_f64().unwrap();
        let got = roc_auc(&scores, &labels).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs scikit-learn's {want}");
    }
    assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None, "one class only");
}

#[test]
fn the_linear_probe_reads_what_the_features_carry() {
    // 80 rows of 6 features; label 0 is feature 2's sign, label 1 is unrelated to the features.
    let x = Array2::from_shape_fn((80, 6), |(i, j)| {
        (((i * 7 + j * 13) % 17) as f32 - 8.0) * 0.3 + (i as f32 * 0.9 + j as f32).sin()
    });
    let y: Vec<Vec<bool>> = (0..80)
        .map(|i| vec![x[[i, 2]] > 0.0, (i * 5) % 3 == 0])
        .collect();
    let (train, test) = (
        x.slice(ndarray::s![..50, ..]),
        x.slice(ndarray::s![50.., ..]),
    );
    let scores = linear_probe::<Autodiff<Flex>>(
        &train.to_owned(),
        &y[..50],
        &test.to_owned(),
        ProbeSettings::default(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(scores.dim(), (30, 2));
    let auc = |k: usize| {
        let s: Vec<f64> = scores.column(k).iter().map(|&v| v as f64).collect();
        let l: Vec<bool> = y[50..].iter().map(|r| r[k]).collect();
        roc_auc(&s, &l).unwrap()
    };
    assert!(auc(0) > 0.95, "a label the features carry: AUC {}", auc(0));
    assert!(
        (0.2..0.8).contains(&auc(1)),
        "a label they do not: AUC {}",
        auc(1)
    );
    let empty = linear_probe::<Autodiff<Flex>>(
        &Array2::zeros((0, 6)),
        &[],
        &test.to_owned(),
        ProbeSettings::default(),
        &Default::default(),
    );
    assert!(empty.is_err(), "no labelled rows is refused");
}

#[test]
fn finding_labels_are_read_by_name_and_checked() {
    let dir = common::scratch("convirt_labels");
    let csv = dir.join("pairs.csv");
    std::fs::write(&csv, "image,report,a,b,c\nx.png,r,1,0,2\ny.png,r,0.0,1,1\n").unwrap();
    assert_eq!(binary_columns(&csv).unwrap(), ["a", "b"]);
    let labels = read_finding_labels(&csv, &["b".into(), "a".into()]).unwrap();
    assert_eq!(labels.values, [[false, true], [true, false]]);
    let err = read_finding_labels(&csv, &["c".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2: label c is \"2\""), "{err}");
    let err = read_finding_labels(&csv, &["d".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no label column \"d\""), "{err}");
}

pub(crate) fn evaluation(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn ssl_convirt_evaluates_a_run_and_its_start() {
    let root = common::scratch("convirt_evaluate");
    let data = root.join("pairs");
    synth_pairs(&data, 32, 3);
    let cfg = data.join("config-ct.yaml");
    let run = root.join("run");
    ok(&convirt(&cfg, &run, 1, &[]));

    // 32 pairs, 8 held out (one batch of 8): 24 training pairs.
    ok(&convirt(
        &cfg,
        &root.join("unused"),
        1,
        &["--evaluate", &run.display().to_string()],
    ));
    let e = evaluation(&run.join("evaluation.json"));
    assert_eq!(e["variant"], "ct");
    assert_eq!(
        e["labels"],
        serde_json::json!(["normal", "ground_glass", "consolidation"])
    );
    assert_eq!(
        (e["train_pairs"].as_u64(), e["test_pairs"].as_u64()),
        (Some(24), Some(8))
    );
    assert_eq!(e["zero_shot"].as_array().unwrap().len(), 3);
    let probes = e["linear_probe"].as_array().unwrap();
    let labelled: Vec<u64> = probes
        .iter()
        .map(|p| p["labelled"].as_u64().unwrap())
        .collect();
    assert_eq!(labelled, [2, 3, 24], "ceil(share × 24), at least 2");
    for p in probes {
        assert_eq!(p["mean_auc_per_seed"].as_array().unwrap().len(), 3);
    }
    let in_unit = |v: &Value| v.is_null() || (0.0..=1.0).contains(&v.as_f64().unwrap());
    for z in e["zero_shot"].as_array().unwrap() {
        assert!(in_unit(&z["auc"]), "{z}");
    }
    assert_eq!(e["retrieval"]["pairs"], 8);

    // The starting model, to an explicit file, with one label, one share and one seed.
    let out = root.join("start.json");
    let out_arg = out.display().to_string();
    let args = [
        "--evaluate",
        "start",
        "--labels",
        "normal",
        "--fractions",
        "1",
        "--seeds",
        "1",
        "--out",
        &out_arg,
    ];
    ok(&convirt(&cfg, &root.join("unused"), 1, &args));
    let s = evaluation(&out);
    assert_eq!(s["encoder"], "start");
    assert_eq!(s["labels"], serde_json::json!(["normal"]));
    assert_eq!(s["linear_probe"][0]["labelled"], 24);

    // ssl-report convirt puts them side by side.
    let table = root.join("table");
    let report = |names: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ssl-report"))
            .arg("convirt")
            .arg(&run)
            .arg(&out)
            .args(["--names", names, "--out"])
            .arg(&table)
            .output()
            .unwrap()
    };
    let made = report("convirt,random");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let md = std::fs::read_to_string(table.join("convirt.md")).unwrap();
    for want in [
        "| convirt | 8 |",
        "| random | 8 |",
        "probe 1 %",
        "probe 100 %",
        "normal",
    ] {
        assert!(md.contains(want), "convirt.md lacks {want:?}:\n{md}");
    }
    assert!(table.join("convirt.png").is_file());
    let wrong = report("only-one");
    assert!(
        !wrong.status.success(),
        "one name for two evaluations is refused"
    );

    // A label the CSV lacks is named.
    let bad = convirt(
        &cfg,
        &root.join("unused"),
        1,
        &["--evaluate", "start", "--labels", "effusion"],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("no label column \"effusion\""), "{err}");
}
