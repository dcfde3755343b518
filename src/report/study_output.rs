//! What `ssl-report study` writes: the study's Markdown and JSON and its two figures.

use std::path::Path;

use super::study::{StudyRun, markdown, study};
use super::study_plots::{write_dice_vs_volumes, write_learning_curves};
use crate::error::{Error, Result};
use crate::io::{write_atomic, write_json_atomic};

/// Writes `study.md`, `study.json`, `learning_curves.png` and `dice_vs_volumes.png` into
/// `out_dir`; returns the Markdown.
pub fn write_study(runs: &[StudyRun], out_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let study = study(runs)?;
    let md = markdown(&study);
    write_atomic(&out_dir.join("study.md"), md.as_bytes())?;
    write_json_atomic(&study, &out_dir.join("study.json"))?;
    write_learning_curves(&study, &out_dir.join("learning_curves.png"))?;
    write_dice_vs_volumes(&study, &out_dir.join("dice_vs_volumes.png"))?;
    Ok(md)
}
