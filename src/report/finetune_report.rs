//! What a fine-tuning run reports: each validation's numbers (tutorial-compatible and clean,
//! per organ), `finetune_plots.png`, and `report.json` / `report.md` at the end.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::bar_chart::{Series, draw_bars};
use super::loss_plots::{Panel, draw_line_panel};
use super::png::write_png;
use super::records::SegValRecord;
use super::validation::ValidationResult;
use crate::data::btcv::organ_abbreviations;
use crate::error::{Error, Result};
use crate::io::{write_atomic, write_json_atomic};
use crate::metrics::BestMetric;

/// `report.json`: everything the table command needs, and what a person asks of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneReport {
    /// The network trained: `unetr`, `dynunet`, `segresnet` or `swin_unetr` (reports from before
    /// the other networks are UNETR's).
    #[serde(default = "unetr")]
    pub network: String,
    /// `random` or `pretrained`.
    pub init: String,
    /// The run's seed (model initialisation, crops and augmentation); `None` in reports written
    /// before it was recorded (the run's `config.json` has it).
    #[serde(default)]
    pub seed: Option<u64>,
    pub pretrained: Option<String>,
    /// Backbone tensors loaded from the pretrained checkpoint.
    pub transferred_tensors: usize,
    pub datalist: String,
    pub train_volumes: usize,
    pub validation_volumes: usize,
    pub steps: u64,
    pub best_metric: BestMetric,
    pub best_iteration: Option<u64>,
    /// The validation that gave the best checkpoint, and the last one.
    pub best: Option<ValidationResult>,
    pub last: Option<ValidationResult>,
    pub organs: Vec<String>,
    pub wall_s: f64,
    pub data_wait_share: f64,
    pub validation_s: f64,
    pub device: String,
}

impl FinetuneReport {
    /// Writes `report.json` and `report.md` into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json_atomic(self, &dir.join("report.json"))?;
        write_atomic(&dir.join("report.md"), self.markdown().as_bytes())
    }

    /// Reads a run's `report.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not an ssl3d fine-tuning report: {e}")))
    }

    pub(crate) fn markdown(&self) -> String {
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:.4}")
            } else {
                "–".into()
            }
        };
        let mut s = format!(
            "# Fine-tuning report\n\n- network: **{}**\n- initialisation: **{}**{}\n- datalist: `{}` ({} training, {} validation volumes)\n- steps: {}; wall time {:.0} s on {}; waiting for data {:.1}% of training time; validation {:.0} s\n",
            self.network,
            self.init,
            self.pretrained.as_ref().map_or(String::new(), |p| format!(
                " from `{p}` ({} backbone tensors)",
                self.transferred_tensors
            )),
            self.datalist,
            self.train_volumes,
            self.validation_volumes,
            self.steps,
            self.wall_s,
            self.device,
            self.data_wait_share * 100.0,
            self.validation_s
        );
        for (name, v) in [("Best", &self.best), ("Last", &self.last)] {
            let Some(v) = v else {
                s.push_str(&format!("\n## {name} validation\n\nnone ran.\n"));
                continue;
            };
            s.push_str(&format!(
                "\n## {name} validation{}\n\n- Dice, tutorial's number (mean of running aggregates, background included): **{}**\n- Dice, mean over the 13 organs: **{}**\n\n| organ | Dice | HD95 (mm) |\n|---|---|---|\n",
                if name == "Best" {
                    format!(
                        " (iteration {}, by the {} metric)",
                        self.best_iteration.unwrap_or(0),
                        match self.best_metric {
                            BestMetric::Tutorial => "tutorial",
                            BestMetric::Foreground => "foreground",
                        }
                    )
                } else {
                    String::new()
                },
                f(v.tutorial_dice),
                f(v.foreground_dice)
            ));
            for (i, organ) in self.organs.iter().enumerate() {
                s.push_str(&format!(
                    "| {organ} | {} | {} |\n",
                    f(v.per_organ_dice.get(i).copied().unwrap_or(f64::NAN)),
                    f(v.per_organ_hd95.get(i).copied().unwrap_or(f64::NAN))
                ));
            }
        }
        s
    }
}

/// `finetune_plots.png`: the tutorial's two panels ("Iteration Average Loss", "Val Mean Dice"
/// against the iteration) and, below, the last validation's Dice per organ.
pub(crate) fn write_finetune_plots(
    out: &Path,
    vals: &[&SegValRecord],
    num_classes: usize,
) -> Result<()> {
    let points = |value: fn(&SegValRecord) -> f64| -> Vec<(f64, f64)> {
        vals.iter()
            .map(|r| (r.iteration as f64, value(r)))
            .filter(|(_, y)| y.is_finite())
            .collect()
    };
    let per_organ = vals
        .last()
        .map(|r| r.result.per_organ_dice.clone())
        .unwrap_or_default();
    write_png(out, (1200, 900), "plot", |root| {
        let (top, bottom) = root.split_vertically(450);
        let halves = top.split_evenly((1, 2));
        draw_line_panel(
            &halves[0],
            &Panel {
                title: "Iteration Average Loss",
                x_label: "Iteration",
                points: points(|r| r.train_loss),
            },
        )?;
        draw_line_panel(
            &halves[1],
            &Panel {
                title: "Val Mean Dice",
                x_label: "Iteration",
                points: points(|r| r.dice_tutorial),
            },
        )?;
        draw_bars(
            &bottom,
            "Dice per organ, last validation",
            &organ_abbreviations(num_classes),
            &[Series {
                name: "Dice",
                values: per_organ,
                errors: None,
            }],
            "Dice",
            1.0,
        )?;
        Ok(())
    })
}

/// The network of a report or summary written before the CNN networks existed.
pub(super) fn unetr() -> String {
    "unetr".into()
}
