//! ConVIRT's embeddings of held-out pairs and their retrieval scores: each image's fixed view
//! (`RadiographViews::evaluation`, `VolumeViews::evaluation`) and its whole report (line breaks as spaces, cut to the
//! tokeniser's length), embedded in batches by the model in evaluation mode (batch norm on its
//! running statistics).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use ndarray::Array2;
use rayon::prelude::*;

use super::convirt_step::{embed_images, embed_texts};
use crate::data::report_pair_dataset::ReportPairDataset;
use crate::data::report_pairs::whole_report;
use crate::error::Result;
use crate::metrics::retrieval::{RetrievalScores, cosine_similarity, retrieval_recall};

/// The ranks Recall@K is reported at, as the paper's retrieval table.
pub const RECALL_AT: [usize; 3] = [1, 5, 10];

pub(crate) fn to_array(t: Tensor<impl Backend, 2>) -> Array2<f32> {
    let [n, d] = t.dims();
    let v: Vec<f32> = t.into_data().convert::<f32>().to_vec().expect("f32 tensor");
    Array2::from_shape_vec((n, d), v).expect("shape matches data")
}

/// Images' embeddings: the image encoder's features `h` (`[images, features]`, what a linear probe
/// reads) and the image tower's projections (`[images, out_dim]`).
#[derive(Debug, Clone)]
pub struct ImageEmbeddings {
    pub features: Array2<f32>,
    pub projected: Array2<f32>,
}

fn stack(parts: Vec<Array2<f32>>) -> Array2<f32> {
    let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views).expect("one width")
}

/// The embeddings of the images of `data`'s pairs `idx` (in that order), `batch` at a time: each
/// image's fixed view.
pub fn embed_images_of<B: Backend>(
    model: &crate::networks::nets::Convirt<B>,
    data: &ReportPairDataset,
    idx: &[usize],
    batch: usize,
    device: &B::Device,
) -> Result<ImageEmbeddings> {
    let (mut features, mut projected) = (Vec::new(), Vec::new());
    for chunk in idx.chunks(batch.max(1)) {
        let views = (chunk.par_iter())
            .map(|&i| data.evaluation_view(i))
            .collect::<Result<Vec<Vec<f32>>>>()?;
        let (h, zi) = embed_images(model, &data.stack_views(views)?, device);
        features.push(to_array(h));
        projected.push(to_array(zi));
    }
    Ok(ImageEmbeddings {
        features: stack(features),
        projected: stack(projected),
    })
}

/// The text tower's projections (`[reports, out_dim]`) of the whole reports of `data`'s pairs
/// `idx` (in that order), `batch` at a time.
pub fn embed_reports_of<B: Backend>(
    model: &crate::networks::nets::Convirt<B>,
    data: &ReportPairDataset,
    idx: &[usize],
    batch: usize,
    device: &B::Device,
) -> Result<Array2<f32>> {
    let mut texts = Vec::new();
    for chunk in idx.chunks(batch.max(1)) {
        let reports: Vec<String> = (chunk.iter())
            .map(|&i| whole_report(&data.pairs()[i].report))
            .collect();
        let tokens = data.tokenizer().encode_batch(&reports)?;
        texts.push(to_array(embed_texts(model, &tokens, device)));
    }
    Ok(stack(texts))
}

/// Recall@1/5/10 over the set's pairs in both directions.
pub fn retrieval<B: Backend>(
    model: &crate::networks::nets::Convirt<B>,
    data: &ReportPairDataset,
    batch: usize,
    device: &B::Device,
) -> Result<RetrievalScores> {
    let all: Vec<usize> = (0..data.pairs().len()).collect();
    let images = embed_images_of(model, data, &all, batch, device)?;
    let texts = embed_reports_of(model, data, &all, batch, device)?;
    Ok(retrieval_recall(
        &cosine_similarity(&images.projected, &texts),
        &RECALL_AT,
    ))
}
