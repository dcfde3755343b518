//! `ssl-report convirt`: ConVIRT evaluations side by side (docs/CONVIRT.md, "Evaluation"), as the
//! paper compares its encoders: per encoder the zero-shot AUC, the linear probe's AUC (mean ± sd
//! over seeds) at each share of the labels, and retrieval; a second table gives the zero-shot AUC
//! per finding. `convirt.md` and `convirt.png` (linear probe AUC against the share of labels with
//! error bars, and zero-shot AUC per finding).

use std::path::{Path, PathBuf};

use super::bar_chart::{Series, draw_bars};
use super::convirt_records::{ConvirtEvaluation, ProbeOutcome};
use super::png::write_png;
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// One evaluation and the name its row takes.
#[derive(Debug, Clone)]
pub struct NamedEvaluation {
    pub name: String,
    pub file: PathBuf,
    pub evaluation: ConvirtEvaluation,
}

/// Reads `evaluation.json` files (or run folders holding one); rows are named by `names` when
/// given, else by the run folder (or, for `start`, the file's name).
pub fn read_evaluations(paths: &[PathBuf], names: &[String]) -> Result<Vec<NamedEvaluation>> {
    if !names.is_empty() && names.len() != paths.len() {
        return Err(Error::InvalidArgument(format!(
            "{} names for {} evaluations",
            names.len(),
            paths.len()
        )));
    }
    (paths.iter().enumerate())
        .map(|(i, p)| {
            let file = if p.is_dir() {
                p.join("evaluation.json")
            } else {
                p.clone()
            };
            let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
            let evaluation: ConvirtEvaluation = serde_json::from_str(&text).map_err(|e| {
                Error::bad_file(&file, format!("not an ssl-convirt --evaluate result: {e}"))
            })?;
            let stem = |f: &Path| f.file_stem().map(|s| s.to_string_lossy().into_owned());
            let name = names.get(i).cloned().unwrap_or_else(|| {
                if evaluation.encoder == "start" {
                    stem(&file).unwrap_or_else(|| "start".into())
                } else {
                    let model = Path::new(&evaluation.encoder);
                    (model.parent().and_then(|d| d.file_name()))
                        .map(|d| d.to_string_lossy().into_owned())
                        .unwrap_or_else(|| evaluation.encoder.clone())
                }
            });
            Ok(NamedEvaluation {
                name,
                file,
                evaluation,
            })
        })
        .collect()
}

fn auc(v: Option<f64>) -> String {
    v.map_or("–".into(), |a| format!("{a:.3}"))
}

