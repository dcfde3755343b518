//! What `ssl-data chain` reports of a seeded pipeline run: per output sample and key, the
//! shape, the sum and the position-weighted checksum ([`super::wsum`]). Its JSON form,
//! `{"samples": [{"<key>": {"shape": [...], "sum": s, "wsum": w}, ...}, ...]}` on one line, is a
//! stable contract: fixture sets made with real MONAI are checked through it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::meta::{Sample, sum, wsum};
use super::pipelines::{Pipeline, PipelineKind};
use crate::error::Result;

/// One key of one output sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySummary {
    pub shape: Vec<usize>,
    pub sum: f64,
    pub wsum: f64,
}

/// Every output sample of one pipeline run, keys in name order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainSummary {
    pub samples: Vec<BTreeMap<String, KeySummary>>,
}

impl ChainSummary {
    pub fn of(samples: &[Sample]) -> Self {
        let samples = samples
            .iter()
            .map(|s| {
                s.images
                    .iter()
                    .map(|(k, img)| {
                        let summary = KeySummary {
                            shape: img.data.shape().to_vec(),
                            sum: sum(&img.data),
                            wsum: wsum(&img.data),
                        };
                        (k.clone(), summary)
                    })
                    .collect()
            })
            .collect();
        ChainSummary { samples }
    }

    /// Runs pipeline `kind` (from `config`, or the tutorial's) seeded like MONAI's
    /// `Compose.set_random_state(seed)` on `image` (and `label`), and summarises its output.
    pub fn run(
        kind: PipelineKind,
        config: Option<&Path>,
        seed: u32,
        image: &Path,
        label: Option<&Path>,
    ) -> Result<Self> {
        let mut pipeline = Pipeline::from_config(kind, config)?;
        pipeline.set_random_state(seed);
        Ok(Self::of(&pipeline.run(image, label)?))
    }

    /// The contract: one line of JSON.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("summaries serialise")
    }

    /// The same for a person: one block per sample, one line per key.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, sample) in self.samples.iter().enumerate() {
            let _ = writeln!(out, "sample {i}");
            for (k, v) in sample {
                let shape = serde_json::to_string(&v.shape).expect("shapes serialise");
                let (s, w) = (serde_json::json!(v.sum), serde_json::json!(v.wsum));
                let _ = writeln!(out, "  {k:<9} shape {shape}  sum {s}  wsum {w}");
            }
        }
        out
    }
}
