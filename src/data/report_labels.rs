//! Finding labels beside ConVIRT's pairs, for its evaluation (docs/CONVIRT.md, "Evaluation"): 0/1
//! columns of the pairs CSV, by header name, in the CSV's row order (as `read_pairs` reads the
//! pairs). `ssl-data synth --reports` writes `normal`, `ground_glass` and `consolidation`.

use std::path::Path;

use super::report_pairs::open_pairs_csv;
use crate::error::{Error, Result};

/// Labels of every row: `values[row][k]` for `names[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingLabels {
    pub names: Vec<String>,
    pub values: Vec<Vec<bool>>,
}

impl FindingLabels {
    /// Column `k` over `rows`.
    pub fn column(&self, k: usize, rows: &[usize]) -> Vec<bool> {
        rows.iter().map(|&r| self.values[r][k]).collect()
    }
}

fn header(csv_file: &Path, reader: &mut csv::Reader<std::fs::File>) -> Result<Vec<String>> {
    Ok(reader
        .headers()
        .map_err(|e| Error::bad_file(csv_file, format!("cannot read the header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect())
}

/// A cell as a label: `0`/`1` (`0.0`/`1.0` too, as pandas writes them).
fn flag(cell: &str) -> Option<bool> {
    match cell.trim() {
        "1" | "1.0" => Some(true),
        "0" | "0.0" => Some(false),
        _ => None,
    }
}

/// The header names of the columns that hold only 0/1 in every row: the labels an evaluation
/// takes when none are named.
pub fn binary_columns(csv_file: &Path) -> Result<Vec<String>> {
    let mut r = open_pairs_csv(csv_file)?;
    let names = header(csv_file, &mut r)?;
    let mut binary = vec![true; names.len()];
    for record in r.records() {
        let record = record.map_err(|e| Error::bad_file(csv_file, e.to_string()))?;
        for (k, b) in binary.iter_mut().enumerate() {
            *b &= record.get(k).and_then(flag).is_some();
        }
    }
    Ok((names.into_iter().zip(binary))
        .filter_map(|(n, b)| b.then_some(n))
        .collect())
}

/// The labels named `names`, every row; an unknown name or a cell that is not 0/1 is an error
/// naming the column and line.
pub fn read_finding_labels(csv_file: &Path, names: &[String]) -> Result<FindingLabels> {
    let bad = |problem: String| Error::bad_file(csv_file, problem);
    let mut r = open_pairs_csv(csv_file)?;
    let head = header(csv_file, &mut r)?;
    let columns = (names.iter())
        .map(|n| {
            head.iter().position(|h| h == n).ok_or_else(|| {
                bad(format!(
                    "no label column {n:?}; the header has {}",
                    head.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut values = Vec::new();
    for (row, record) in r.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        let labels = (names.iter().zip(&columns))
            .map(|(n, &c)| {
                let cell = record.get(c).unwrap_or("");
                flag(cell)
                    .ok_or_else(|| bad(format!("line {line}: label {n} is {cell:?}, not 0 or 1")))
            })
            .collect::<Result<Vec<bool>>>()?;
        values.push(labels);
    }
    Ok(FindingLabels {
        names: names.to_vec(),
        values,
    })
}
