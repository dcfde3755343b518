//! `ssl-segment`: a fine-tuned model applied to new CT scans. Each scan becomes a label map in its
//! own grid (`<name>_seg.nii.gz`), optionally its class probabilities (`<name>_prob.nii.gz`), a
//! quality-control picture (`<name>_qc.png`) and one row per organ in `volumes.csv` (voxels, mL,
//! mean HU). The next scan is read and preprocessed while the current one is predicted.
//! A scan that cannot be read is reported and skipped, the others finish; a rerun reuses the
//! outputs already written (with the same settings: `segment.json`). docs/INFERENCE.md says how
//! to use it.

mod model_source;
mod organ_volumes;
mod output_settings;
mod scans;
mod segment_scan;

pub use model_source::{ModelSource, WeightsFormat};
pub use organ_volumes::{OrganVolume, organ_volumes, voxel_mm3};
pub use output_settings::SETTINGS_FILE;
pub use scans::{is_nifti, list_scans, scan_stem};
pub use segment_scan::{
    Prediction, PreparedScan, ScanResult, SegmentOptions, finish_scan, predict_scan, prepare_scan,
    probabilities_path, qc_path, segmentation_path,
};

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use burn::tensor::backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::inferers::SlidingWindow;
use crate::io::atomic::write_atomic;
use crate::networks::{SegNetworkConfig, SegmentationModel};

/// `volumes.csv`: one row per scan and organ.
pub(crate) fn volumes_csv(results: &[ScanResult]) -> String {
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
/// scan's result as it finishes; writes `out/volumes.csv`. A second thread reads and preprocesses
/// the next scan while this one is predicted. Every scan that failed is in the error, after the
/// others are done.
pub fn segment_all<B: Backend>(
    source: &ModelSource,
    window: &SlidingWindow,
    scans: &[PathBuf],
    out: &Path,
    options: SegmentOptions,
    device: &B::Device,
    each: impl FnMut(&ScanResult),
) -> Result<Vec<ScanResult>> {
    window.check()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    output_settings::check_or_record(out, source, window, options)?;
    match &source.network {
        SegNetworkConfig::Unetr(c) => {
            let model = source.load_into(c.init::<B>(device), device)?;
            segment_all_with(&model, source, window, scans, out, options, device, each)
        }
        SegNetworkConfig::DynUnet(c) => {
            let model = source.load_into(c.init::<B>(device), device)?;
            segment_all_with(&model, source, window, scans, out, options, device, each)
        }
        SegNetworkConfig::SegResNet(c) => {
            let model = source.load_into(c.init::<B>(device), device)?;
            segment_all_with(&model, source, window, scans, out, options, device, each)
        }
        SegNetworkConfig::SwinUnetr(c) => {
            let model = source.load_into(c.init::<B>(device), device)?;
            segment_all_with(&model, source, window, scans, out, options, device, each)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn segment_all_with<B: Backend, M: SegmentationModel<B>>(
    model: &M,
    source: &ModelSource,
    window: &SlidingWindow,
    scans: &[PathBuf],
    out: &Path,
    options: SegmentOptions,
    device: &B::Device,
    mut each: impl FnMut(&ScanResult),
) -> Result<Vec<ScanResult>> {
    let bar = ProgressBar::new(scans.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("segmenting [{bar:30}] {pos}/{len} scans, ETA {eta} {msg}")
            .expect("valid template"),
    );
    let mut results = Vec::new();
    let mut failed = Vec::new();
    std::thread::scope(|scope| {
        // One scan waits ready while one is predicted: at most two scans ahead in memory.
        let (tx, rx) = sync_channel(1);
        scope.spawn(move || {
            for scan in scans {
                if tx
                    .send((scan, prepare_scan(source, scan, out, options)))
                    .is_err()
                {
                    return;
                }
            }
        });
        for (scan, prepared) in rx {
            bar.set_message(scan_stem(scan));
            match prepared.and_then(|p| finish_scan(model, source, window, p, out, options, device))
            {
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
    });
    bar.finish_and_clear();
    write_atomic(&out.join("volumes.csv"), volumes_csv(&results).as_bytes())?;
    crate::data::report_all(failed)?;
    Ok(results)
}
