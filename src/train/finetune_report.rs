//! What a fine-tuning run reports: each validation's numbers (tutorial-compatible and clean,
//! per organ), `finetune_plots.png`, and `report.json` / `report.md` at the end.

use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{BestMetric, FinetuneConfig};
use super::finetune::{FinetuneRun, FinetuneState, Init};
use crate::data::synthetic::anatomy::BTCV_CLASSES;
use crate::error::{Error, Result};
use crate::report::bar_chart::{Series, draw_bars};
use crate::report::font::ensure_font;
use crate::report::loss_plots::{Panel, draw_line_panel};

/// JSON has no NaN: absent values (an organ missing from a volume) are written as `null`.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    fn opt(v: f64) -> Option<f64> {
        v.is_finite().then_some(v)
    }

    pub mod scalar {
        use super::*;
        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            opt(*v).serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
        }
    }

    pub mod vec {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            v.iter().map(|x| opt(*x)).collect::<Vec<_>>().serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Ok(Vec::<Option<f64>>::deserialize(d)?
                .into_iter()
                .map(|x| x.unwrap_or(f64::NAN))
                .collect())
        }
    }

    pub mod rows {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
            v.iter()
                .map(|r| r.iter().map(|x| opt(*x)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
            Ok(Vec::<Vec<Option<f64>>>::deserialize(d)?
                .into_iter()
                .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
                .collect())
        }
    }
}

/// One validation over all validation volumes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationResult {
    /// The tutorial's "Val Mean Dice": mean of running aggregates, background included.
    #[serde(with = "nan_as_null::scalar")]
    pub tutorial_dice: f64,
    /// Mean over volumes of each volume's mean organ Dice (13 organs, absent organs ignored).
    #[serde(with = "nan_as_null::scalar")]
    pub foreground_dice: f64,
    /// Per organ (classes 1..), mean over the volumes that contain it.
    #[serde(with = "nan_as_null::vec")]
    pub per_organ_dice: Vec<f64>,
    /// Per organ HD95 in mm (empty when HD95 is off).
    #[serde(with = "nan_as_null::vec")]
    pub per_organ_hd95: Vec<f64>,
    /// The validation images, in order.
    pub cases: Vec<String>,
    /// Per volume, Dice of every class including background (MONAI's rows).
    #[serde(with = "nan_as_null::rows")]
    pub dice_rows: Vec<Vec<f64>>,
    /// Per volume, HD95 of every organ.
    #[serde(with = "nan_as_null::rows")]
    pub hd95_rows: Vec<Vec<f64>>,
}

/// `report.json`: everything the table command needs, and what a person asks of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneReport {
    /// `random` or `pretrained`.
    pub init: String,
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
    pub fn new(
        cfg: &FinetuneConfig,
        run: &FinetuneRun,
        init: &Init,
        state: &FinetuneState,
        best: Option<ValidationResult>,
        last: Option<ValidationResult>,
        train_volumes: usize,
    ) -> Self {
        let (init_name, pretrained, transferred) = match init {
            Init::Random => ("random".to_string(), None, 0),
            Init::Pretrained { path, report } => (
                "pretrained".to_string(),
                Some(path.display().to_string()),
                report.loaded.len(),
            ),
        };
        let busy = state.data_wait_s + state.compute_s;
        FinetuneReport {
            init: init_name,
            pretrained,
            transferred_tensors: transferred,
            datalist: run.datalist.display().to_string(),
            train_volumes,
            validation_volumes: run.validation.len(),
            steps: state.global_step,
            best_metric: cfg.best_metric,
            best_iteration: state.best_iteration,
            best,
            last,
            organs: organ_names(cfg.transforms.num_classes),
            wall_s: state.wall_s,
            data_wait_share: if busy > 0.0 {
                state.data_wait_s / busy
            } else {
                0.0
            },
            validation_s: state.validation_s,
            device: run.device_name.clone(),
        }
    }

    /// Writes `report.json` and `report.md` into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        super::config::write_effective(self, &dir.join("report.json"))?;
        let md = dir.join("report.md");
        let tmp = dir.join(".report.md.tmp");
        std::fs::write(&tmp, self.markdown()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &md).map_err(|e| Error::io(&md, e))
    }

    /// Reads a run's `report.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not an ssl3d fine-tuning report: {e}")))
    }

    pub fn markdown(&self) -> String {
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:.4}")
            } else {
                "–".into()
            }
        };
        let mut s = format!(
            "# Fine-tuning report\n\n- initialisation: **{}**{}\n- datalist: `{}` ({} training, {} validation volumes)\n- steps: {}; wall time {:.0} s on {}; waiting for data {:.1}% of training time; validation {:.0} s\n",
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

/// Organ names for classes 1..num_classes (BTCV's when there are 14 classes).
pub fn organ_names(num_classes: usize) -> Vec<String> {
    (1..num_classes)
        .map(|c| {
            if num_classes == BTCV_CLASSES.len() {
                BTCV_CLASSES[c].to_string()
            } else {
                format!("class {c}")
            }
        })
        .collect()
}

/// Short organ labels for chart axes.
pub fn organ_abbreviations(num_classes: usize) -> Vec<String> {
    const BTCV: [&str; 13] = [
        "spl", "rkid", "lkid", "gall", "eso", "liv", "sto", "aor", "ivc", "veins", "pan", "rad",
        "lad",
    ];
    (1..num_classes)
        .map(|c| {
            if num_classes == 14 {
                BTCV[c - 1].to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `finetune_plots.png`: the tutorial's two panels ("Iteration Average Loss", "Val Mean Dice"
/// against the iteration) and, below, the last validation's Dice per organ.
pub fn write_finetune_plots(out: &Path, records: &[Value], cfg: &FinetuneConfig) -> Result<()> {
    ensure_font();
    let vals: Vec<&Value> = records.iter().filter(|r| r["kind"] == "val").collect();
    let points = |field: &str| -> Vec<(f64, f64)> {
        vals.iter()
            .filter_map(|r| Some((r["iteration"].as_f64()?, r[field].as_f64()?)))
            .collect()
    };
    let per_organ: Vec<f64> = vals
        .last()
        .and_then(|r| r["result"]["per_organ_dice"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect();
    let err = |e: String| Error::bad_file(out, format!("cannot draw the plot: {e}"));
    let tmp = out.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (1200, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let (top, bottom) = root.split_vertically(450);
        let halves = top.split_evenly((1, 2));
        draw_line_panel(
            &halves[0],
            &Panel {
                title: "Iteration Average Loss",
                x_label: "Iteration",
                points: points("train_loss"),
            },
        )
        .map_err(err)?;
        draw_line_panel(
            &halves[1],
            &Panel {
                title: "Val Mean Dice",
                x_label: "Iteration",
                points: points("dice_tutorial"),
            },
        )
        .map_err(err)?;
        draw_bars(
            &bottom,
            "Dice per organ, last validation",
            &organ_abbreviations(cfg.transforms.num_classes),
            &[Series {
                name: "Dice",
                values: per_organ,
            }],
            "Dice",
            1.0,
        )
        .map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
}
