//! Dice per case and class, exactly as MONAI's `DiceMetric` computes it (docs/MONAI_COMPAT.md,
//! "DiceMetric"), the tutorial's reported value (the mean of running aggregates, "Fine-tuning
//! validation"), and the clean numbers beside them.
//!
//! Which is which: [`DiceMetric::aggregate`] is MONAI's `aggregate()` (background included by
//! default, classes absent from the ground truth ignored); [`mean_of_running_aggregates`] is what
//! the tutorial prints and plots as "Val Mean Dice"; [`foreground_mean_dice`] and
//! [`per_class_mean`] are the clean report: organs only, every case weighted equally.

use rayon::prelude::*;

/// Dice of each class for one case, from predicted and true label maps (any shape, same length).
/// MONAI: `2·|P∩G| / (|P| + |G|)` when G is non-empty; otherwise NaN with `ignore_empty` (even
/// if P is not empty), else 1 when both are empty and 0 when only P is not.
pub fn dice_per_class(
    pred: &[u8],
    gt: &[u8],
    num_classes: usize,
    include_background: bool,
    ignore_empty: bool,
) -> Vec<f64> {
    assert_eq!(pred.len(), gt.len(), "prediction and label differ in size");
    let counts = pred
        .par_chunks(1 << 16)
        .zip(gt.par_chunks(1 << 16))
        .map(|(p, g)| {
            let mut c = vec![[0u64; 3]; num_classes];
            for (&p, &g) in p.iter().zip(g) {
                if (p as usize) < num_classes {
                    c[p as usize][0] += 1;
                }
                if (g as usize) < num_classes {
                    c[g as usize][1] += 1;
                    if p == g {
                        c[g as usize][2] += 1;
                    }
                }
            }
            c
        })
        .reduce(
            || vec![[0u64; 3]; num_classes],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    for k in 0..3 {
                        x[k] += y[k];
                    }
                }
                a
            },
        );
    let first = if include_background { 0 } else { 1 };
    counts[first..]
        .iter()
        .map(|&[p, g, both]| {
            if g > 0 {
                2.0 * both as f64 / (g + p) as f64
            } else if ignore_empty {
                f64::NAN
            } else if p == 0 {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// MONAI's `DiceMetric(include_background, reduction="mean", ignore_empty)`: a buffer of per-case
/// rows and the NaN-ignoring two-step mean.
#[derive(Debug, Clone)]
pub struct DiceMetric {
    pub num_classes: usize,
    pub include_background: bool,
    pub ignore_empty: bool,
    rows: Vec<Vec<f64>>,
}

impl DiceMetric {
    /// The tutorial's metric: 14 classes with background, `ignore_empty=True`.
    pub fn new(num_classes: usize) -> Self {
        DiceMetric {
            num_classes,
            include_background: true,
            ignore_empty: true,
            rows: Vec::new(),
        }
    }

    /// Adds one case and returns its row.
    pub fn update(&mut self, pred: &[u8], gt: &[u8]) -> Vec<f64> {
        let row = dice_per_class(
            pred,
            gt,
            self.num_classes,
            self.include_background,
            self.ignore_empty,
        );
        self.rows.push(row.clone());
        row
    }

    /// Mean over cases of each case's mean over its non-NaN classes; cases with none are left out.
    pub fn aggregate(&self) -> f64 {
        aggregate_rows(&self.rows)
    }

    pub fn rows(&self) -> &[Vec<f64>] {
        &self.rows
    }

    /// Clears the accumulated rows (MONAI's `reset()`, between validations).
    pub fn reset(&mut self) {
        self.rows.clear();
    }
}

/// MONAI's two-step NaN-ignoring mean of per-case rows.
pub fn aggregate_rows(rows: &[Vec<f64>]) -> f64 {
    let case_means: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            let v: Vec<f64> = r.iter().copied().filter(|x| !x.is_nan()).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        })
        .collect();
    if case_means.is_empty() {
        return f64::NAN;
    }
    case_means.iter().sum::<f64>() / case_means.len() as f64
}

/// The tutorial's "Val Mean Dice": after each case it takes MONAI's running aggregate, then
/// averages those running values, so early cases weigh more (docs/MONAI_COMPAT.md, "Fine-tuning
/// validation" and "Fine-tuning validation and epoch_loss").
pub fn mean_of_running_aggregates(rows: &[Vec<f64>]) -> f64 {
    if rows.is_empty() {
        return f64::NAN;
    }
    let running: Vec<f64> = (1..=rows.len())
        .map(|k| aggregate_rows(&rows[..k]))
        .collect();
    running.iter().sum::<f64>() / running.len() as f64
}

/// Per-class mean over cases, ignoring cases where the class is NaN (absent from the ground truth).
pub fn per_class_mean(rows: &[Vec<f64>]) -> Vec<f64> {
    let n = rows.first().map_or(0, |r| r.len());
    (0..n)
        .map(|c| {
            let v: Vec<f64> = rows.iter().map(|r| r[c]).filter(|x| !x.is_nan()).collect();
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect()
}

/// The clean headline number: for rows that include background (class 0 first), the mean over
/// cases of each case's mean organ Dice (classes 1.., absent organs ignored).
pub fn foreground_mean_dice(rows_with_background: &[Vec<f64>]) -> f64 {
    let organs: Vec<Vec<f64>> = rows_with_background
        .iter()
        .map(|r| r[1..].to_vec())
        .collect();
    aggregate_rows(&organs)
}

/// Which Dice summary of a validation picks the best checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BestMetric {
    /// The tutorial's "Val Mean Dice": mean of running aggregates, background included.
    Tutorial,
    /// Mean organ Dice over the validation volumes (13 organs, background excluded).
    Foreground,
}
