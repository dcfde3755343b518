//! How fast a run's steps went, from its `metrics.jsonl` (`ssl-report steps RUN`): the time each
//! step computed and waited for data, and the share of the waiting. The device check
//! (`scripts/gpu_check.sh`) reads GPU training speed and whether the CPU loader keeps up from it.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The timing fields every step record has, whichever job wrote it.
#[derive(Deserialize)]
struct StepTimes {
    kind: String,
    data_wait_ms: Option<f64>,
    compute_ms: Option<f64>,
}

/// A run's step timing. The first step (kernel compilation, autotune, cache warm-up) is given on
/// its own and left out of the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTiming {
    pub steps: usize,
    pub first_compute_ms: f64,
    pub first_data_wait_ms: f64,
    /// Over the steps after the first (`null` in JSON for a one-step run).
    pub compute_ms_median: Option<f64>,
    pub compute_ms_mean: Option<f64>,
    pub data_wait_ms_mean: Option<f64>,
    /// Σ data wait ÷ Σ (data wait + compute) after the first step: the share of the time the
    /// device waited for the loader.
    pub data_wait_share: Option<f64>,
}

/// Reads the step records of `metrics` (a torn last line is ignored, as a killed run leaves it).
pub fn step_timing(metrics: &Path) -> Result<StepTiming> {
    let file = std::fs::File::open(metrics).map_err(|e| Error::io(metrics, e))?;
    let mut steps = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::io(metrics, e))?;
        let Ok(record) = serde_json::from_str::<StepTimes>(&line) else {
            break;
        };
        if record.kind == "step" {
            match (record.data_wait_ms, record.compute_ms) {
                (Some(wait), Some(compute)) => steps.push((wait, compute)),
                _ => {
                    return Err(Error::bad_file(
                        metrics,
                        "a step record without data_wait_ms and compute_ms",
                    ));
                }
            }
        }
    }
    let Some(&(first_wait, first_compute)) = steps.first() else {
        return Err(Error::bad_file(metrics, "no step records"));
    };
    let rest = &steps[1..];
    let n = rest.len() as f64;
    let (wait, compute): (Vec<f64>, Vec<f64>) = rest.iter().copied().unzip();
    let (wait_sum, compute_sum) = (wait.iter().sum::<f64>(), compute.iter().sum::<f64>());
    let some = |v: f64| (!rest.is_empty()).then_some(v);
    Ok(StepTiming {
        steps: steps.len(),
        first_compute_ms: first_compute,
        first_data_wait_ms: first_wait,
        compute_ms_median: some(median(compute.clone())),
        compute_ms_mean: some(compute_sum / n),
        data_wait_ms_mean: some(wait_sum / n),
        data_wait_share: some(wait_sum / (wait_sum + compute_sum).max(f64::MIN_POSITIVE)),
    })
}

/// The middle value (the mean of the two middle ones for an even count); NaN for none.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
