//! The tutorial's results table from any set of fine-tuning runs: rows = network and training
//! volumes, columns = random init, pretrained, relative improvement `(pre − rand) / rand`, with the
//! tutorial's published numbers beside UNETR's rows, the clean 13-organ Dice, and per-organ Dice.
//! Markdown and a PNG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::bar_chart::{Series, draw_bars};
use super::finetune_report::FinetuneReport;
use super::png::write_png;
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// The tutorial README's table (Dice in %, background included): (training volumes, random,
/// pretrained).
const PUBLISHED: [(usize, f64, f64); 3] =
    [(6, 63.07, 70.09), (12, 76.06, 79.55), (24, 78.91, 82.30)];

/// One run in the table.
pub struct TableRun {
    pub dir: PathBuf,
    pub report: FinetuneReport,
}

/// Reads `report.json` of each run folder (or report file).
pub fn read_runs(paths: &[PathBuf]) -> Result<Vec<TableRun>> {
    paths
        .iter()
        .map(|p| {
            let file = if p.is_dir() {
                p.join("report.json")
            } else {
                p.clone()
            };
            let report = FinetuneReport::read(&file)?;
            if report.best.is_none() {
                return Err(Error::bad_file(
                    &file,
                    "this run has no validation yet (it ran fewer steps than eval_num)",
                ));
            }
            Ok(TableRun {
                dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
                report,
            })
        })
        .collect()
}

/// A table row: the network and the training volumes (UNETR first, as the tutorial's).
type Row = (String, usize);

fn row_of(r: &FinetuneReport) -> Row {
    (r.network.clone(), r.train_volumes)
}

/// Rows in order: UNETR's (the tutorial's), then the other networks by name; each by volumes.
fn rows(cells: &BTreeMap<(Row, String), &TableRun>) -> Vec<Row> {
    let mut rows: Vec<Row> = cells.keys().map(|k| k.0.clone()).collect();
    rows.sort_by_key(|(net, n)| (net != "unetr", net.clone(), *n));
    rows.dedup();
    rows
}

/// A row's label: `6` for UNETR's (the tutorial's rows), `dynunet, 6` for the others.
fn row_label((net, n): &Row) -> String {
    if net == "unetr" {
        n.to_string()
    } else {
        format!("{net}, {n}")
    }
}

/// Runs by (row, init); two runs in one cell are an error naming both.
fn cells(runs: &[TableRun]) -> Result<BTreeMap<(Row, String), &TableRun>> {
    let mut out: BTreeMap<(Row, String), &TableRun> = BTreeMap::new();
    for r in runs {
        let key = (row_of(&r.report), r.report.init.clone());
        if let Some(prev) = out.insert(key.clone(), r) {
            return Err(Error::InvalidArgument(format!(
                "two {} runs for {} training volumes with {} init: {} and {}; pass one of them",
                key.0.0,
                key.0.1,
                key.1,
                prev.dir.display(),
                r.dir.display()
            )));
        }
    }
    Ok(out)
}

fn pct(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or("–".into(), |x| format!("{:.2}", x * 100.0))
}

fn improvement(rand: Option<f64>, pre: Option<f64>) -> String {
    match (rand, pre) {
        (Some(r), Some(p)) if r.is_finite() && p.is_finite() && r > 0.0 => {
            format!("{:+.2} %", (p - r) / r * 100.0)
        }
        _ => "–".into(),
    }
}

/// Whether pretraining helped at one split, judged on the 13-organ Dice (fractions): under one
/// Dice point apart is called no clear difference rather than a win for either side.
fn verdict(row: &str, random: f64, pretrained: f64) -> String {
    let outcome = if (pretrained - random).abs() < NO_CLEAR_DIFFERENCE {
        "made **no clear difference**"
    } else if pretrained > random {
        "**helped**"
    } else {
        "**did not help**"
    };
    format!(
        "with {row} training volumes pretraining {outcome} (13-organ Dice {:.2} → {:.2})",
        random * 100.0,
        pretrained * 100.0
    )
}

/// Differences below one Dice point are not called a win.
const NO_CLEAR_DIFFERENCE: f64 = 0.01;

