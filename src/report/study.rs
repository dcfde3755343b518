//! A multi-seed study of fine-tuning runs: per cell (network × labelled volumes × init) the mean
//! and spread over seeds, the paired difference pretrained − random (same network, datalist and
//! seed) with its 95 % interval, overall and per organ, learning curves with their band, and Dice
//! against the number of labelled volumes. `study.md`, `study.json` and two PNGs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::finetune_report::FinetuneReport;
use super::records::{FinetuneRecord, read_log, validations};
use super::study_stats::Summary;
use crate::error::{Error, Result};

/// One fine-tuning run of the study: its report, seed and 13-organ Dice at each validation.
pub struct StudyRun {
    pub dir: PathBuf,
    pub report: FinetuneReport,
    pub seed: u64,
    /// (iteration, 13-organ Dice) at each validation.
    pub curve: Vec<(u64, f64)>,
}

/// Which runs are alike but for their seed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    pub network: String,
    pub train_volumes: usize,
    pub init: String,
}

/// The runs of one cell, summarised over seeds (Dice as fractions).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyCell {
    pub key: CellKey,
    pub seeds: Vec<u64>,
    /// Best validation, 13-organ Dice and the tutorial's Dice.
    pub foreground_dice: Option<Summary>,
    pub tutorial_dice: Option<Summary>,
    /// Per organ (best validation); `None` where no run of the cell has a number.
    pub per_organ_dice: Vec<Option<Summary>>,
    /// Mean and sd of the 13-organ Dice at each iteration every run of the cell validated at.
    pub curve: Vec<CurvePoint>,
}

/// A point of a cell's learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub iteration: u64,
    pub mean: f64,
    pub sd: f64,
}

/// Pretrained − random for one network and training set, paired by seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairedDifference {
    pub network: String,
    pub train_volumes: usize,
    pub seeds: Vec<u64>,
    pub foreground_dice: Option<Summary>,
    pub tutorial_dice: Option<Summary>,
    pub per_organ_dice: Vec<Option<Summary>>,
}

/// `study.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Study {
    pub organs: Vec<String>,
    pub cells: Vec<StudyCell>,
    pub differences: Vec<PairedDifference>,
}

/// Reads each run folder's `report.json`, seed and validation log.
pub fn read_study_runs(dirs: &[PathBuf]) -> Result<Vec<StudyRun>> {
    dirs.iter().map(|d| read_study_run(d)).collect()
}

fn read_study_run(dir: &Path) -> Result<StudyRun> {
    let file = dir.join("report.json");
    let report = FinetuneReport::read(&file)?;
    if report.best.is_none() {
        return Err(Error::bad_file(
            &file,
            "this run has no validation yet (it ran fewer steps than eval_num)",
        ));
    }
    let seed = match report.seed {
        Some(s) => s,
        None => seed_from_config(&dir.join("config.json"))?,
    };
    let records: Vec<FinetuneRecord> = read_log(&dir.join("metrics.jsonl"))?;
    let curve = validations(&records)
        .into_iter()
        .map(|v| (v.iteration, v.dice_foreground))
        .collect();
    Ok(StudyRun {
        dir: dir.to_path_buf(),
        report,
        seed,
        curve,
    })
}

/// The seed of a run whose report predates recording it.
fn seed_from_config(path: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::bad_file(path, e.to_string()))?;
    v.get("seed")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| Error::bad_file(path, "no integer `seed` in this run's config"))
}

fn key_of(r: &StudyRun) -> CellKey {
    CellKey {
        network: r.report.network.clone(),
        train_volumes: r.report.train_volumes,
        init: r.report.init.clone(),
    }
}

fn best(r: &StudyRun) -> &super::ValidationResult {
    r.report
        .best
        .as_ref()
        .expect("read_study_run keeps runs with a best validation")
}

/// Each organ's best-validation Dice summarised over `runs`.
fn per_organ(runs: &[&StudyRun], n_organs: usize) -> Vec<Option<Summary>> {
    (0..n_organs)
        .map(|o| Summary::of(&runs.iter().map(|r| organ_dice(r, o)).collect::<Vec<_>>()))
        .collect()
}

fn organ_dice(r: &StudyRun, o: usize) -> f64 {
    best(r).per_organ_dice.get(o).copied().unwrap_or(f64::NAN)
}

