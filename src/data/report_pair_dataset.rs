//! ConVIRT's training items as the loader draws them: for pair `i` in `epoch`, a random view of
//! its radiograph (`transforms::radiograph`, the reference's pipeline) and one random sentence of
//! its report (the reference's candidates; or the whole report, ssl3d's `TextView::Report`), both from a generator seeded by (run seed, epoch, i);
//! a batch stacks the views and tokenises the sentences, padded to the longest, as the reference's
//! training loop calls its tokenizer. Radiographs are read when drawn, as the reference reads them;
//! CT volumes (ssl3d's CT variant, `transforms::volume_views`) are preprocessed once, when first
//! drawn, and kept at their base grid.

use std::sync::{Arc, OnceLock};

use ndarray::{Array3, Array4, Array5};

use super::batch::FromCollated;
use super::loader::BatchSource;
use super::report_pairs::{ReportPair, sentences, whole_report};
use super::seeding::item_seed;
use crate::error::{Error, Result};
use crate::io::raster::read_raster;
use crate::text::{ReportTokenizer, TokenBatch};
use crate::transforms::radiograph::RadiographViews;
use crate::transforms::rng::RandomState;
use crate::transforms::volume_views::VolumeViews;

/// The image side of a batch: radiograph views `[B, C, S, S]` or CT views `[B, 1, X, Y, Z]`.
#[derive(Debug, Clone)]
pub enum PairImages {
    Radiographs(Array4<f32>),
    Volumes(Array5<f32>),
}

impl PairImages {
    /// `n` views of `shape` each (channels first), stacked.
    fn stack(shape: &[usize], n: usize, data: Vec<f32>) -> Result<Self> {
        let bad =
            |e: ndarray::ShapeError| Error::InvalidArgument(format!("cannot batch the views: {e}"));
        match *shape {
            [c, h, w] => Ok(PairImages::Radiographs(
                Array4::from_shape_vec((n, c, h, w), data).map_err(bad)?,
            )),
            [c, x, y, z] => Ok(PairImages::Volumes(
                Array5::from_shape_vec((n, c, x, y, z), data).map_err(bad)?,
            )),
            _ => Err(Error::InvalidArgument(format!(
                "views of shape {shape:?} are neither images nor volumes"
            ))),
        }
    }
}

/// How a pair's image becomes a view: a radiograph (the reference) or a CT volume (ssl3d's).
#[derive(Debug, Clone)]
pub enum PairViews {
    Radiograph(RadiographViews),
    Volume(VolumeViews),
}

/// A batch for ConVIRT's step: the image views and the tokenised sentences.
#[derive(Debug, Clone)]
pub struct ReportPairBatch {
    pub images: PairImages,
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
    views: PairViews,
    tokenizer: Arc<ReportTokenizer>,
    text_view: TextView,
    /// CT volumes at their base grid, each preprocessed when first drawn.
    volumes: Vec<OnceLock<Array3<f32>>>,
}

impl ReportPairDataset {
    pub fn new(
        pairs: Vec<ReportPair>,
        views: impl Into<PairViews>,
        tokenizer: Arc<ReportTokenizer>,
    ) -> Self {
        ReportPairDataset {
            volumes: (0..pairs.len()).map(|_| OnceLock::new()).collect(),
            pairs,
            views: views.into(),
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

    pub fn views(&self) -> &PairViews {
        &self.views
    }

    pub fn tokenizer(&self) -> &ReportTokenizer {
        &self.tokenizer
    }

    /// One view's shape, channels first: `[C, S, S]` (the crop is square) or `[1, X, Y, Z]`.
    pub fn view_shape(&self) -> Vec<usize> {
        match &self.views {
            PairViews::Radiograph(v) => vec![v.channels, v.height, v.height],
            PairViews::Volume(v) => [&[1][..], &v.roi[..]].concat(),
        }
    }

    /// Pair `i`'s CT volume at its base grid, preprocessed on first use.
    fn volume(&self, i: usize, views: &VolumeViews) -> Result<&Array3<f32>> {
        if let Some(v) = self.volumes[i].get() {
            return Ok(v);
        }
        let v = views.prepare(&self.pairs[i].image)?;
        Ok(self.volumes[i].get_or_init(|| v))
    }

    /// A random view of pair `i`'s image.
    fn random_view(&self, i: usize, rng: &mut RandomState) -> Result<Vec<f32>> {
        match &self.views {
            PairViews::Radiograph(v) => {
                Ok(v.view(&read_raster(&self.pairs[i].image, v.channels)?, rng))
            }
            PairViews::Volume(v) => Ok(v.view(self.volume(i, v)?, rng)),
        }
    }

    /// Pair `i`'s fixed evaluation view (no random step).
    pub fn evaluation_view(&self, i: usize) -> Result<Vec<f32>> {
        match &self.views {
            PairViews::Radiograph(v) => {
                Ok(v.evaluation(&read_raster(&self.pairs[i].image, v.channels)?))
            }
            PairViews::Volume(v) => Ok(v.evaluation(self.volume(i, v)?)),
        }
    }

    /// `views` (each of [`Self::view_shape`]) stacked into a batch.
    pub fn stack_views(&self, views: Vec<Vec<f32>>) -> Result<PairImages> {
        let n = views.len();
        PairImages::stack(&self.view_shape(), n, views.concat())
    }
}

impl From<RadiographViews> for PairViews {
    fn from(v: RadiographViews) -> Self {
        PairViews::Radiograph(v)
    }
}

impl From<VolumeViews> for PairViews {
    fn from(v: VolumeViews) -> Self {
        PairViews::Volume(v)
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
        let view = self.random_view(i, &mut rng)?;
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
        let (views, texts): (Vec<Vec<f32>>, Vec<String>) = items.into_iter().unzip();
        let images = self.stack_views(views)?;
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