/// The Markdown table (and an honest sentence on what it shows).
pub(crate) fn markdown(runs: &[TableRun]) -> Result<String> {
    let cells = cells(runs)?;
    let rows = rows(&cells);
    let get = |row: &Row, init: &str, f: &dyn Fn(&FinetuneReport) -> f64| {
        cells
            .get(&(row.clone(), init.to_string()))
            .map(|r| f(&r.report))
    };
    let tut = |r: &FinetuneReport| r.best.as_ref().map_or(f64::NAN, |b| b.tutorial_dice);
    let fg = |r: &FinetuneReport| r.best.as_ref().map_or(f64::NAN, |b| b.foreground_dice);
    let mut s = String::from(
        "# Fine-tuning: random init vs pretrained\n\nBest validation Dice in %. **Tutorial Dice** is the tutorial's number (mean of running\naggregates over the validation volumes, background included); **13-organ Dice** is the mean organ\nDice without background. The published columns are the tutorial README's (real BTCV, full-size\nmodels, 30000 steps), beside UNETR's rows; rows of other networks start with their name.\n\n| train vols | random init | pretrained | relative improvement | 13-organ: random | 13-organ: pretrained | 13-organ: improvement | published: random | published: pretrained | published: improvement |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut verdicts = Vec::new();
    for row in &rows {
        let (r, p) = (get(row, "random", &tut), get(row, "pretrained", &tut));
        let (rf, pf) = (get(row, "random", &fg), get(row, "pretrained", &fg));
        let n = row.1;
        let published = PUBLISHED.iter().find(|x| x.0 == n && row.0 == "unetr");
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row_label(row),
            pct(r),
            pct(p),
            improvement(r, p),
            pct(rf),
            pct(pf),
            improvement(rf, pf),
            published.map_or("–".into(), |x| format!("{:.2}", x.1)),
            published.map_or("–".into(), |x| format!("{:.2}", x.2)),
            published.map_or("–".into(), |x| format!(
                "{:+.2} %",
                (x.2 - x.1) / x.1 * 100.0
            )),
        ));
        if let (Some(rf), Some(pf)) = (rf, pf) {
            verdicts.push(verdict(&row_label(row), rf, pf));
        }
    }
    if !verdicts.is_empty() {
        s.push_str(&format!(
            "\nOn these runs: {}. One run per cell: a difference of a few points can be the seed's \
             doing; rerun with other `--seed` values before drawing conclusions.\n",
            verdicts.join("; ")
        ));
    }
    // Per-organ Dice of every run.
    if let Some(first) = runs.first() {
        s.push_str("\n## Dice per organ (best validation, %)\n\n| run |");
        for o in &first.report.organs {
            s.push_str(&format!(" {o} |"));
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(first.report.organs.len()));
        s.push('\n');
        for ((row, init), r) in &cells {
            s.push_str(&format!("| {} vols, {init} |", row_label(row)));
            let per = r
                .report
                .best
                .as_ref()
                .map(|b| b.per_organ_dice.clone())
                .unwrap_or_default();
            for i in 0..first.report.organs.len() {
                s.push_str(&format!(" {} |", pct(per.get(i).copied())));
            }
            s.push('\n');
        }
        s.push_str("\nRuns:\n\n");
        for ((row, init), r) in &cells {
            s.push_str(&format!(
                "- {} vols, {init}: `{}` ({} steps, {:.0} s on {})\n",
                row_label(row),
                r.dir.display(),
                r.report.steps,
                r.report.wall_s,
                r.report.device
            ));
        }
    }
    Ok(s)
}

/// The bar chart: per row, random and pretrained (tutorial Dice and 13-organ Dice).
fn write_chart(runs: &[TableRun], out: &Path) -> Result<()> {
    let cells = cells(runs)?;
    let rows = rows(&cells);
    let cats: Vec<String> = rows
        .iter()
        .map(|r| format!("{} vols", row_label(r)))
        .collect();
    let values = |init: &str, f: &dyn Fn(&FinetuneReport) -> f64| -> Vec<f64> {
        rows.iter()
            .map(|row| {
                cells
                    .get(&(row.clone(), init.to_string()))
                    .map_or(f64::NAN, |r| f(&r.report) * 100.0)
            })
            .collect()
    };
    let tut = |r: &FinetuneReport| r.best.as_ref().map_or(f64::NAN, |b| b.tutorial_dice);
    let fg = |r: &FinetuneReport| r.best.as_ref().map_or(f64::NAN, |b| b.foreground_dice);
    write_png(out, (1200, 480), "chart", |root| {
        let halves = root.split_evenly((1, 2));
        draw_bars(
            &halves[0],
            "Tutorial Dice (background included)",
            &cats,
            &[
                Series {
                    name: "random init",
                    values: values("random", &tut),
                    errors: None,
                },
                Series {
                    name: "pretrained",
                    values: values("pretrained", &tut),
                    errors: None,
                },
            ],
            "Dice %",
            100.0,
        )?;
        draw_bars(
            &halves[1],
            "13-organ Dice",
            &cats,
            &[
                Series {
                    name: "random init",
                    values: values("random", &fg),
                    errors: None,
                },
                Series {
                    name: "pretrained",
                    values: values("pretrained", &fg),
                    errors: None,
                },
            ],
            "Dice %",
            100.0,
        )?;
        Ok(())
    })
}

/// Writes `table.md` and `table.png` into `out_dir`; returns the Markdown.
pub fn write_table(runs: &[TableRun], out_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let md = markdown(runs)?;
    write_atomic(&out_dir.join("table.md"), md.as_bytes())?;
    write_chart(runs, &out_dir.join("table.png"))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::verdict;

    #[test]
    fn the_verdict_says_when_pretraining_did_not_help() {
        assert!(verdict("6", 0.60, 0.70).contains("**helped**"));
        assert!(verdict("6", 0.70, 0.60).contains("**did not help**"));
        assert!(verdict("12", 0.700, 0.705).contains("no clear difference"));
        assert!(verdict("24", 0.0600, 0.0854).contains("(13-organ Dice 6.00 → 8.54)"));
    }
}