/// Mean and sd over runs at each iteration all of them validated at.
fn mean_curve(runs: &[&StudyRun]) -> Vec<CurvePoint> {
    let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for &(it, d) in &r.curve {
            at.entry(it).or_default().push(d);
        }
    }
    at.into_iter()
        .filter(|(_, v)| v.len() == runs.len())
        .filter_map(|(iteration, v)| {
            Summary::of(&v).map(|s| CurvePoint {
                iteration,
                mean: s.mean,
                sd: s.sd.unwrap_or(0.0),
            })
        })
        .collect()
}

/// Groups the runs into cells and pairs pretrained with random runs of the same network,
/// datalist and seed. Two runs in one cell with one seed, or runs of other organ sets, are
/// errors naming them.
pub fn study(runs: &[StudyRun]) -> Result<Study> {
    let Some(first) = runs.first() else {
        return Err(Error::InvalidArgument(
            "a study needs at least one run".into(),
        ));
    };
    let organs = first.report.organs.clone();
    let mut by_cell: BTreeMap<CellKey, BTreeMap<u64, &StudyRun>> = BTreeMap::new();
    for r in runs {
        if r.report.organs != organs {
            return Err(Error::InvalidArgument(format!(
                "{} has other organs than {}: a study compares runs on one label set",
                r.dir.display(),
                first.dir.display()
            )));
        }
        let key = key_of(r);
        if let Some(prev) = by_cell.entry(key.clone()).or_default().insert(r.seed, r) {
            return Err(Error::InvalidArgument(format!(
                "two {} runs with {} training volumes, {} init and seed {}: {} and {}; pass one",
                key.network,
                key.train_volumes,
                key.init,
                r.seed,
                prev.dir.display(),
                r.dir.display()
            )));
        }
    }
    let n_organs = organs.len();
    let mut cells: Vec<StudyCell> = by_cell
        .iter()
        .map(|(key, seeds)| {
            let rs: Vec<&StudyRun> = seeds.values().copied().collect();
            let fg: Vec<f64> = rs.iter().map(|r| best(r).foreground_dice).collect();
            let tut: Vec<f64> = rs.iter().map(|r| best(r).tutorial_dice).collect();
            StudyCell {
                key: key.clone(),
                seeds: seeds.keys().copied().collect(),
                foreground_dice: Summary::of(&fg),
                tutorial_dice: Summary::of(&tut),
                per_organ_dice: per_organ(&rs, n_organs),
                curve: mean_curve(&rs),
            }
        })
        .collect();
    // Random init before pretrained, as the tutorial's table reads.
    cells.sort_by_key(|c| {
        (
            c.key.network.clone(),
            c.key.train_volumes,
            c.key.init != "random",
            c.key.init.clone(),
        )
    });
    let differences = paired_differences(&by_cell, n_organs)?;
    Ok(Study {
        organs,
        cells,
        differences,
    })
}

