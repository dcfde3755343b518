//! `scripts/ssl_study.sh` end to end, tiny: synthetic CT, one pretraining, two seeds of random
//! init and pretrained fine-tuning on one split, and `ssl-report study` over them (cells, paired
//! differences with intervals, figures). A second invocation finishes a stopped run from its
//! checkpoint and keeps the finished ones.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use ssl3d::report::study::Study;

/// Where cargo put the test build's binaries (the script runs them instead of building).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ssl-finetune"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn study(settings: &Path, work: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ssl_study.sh"))
        .arg(settings)
        .arg(work)
        .env("SSL3D_BIN", bin_dir());
    c
}

/// stdout and stderr of a command that must have succeeded.
fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

/// A tiny study's settings in `dir/study.env`: synthetic CT from `synth_seed`, the demo's configs
/// on one 2-volume split, `seeds` and `networks`, and the extra `--set`s.
fn settings(dir: &Path, synth_seed: u32, seeds: &str, networks: &str, sets: [&str; 2]) -> PathBuf {
    let path = dir.join("study.env");
    let [pretrain, finetune] = sets;
    std::fs::write(
        &path,
        format!(
            "SYNTH=1\nSYNTH_SIZE=tiny\nSYNTH_CHEST=3\nSYNTH_LABELLED=2\nSYNTH_VALIDATION=1\n\
             SYNTH_SEED={synth_seed}\nPRETRAIN_CONFIG=configs/pretrain_demo.json\n\
             PRETRAIN_JSON='$WORK/json/tcia/dataset_split.json'\nPRETRAIN_DATA='$WORK/data/tcia'\n\
             FINETUNE_CONFIG=configs/finetune_demo.json\nFINETUNE_DATA='$WORK/data/btcv'\n\
             SPLITS='2:$WORK/json/btcv/dataset_0_init_2.json'\nSEEDS='{seeds}'\n\
             NETWORKS='{networks}'\nPRETRAIN_SET='{pretrain}'\nFINETUNE_SET='{finetune}'\n"
        ),
    )
    .unwrap();
    path
}

fn report_step(run: &Path) -> u64 {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    v["steps"].as_u64().unwrap()
}

#[test]
fn the_study_script_pairs_seeds_reports_intervals_and_picks_up_where_it_stopped() {
    let dir = common::scratch("study");
    let work = dir.join("work");
    let sets = [
        "max_epochs=2 checkpoint_every=2",
        "max_iterations=12 eval_num=5 checkpoint_every=6",
    ];
    let settings = settings(&dir, 5, "3 4", "unetr", sets);
    let out = run(study(&settings, &work));
    assert!(out.contains("Paired difference"), "{out}");

    let runs = work.join("finetune");
    let names: Vec<String> = ["random", "pretrained"]
        .iter()
        .flat_map(|init| [3, 4].map(|s| format!("unetr_2vols_{init}_seed{s}")))
        .collect();
    for n in &names {
        assert_eq!(report_step(&runs.join(n)), 12, "{n}");
    }
    let text = std::fs::read_to_string(work.join("report/study.json")).unwrap();
    let s: Study = serde_json::from_str(&text).unwrap();
    assert_eq!(s.cells.len(), 2);
    for c in &s.cells {
        assert_eq!(c.seeds, [3, 4]);
        assert_eq!(c.key.train_volumes, 2);
        // Validations at iterations 5 and 10, in every run of the cell.
        let its: Vec<u64> = c.curve.iter().map(|p| p.iteration).collect();
        assert_eq!(its, [5, 10]);
        let fg = c.foreground_dice.as_ref().unwrap();
        assert_eq!(fg.n, 2);
        assert!(fg.ci95.is_some());
    }
    let d = &s.differences[0];
    assert_eq!((d.seeds.clone(), d.train_volumes), (vec![3, 4], 2));
    // The paired difference is the mean of per-seed differences of the runs' own reports.
    let best = |n: &str| -> f64 {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(runs.join(n).join("report.json")).unwrap(),
        )
        .unwrap();
        v["best"]["foreground_dice"].as_f64().unwrap()
    };
    let expected = ((best("unetr_2vols_pretrained_seed3") - best("unetr_2vols_random_seed3"))
        + (best("unetr_2vols_pretrained_seed4") - best("unetr_2vols_random_seed4")))
        / 2.0;
    let got = d.foreground_dice.as_ref().unwrap().mean;
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    for f in ["study.md", "learning_curves.png", "dice_vs_volumes.png"] {
        assert!(
            work.join("report").join(f).metadata().unwrap().len() > 500,
            "{f}"
        );
    }

    // A stopped run: its report gone, its checkpoints kept. The next invocation resumes it and
    // leaves the finished runs alone.
    let stopped = runs.join(&names[1]);
    std::fs::remove_file(stopped.join("report.json")).unwrap();
    let kept = std::fs::read(runs.join(&names[0]).join("report.json")).unwrap();
    let out = run(study(&settings, &work));
    assert!(out.contains("(resume)"), "{out}");
    assert!(!out.contains("(fresh)"), "{out}");
    assert_eq!(report_step(&stopped), 12);
    assert_eq!(
        std::fs::read(runs.join(&names[0]).join("report.json")).unwrap(),
        kept
    );
}

/// A CNN arm: the script pretrains the CNN by restoration (its own run folder) and fine-tunes it
/// from random init and from that pretraining, paired by seed like UNETR's.
#[test]
fn the_study_script_pretrains_and_pairs_a_cnn_arm() {
    let dir = common::scratch("study_cnn");
    let work = dir.join("work");
    let small = r#"segresnet={"init_filters":8,"norm_groups":4}"#;
    let sets = [
        &format!("max_epochs=1 {small}")[..],
        &format!("max_iterations=4 eval_num=2 {small}"),
    ];
    let settings = settings(&dir, 6, "3", "segresnet", sets);
    let out = run(study(&settings, &work));
    assert!(out.contains("Paired difference"), "{out}");
    assert!(!work.join("pretrain").exists(), "no ViT pretraining");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("pretrain_segresnet/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["network"], "segresnet");
    let pretrained = work.join("finetune/segresnet_2vols_pretrained_seed3");
    assert_eq!(report_step(&pretrained), 4);
    let transfer: Value = serde_json::from_str(
        &std::fs::read_to_string(pretrained.join("transfer_report.json")).unwrap(),
    )
    .unwrap();
    assert!(!transfer["loaded"].as_array().unwrap().is_empty());
    let s: Study =
        serde_json::from_str(&std::fs::read_to_string(work.join("report/study.json")).unwrap())
            .unwrap();
    assert_eq!(s.differences.len(), 1);
}
