//! ConVIRT's image–report pairs, read as the reference implementation's `ClrDataset` and
//! `DataSetWrapper` read them (docs/CONVIRT.md, "Data"): a CSV with a header row, the image path
//! in column `img_path_col` (under `img_root_dir`), the report in column `text_col` — the text
//! itself, or with `text_from_files` a file name under `text_root_dir`. Every row is checked
//! before training (a missing image or report file, an empty report, a short row are errors
//! naming the CSV line). The validation split is the reference's to the index: numpy's global
//! generator seeded with 0, `shuffle` of `0..n`, the first `floor(valid_size · n)` for validation.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::transforms::rng::RandomState;

/// One image and its report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPair {
    pub image: PathBuf,
    pub report: String,
}

/// Where the pairs are and how the CSV is laid out (the `dataset:` keys of ConVIRT's config).
#[derive(Debug, Clone)]
pub struct PairsSource<'a> {
    pub csv_file: &'a Path,
    pub img_root_dir: &'a Path,
    pub img_path_col: usize,
    pub text_col: usize,
    pub text_from_files: bool,
    pub text_root_dir: &'a Path,
}

/// The pairs CSV, its header row read as names, rows of any length (checked where read).
pub(crate) fn open_pairs_csv(csv_file: &Path) -> Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(csv_file)
        .map_err(|e| Error::bad_file(csv_file, format!("cannot read the pairs CSV: {e}")))
}

/// Reads and checks every pair.
pub fn read_pairs(src: &PairsSource) -> Result<Vec<ReportPair>> {
    let bad = |problem: String| Error::bad_file(src.csv_file, problem);
    let mut reader = open_pairs_csv(src.csv_file)?;
    let mut pairs = Vec::new();
    for (row, record) in reader.records().enumerate() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = row + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        let cell = |col: usize, what: &str| {
            record.get(col).map(str::to_string).ok_or_else(|| {
                bad(format!(
                    "line {line} has {} columns, no column {col} ({what})",
                    record.len()
                ))
            })
        };
        let image = src
            .img_root_dir
            .join(cell(src.img_path_col, "img_path_col")?);
        if !image.is_file() {
            return Err(bad(format!(
                "line {line}: image {} not found",
                image.display()
            )));
        }
        let text = cell(src.text_col, "text_col")?;
        let report = if src.text_from_files {
            let path = src.text_root_dir.join(&text);
            std::fs::read_to_string(&path).map_err(|e| {
                bad(format!(
                    "line {line}: cannot read report {}: {e}",
                    path.display()
                ))
            })?
        } else {
            text
        };
        if sentences(&report).is_empty() {
            return Err(bad(format!(
                "line {line}: the report for {} has no text",
                image.display()
            )));
        }
        pairs.push(ReportPair { image, report });
    }
    if pairs.is_empty() {
        return Err(bad("no pairs: the CSV has a header row only".into()));
    }
    Ok(pairs)
}

/// The reference's candidates for a report's text view: line breaks removed, split at every
/// `.`, the first empty piece dropped (Python's `list.remove('')`). Pieces keep their spaces.
pub fn sentences(report: &str) -> Vec<String> {
    let joined = report.replace('\n', "");
    let mut pieces: Vec<String> = joined.split('.').map(str::to_string).collect();
    if let Some(i) = pieces.iter().position(|p| p.is_empty()) {
        pieces.remove(i);
    }
    // A report of dots and blanks only has nothing to show BERT.
    if pieces.iter().all(|p| p.trim().is_empty()) {
        return Vec::new();
    }
    pieces
}

/// A report as one text (ssl3d's whole-report view, and retrieval's queries): its words joined by
/// single spaces.
pub fn whole_report(report: &str) -> String {
    report.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The reference's split of `n` pairs: `(train, valid)` indices.
pub fn reference_split(n: usize, valid_size: f64) -> (Vec<usize>, Vec<usize>) {
    let mut indices: Vec<usize> = (0..n).collect();
    RandomState::new(0).shuffle(&mut indices);
    let split = (valid_size * n as f64).floor() as usize;
    let valid = indices[..split].to_vec();
    (indices[split..].to_vec(), valid)
}
