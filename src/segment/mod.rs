//! `ssl-segment`: a fine-tuned model applied to new CT scans. Each scan becomes a label map in its
//! own grid (`<name>_seg.nii.gz`), a quality-control picture (`<name>_qc.png`) and one row per
//! organ in `volumes.csv` (voxels, mL, mean HU).
//! A scan that cannot be read is reported and skipped, the others finish; a rerun reuses the
//! label maps already written. docs/INFERENCE.md says how to use it.

mod model_source;
mod organ_volumes;
mod scans;
mod segment_scan;

pub use model_source::{ModelSource, WeightsFormat};
pub use organ_volumes::{OrganVolume, organ_volumes, voxel_mm3};
pub use scans::{is_nifti, list_scans, scan_stem};
pub use segment_scan::{ScanResult, predict_scan, qc_path, segment_scan, segmentation_path};

use std::path::Path;

use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::inferers::SlidingWindow;
use crate::io::atomic::write_atomic;

/// `volumes.csv`: one row per scan and organ.
pub fn volumes_csv(results: &[ScanResult]) -> String {
    let mut csv = String::from("scan,label,organ,voxels,volume_ml,mean_intensity,seconds\n");
    for r in results {
        for o in &r.organs {
            csv.push_str(&format!(
                "{},{},{},{},{:.3},{},{:.2}\n",
                r.scan.display(),
                o.label,
                o.organ,
                o.voxels,
                o.volume_ml,
                o.mean_intensity
                    .map_or(String::new(), |m| format!("{m:.1}")),
                r.seconds
            ));
        }
    }
    csv
}

/// Segments every scan of `scans` with `source` on `device` into `out`, calling `each` with each
/// scan's result as it finishes; writes `out/volumes.csv`. Every scan that failed is in the
/// error, after the others are done.
pub fn segment_all<B: Backend>(
    source: &ModelSource,
    window: &SlidingWindow,
    scans: &[std::path::PathBuf],
    out: &Path,
    device: &B::Device,
    mut each: impl FnMut(&ScanResult),
) -> Result<Vec<ScanResult>> {
    window.check()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let model = source.load::<B>(device)?;
    let bar = ProgressBar::new(scans.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("segmenting [{bar:30}] {pos}/{len} scans, ETA {eta} {msg}")
            .expect("valid template"),
    );
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for scan in scans {
        bar.set_message(scan_stem(scan));
        match segment_scan(&model, source, window, scan, out, device) {
            Ok(r) => {
                each(&r);
                results.push(r);
            }
            Err(e) => {
                bar.suspend(|| eprintln!("skipped: {e}"));
                failed.push(e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_atomic(&out.join("volumes.csv"), volumes_csv(&results).as_bytes())?;
    crate::data::report_all(failed)?;
    Ok(results)
}
