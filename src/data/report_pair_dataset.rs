//! ConVIRT's training items as the loader draws them: for pair `i` in `epoch`, a random view of
//! its radiograph (`transforms::radiograph`, the reference's pipeline) and one random sentence of
//! its report (the reference's candidates; or the whole report, ssl3d's `TextView::Report`), both from a generator seeded by (run seed, epoch, i);
//! a batch stacks the views and tokenises the sentences, padded to the longest, as the reference's
//! training loop calls its tokenizer. Radiographs are read when drawn, as the reference reads them.

use std::sync::Arc;

use ndarray::Array4;

use super::batch::FromCollated;
use super::loader::BatchSource;
use super::report_pairs::{ReportPair, sentences, whole_report};
use super::seeding::item_seed;
use crate::error::{Error, Result};
use crate::io::raster::read_raster;
use crate::text::{ReportTokenizer, TokenBatch};
use crate::transforms::radiograph::RadiographViews;
use crate::transforms::rng::RandomState;

/// A batch for ConVIRT's step: views `[B, C, S, S]` and the tokenised sentences.
#[derive(Debug, Clone)]
pub struct ReportPairBatch {
    pub images: Array4<f32>,
    pub tokens: TokenBatch,
    /// The sentences, in batch order (for logs and retrieval examples).
    pub texts: Vec<String>,
}

/// What text a pair's report gives the text tower.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextView {
    /// One random sentence of the report, as the reference (and the paper) draw it.
    #[default]
    Sentence,
    /// The whole report (ssl3d's option): every finding in every step.
    Report,
}

/// Pairs with their view settings and tokeniser.
pub struct ReportPairDataset {
    pairs: Vec<ReportPair>,
    views: RadiographViews,
    tokenizer: Arc<ReportTokenizer>,
    text_view: TextView,
}

impl ReportPairDataset {
    pub fn new(
        pairs: Vec<ReportPair>,
        views: RadiographViews,
        tokenizer: Arc<ReportTokenizer>,
    ) -> Self {
        ReportPairDataset {
            pairs,
            views,
            tokenizer,
            text_view: TextView::Sentence,
        }
    }

    /// The same pairs with `text_view` as the text tower's view.
    pub fn with_text_view(mut self, text_view: TextView) -> Self {
        self.text_view = text_view;
        self
    }

    pub fn pairs(&self) -> &[ReportPair] {
        &self.pairs
    }

    pub fn views(&self) -> &RadiographViews {
        &self.views
    }

    pub fn tokenizer(&self) -> &ReportTokenizer {
        &self.tokenizer
    }

    /// The view's side (the crop is square) and channels.
    pub fn view_shape(&self) -> [usize; 3] {
        [self.views.channels, self.views.height, self.views.height]
    }
}

impl BatchSource for ReportPairDataset {
    type Item = (Vec<f32>, String);
    type Collated = ReportPairBatch;

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn get(&self, i: usize, run_seed: u64, epoch: u64) -> Result<(Vec<f32>, String)> {
        let pair = &self.pairs[i];
        let mut rng = RandomState::new(item_seed(run_seed, epoch, i as u64));
        let raster = read_raster(&pair.image, self.views.channels)?;
        let view = self.views.view(&raster, &mut rng);
        let candidates = sentences(&pair.report);
        if candidates.is_empty() {
            return Err(Error::bad_file(&pair.image, "its report has no text"));
        }
        // The draw is made either way, so both views see the same image views.
        let pick = rng.randint(0, candidates.len() as i64) as usize;
        let text = match self.text_view {
            TextView::Sentence => candidates[pick].clone(),
            TextView::Report => whole_report(&pair.report),
        };
        Ok((view, text))
    }

    fn collate(&self, items: Vec<(Vec<f32>, String)>) -> Result<ReportPairBatch> {
        let [c, h, w] = self.view_shape();
        let n = items.len();
        let mut images = Vec::with_capacity(n * c * h * w);
        let mut texts = Vec::with_capacity(n);
        for (view, text) in items {
            images.extend_from_slice(&view);
            texts.push(text);
        }
        let images = Array4::from_shape_vec((n, c, h, w), images)
            .map_err(|e| Error::InvalidArgument(format!("cannot batch the views: {e}")))?;
        let tokens = self.tokenizer.encode_batch(&texts)?;
        Ok(ReportPairBatch {
            images,
            tokens,
            texts,
        })
    }
}

/// A ConVIRT step takes the collated batch as it is.
impl FromCollated<ReportPairBatch> for ReportPairBatch {
    fn from_collated(batch: ReportPairBatch) -> Result<Self> {
        Ok(batch)
    }
}
