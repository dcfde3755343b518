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

/// Every pair's embeddings: the image encoder's features `h` (`[pairs, features]`, what a linear
/// probe reads), and both towers' projections `image` and `text` (`[pairs, out_dim]`).
#[derive(Debug, Clone)]
pub struct PairEmbeddings {
    pub features: Array2<f32>,
    pub image: Array2<f32>,
    pub text: Array2<f32>,
}

fn stack(parts: Vec<Array2<f32>>) -> Array2<f32> {
    let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views).expect("one width")
}

/// The embeddings of every pair of `data`, `batch` at a time: each image's fixed view and its
/// whole report.
pub fn embed_pairs<B: Backend>(
    model: &crate::networks::nets::Convirt<B>,
    data: &ReportPairDataset,
    batch: usize,
    device: &B::Device,
) -> Result<PairEmbeddings> {
    let (mut features, mut images, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    let all: Vec<usize> = (0..data.pairs().len()).collect();
    for chunk in all.chunks(batch.max(1)) {
        let views = (chunk.par_iter())
            .map(|&i| data.evaluation_view(i))
            .collect::<Result<Vec<Vec<f32>>>>()?;
        let views = data.stack_views(views)?;
        let reports: Vec<String> = (chunk.iter())
            .map(|&i| whole_report(&data.pairs()[i].report))
            .collect();
        let tokens = data.tokenizer().encode_batch(&reports)?;
        let (h, zi) = embed_images(model, &views, device);
        features.push(to_array(h));
        images.push(to_array(zi));
        texts.push(to_array(embed_texts(model, &tokens, device)));
    }
    Ok(PairEmbeddings {
        features: stack(features),
        image: stack(images),
        text: stack(texts),
    })
}

/// Recall@1/5/10 over the set's pairs in both directions.
pub fn retrieval<B: Backend>(
    model: &crate::networks::nets::Convirt<B>,
    data: &ReportPairDataset,
    batch: usize,
    device: &B::Device,
) -> Result<RetrievalScores> {
    let e = embed_pairs(model, data, batch, device)?;
    Ok(retrieval_recall(
        &cosine_similarity(&e.image, &e.text),
        &RECALL_AT,
    ))
}
