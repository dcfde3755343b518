//! What the outputs in an `ssl-segment` folder were made with (`segment.json`): the model file,
//! the preprocessing, the window and the test-time augmentation. A rerun reuses the label maps
//! it finds, so a rerun with other settings into the same folder would silently mix two kinds of
//! segmentation; it is refused instead, naming what differs.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::model_source::ModelSource;
use super::segment_scan::SegmentOptions;
use crate::error::{Error, Result};
use crate::inferers::{SlidingWindow, TestTimeAugmentation};
use crate::io::write_json_atomic;
use crate::transforms::FinetuneTransforms;

/// The record's file name in the output folder.
pub const SETTINGS_FILE: &str = "segment.json";

/// The settings that decide a label map (not the batch size or the device, which do not).
#[derive(Debug, Serialize)]
struct OutputSettings<'a> {
    model: String,
    transforms: &'a FinetuneTransforms,
    roi_size: [usize; 3],
    overlap: f64,
    mode: crate::inferers::BlendMode,
    sigma_scale: f64,
    tta: TestTimeAugmentation,
}

/// Records the settings in `out`, or checks them against the record already there.
pub(crate) fn check_or_record(
    out: &Path,
    source: &ModelSource,
    window: &SlidingWindow,
    options: SegmentOptions,
) -> Result<()> {
    let model = std::fs::canonicalize(&source.weights)
        .unwrap_or_else(|_| source.weights.clone())
        .display()
        .to_string();
    let settings = serde_json::to_value(OutputSettings {
        model,
        transforms: &source.run.transforms,
        roi_size: window.roi_size,
        overlap: window.overlap,
        mode: window.mode,
        sigma_scale: window.sigma_scale,
        tta: options.tta,
    })
    .expect("settings serialise");
    let path = out.join(SETTINGS_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return write_json_atomic(&settings, &path);
    };
    let recorded: Value = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&path, format!("not a settings record: {e}")))?;
    let differ: Vec<String> = settings
        .as_object()
        .expect("an object")
        .iter()
        .filter(|(k, v)| recorded.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k} was {}, now {v}",
                recorded.get(k.as_str()).unwrap_or(&Value::Null)
            )
        })
        .collect();
    if differ.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{} holds segmentations made with other settings ({}); segment into another --out, \
             or delete its outputs first",
            out.display(),
            differ.join("; ")
        )))
    }
}