/// Two datalists are one split when they are the same file or files with the same bytes (a second
/// study arm's copy of the first arm's generated datalists).
fn same_split(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (std::fs::read(a), std::fs::read(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn paired_differences(
    by_cell: &BTreeMap<CellKey, BTreeMap<u64, &StudyRun>>,
    n_organs: usize,
) -> Result<Vec<PairedDifference>> {
    let mut out = Vec::new();
    for (key, randoms) in by_cell.iter().filter(|(k, _)| k.init == "random") {
        let pre_key = CellKey {
            init: "pretrained".into(),
            ..key.clone()
        };
        let Some(pretrained) = by_cell.get(&pre_key) else {
            continue;
        };
        let pairs: Vec<(&StudyRun, &StudyRun)> = randoms
            .iter()
            .filter_map(|(seed, r)| pretrained.get(seed).map(|p| (*r, *p)))
            .collect();
        for (r, p) in &pairs {
            if !same_split(&r.report.datalist, &p.report.datalist) {
                return Err(Error::InvalidArgument(format!(
                    "{} and {} pair by seed {} but were trained on other datalists ({} and {}): \
                     a paired difference needs one split",
                    r.dir.display(),
                    p.dir.display(),
                    r.seed,
                    r.report.datalist,
                    p.report.datalist
                )));
            }
        }
        if pairs.is_empty() {
            continue;
        }
        let diff = |f: &dyn Fn(&StudyRun) -> f64| -> Vec<f64> {
            pairs.iter().map(|(r, p)| f(p) - f(r)).collect()
        };
        let fg = diff(&|r| best(r).foreground_dice);
        let tut = diff(&|r| best(r).tutorial_dice);
        out.push(PairedDifference {
            network: key.network.clone(),
            train_volumes: key.train_volumes,
            seeds: pairs.iter().map(|(r, _)| r.seed).collect(),
            foreground_dice: Summary::of(&fg),
            tutorial_dice: Summary::of(&tut),
            per_organ_dice: (0..n_organs)
                .map(|o| Summary::of(&diff(&|r| organ_dice(r, o))))
                .collect(),
        });
    }
    Ok(out)
}

/// A summary in Markdown, or a dash where there is none.
fn opt(s: &Option<Summary>, f: impl Fn(&Summary) -> String) -> String {
    s.as_ref().map_or("–".into(), f)
}

/// `unetr, 6 vols`.
pub(crate) fn row_name(network: &str, volumes: usize) -> String {
    format!("{network}, {volumes} vols")
}

/// `study.md`: the cells, the paired differences and what they say, per-organ differences.
pub(crate) fn markdown(study: &Study) -> String {
    let mut s = String::from(
        "# Study: random init vs pretrained, over seeds\n\nBest validation Dice in %, mean ± sample sd over seeds. **13-organ Dice** is the mean organ\nDice without background; **tutorial Dice** is the tutorial's number (background included).\n\n| network | train vols | init | seeds | 13-organ Dice | tutorial Dice |\n|---|---|---|---|---|---|\n",
    );
    for c in &study.cells {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            c.key.network,
            c.key.train_volumes,
            c.key.init,
            c.seeds.len(),
            opt(&c.foreground_dice, Summary::mean_sd_pct),
            opt(&c.tutorial_dice, Summary::mean_sd_pct)
        ));
    }
    if study.differences.is_empty() {
        s.push_str(
            "\nNo paired differences: no pretrained run shares network, training volumes and seed \
             with a random-init run.\n",
        );
        return s;
    }
    s.push_str(
        "\n## Paired difference: pretrained − random (same network, datalist and seed)\n\nIn Dice points: mean [95 % Student-t interval of the mean].\n\n| network | train vols | pairs | 13-organ Dice | tutorial Dice | on the 13-organ Dice |\n|---|---|---|---|---|---|\n",
    );
    for d in &study.differences {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            d.network,
            d.train_volumes,
            d.seeds.len(),
            opt(&d.foreground_dice, Summary::difference_pct),
            opt(&d.tutorial_dice, Summary::difference_pct),
            d.foreground_dice
                .as_ref()
                .map_or("no numbers", Summary::verdict)
        ));
    }
    s.push_str(
        "\n## Per organ: pretrained − random (Dice points, mean [95 % interval])\n\n| organ |",
    );
    for d in &study.differences {
        s.push_str(&format!(" {} |", row_name(&d.network, d.train_volumes)));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(study.differences.len()));
    s.push('\n');
    for (o, organ) in study.organs.iter().enumerate() {
        s.push_str(&format!("| {organ} |"));
        for d in &study.differences {
            let cell = d.per_organ_dice.get(o).and_then(|x| x.as_ref());
            s.push_str(&format!(
                " {} |",
                opt(&cell.cloned(), Summary::difference_pct)
            ));
        }
        s.push('\n');
    }
    s.push_str("\n## Per organ: best validation Dice, mean over seeds (%)\n\n| cell |");
    for o in &study.organs {
        s.push_str(&format!(" {o} |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(study.organs.len()));
    s.push('\n');
    for c in &study.cells {
        s.push_str(&format!(
            "| {}, {} |",
            row_name(&c.key.network, c.key.train_volumes),
            c.key.init
        ));
        for x in &c.per_organ_dice {
            s.push_str(&format!(
                " {} |",
                x.as_ref()
                    .map_or("–".into(), |x| format!("{:.2}", x.mean * 100.0))
            ));
        }
        s.push('\n');
    }
    s
}