/// The mean zero-shot AUC over the labels that have one.
fn zero_shot_mean(e: &ConvirtEvaluation) -> Option<f64> {
    let known: Vec<f64> = e.zero_shot.iter().filter_map(|z| z.auc).collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

/// The shares of labels any evaluation probed, in order.
fn fractions(runs: &[NamedEvaluation]) -> Vec<f64> {
    let mut all: Vec<f64> = (runs.iter())
        .flat_map(|r| r.evaluation.linear_probe.iter().map(|p| p.fraction))
        .collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    all
}

fn share(f: f64) -> String {
    format!("{} %", f * 100.0)
}

/// The Markdown report.
pub fn markdown(runs: &[NamedEvaluation]) -> String {
    let fr = fractions(runs);
    let mut md = String::from(
        "# ConVIRT evaluation\n\nROC AUC on the held-out pairs (mean over the findings). \
         **Linear probe**: logistic regressions on the frozen image features trained with a \
         share of the training pairs' labels, mean ± sd over the seeds that chose them. \
         **Zero-shot**: the image's similarity to the findings' prompts. **R@K**: image→text \
         retrieval.\n\n| encoder | test pairs | zero-shot |",
    );
    for f in &fr {
        md.push_str(&format!(" probe {} |", share(*f)));
    }
    md.push_str(" R@1 | R@5 | R@10 |\n|---|---|---|");
    md.push_str(&"---|".repeat(fr.len() + 3));
    md.push('\n');
    for r in runs {
        let e = &r.evaluation;
        md.push_str(&format!(
            "| {} | {} | {} |",
            r.name,
            e.test_pairs,
            auc(zero_shot_mean(e))
        ));
        for f in &fr {
            let cell =
                (e.linear_probe.iter().find(|p| p.fraction == *f)).map_or("–".into(), |p| {
                    format!(
                        "{} ± {} ({} pairs)",
                        auc(p.mean_auc),
                        auc(p.sd_auc),
                        p.labelled
                    )
                });
            md.push_str(&format!(" {cell} |"));
        }
        let recall = |k: usize| {
            (e.retrieval.ks.iter().position(|&x| x == k)).map_or("–".into(), |i| {
                format!("{:.3}", e.retrieval.image_to_text[i])
            })
        };
        md.push_str(&format!(
            " {} | {} | {} |\n",
            recall(1),
            recall(5),
            recall(10)
        ));
    }
    let labels: Vec<String> = (runs.iter())
        .flat_map(|r| r.evaluation.zero_shot.iter().map(|z| z.label.clone()))
        .fold(Vec::new(), |mut acc, l| {
            if !acc.contains(&l) {
                acc.push(l);
            }
            acc
        });
    if !labels.is_empty() {
        md.push_str("\n## Zero-shot AUC per finding\n\n| encoder |");
        for l in &labels {
            md.push_str(&format!(" {l} |"));
        }
        md.push_str("\n|---|");
        md.push_str(&"---|".repeat(labels.len()));
        md.push('\n');
        for r in runs {
            md.push_str(&format!("| {} |", r.name));
            for l in &labels {
                let a = (r.evaluation.zero_shot.iter().find(|z| &z.label == l)).and_then(|z| z.auc);
                md.push_str(&format!(" {} |", auc(a)));
            }
            md.push('\n');
        }
    }
    md.push_str("\nEvaluations:\n\n");
    for r in runs {
        md.push_str(&format!(
            "- {}: `{}` ({} variant, encoder {})\n",
            r.name,
            r.file.display(),
            r.evaluation.variant,
            r.evaluation.encoder
        ));
    }
    md
}

fn plot(runs: &[NamedEvaluation], out: &Path) -> Result<()> {
    let fr = fractions(runs);
    let cats: Vec<String> = fr.iter().map(|f| share(*f)).collect();
    let probe: Vec<Series> = (runs.iter())
        .map(|r| {
            let at = |f: f64, g: fn(&ProbeOutcome) -> Option<f64>| {
                (r.evaluation.linear_probe.iter().find(|p| p.fraction == f))
                    .and_then(g)
                    .unwrap_or(f64::NAN)
            };
            Series {
                name: &r.name,
                values: fr.iter().map(|&f| at(f, |p| p.mean_auc)).collect(),
                errors: Some(fr.iter().map(|&f| at(f, |p| p.sd_auc)).collect()),
            }
        })
        .collect();
    let labels: Vec<String> = (runs.first())
        .map(|r| {
            r.evaluation
                .zero_shot
                .iter()
                .map(|z| z.label.clone())
                .collect()
        })
        .unwrap_or_default();
    let zero: Vec<Series> = (runs.iter())
        .map(|r| Series {
            name: &r.name,
            values: (labels.iter())
                .map(|l| {
                    (r.evaluation.zero_shot.iter().find(|z| &z.label == l))
                        .and_then(|z| z.auc)
                        .unwrap_or(f64::NAN)
                })
                .collect(),
            errors: None,
        })
        .collect();
    write_png(out, (1200, 480), "chart", |root| {
        let halves = root.split_evenly((1, 2));
        draw_bars(
            &halves[0],
            "Linear probe AUC by share of labels",
            &cats,
            &probe,
            "ROC AUC",
            1.0,
        )?;
        draw_bars(
            &halves[1],
            "Zero-shot AUC per finding",
            &labels,
            &zero,
            "ROC AUC",
            1.0,
        )
    })
}

/// Writes `convirt.md` and `convirt.png` into `out_dir`; returns the Markdown.
pub fn write_convirt_table(runs: &[NamedEvaluation], out_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let md = markdown(runs);
    write_atomic(&out_dir.join("convirt.md"), md.as_bytes())?;
    plot(runs, &out_dir.join("convirt.png"))?;
    Ok(md)
}
