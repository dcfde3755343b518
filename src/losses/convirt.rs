//! ConVIRT's image–text loss (Zhang et al. 2020, as its public implementation computes it): both
//! embeddings L2-normalised, each image scored against every report of the batch and each report
//! against every image (`cos / temperature`), a cross-entropy toward the batch's own pair in each
//! direction, `alpha_weight · image→text + (1 − alpha_weight) · text→image` (the reference: 0.75,
//! temperature 0.1). Unlike SimCLR's loss there are no image–image or text–text terms.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::class_cross_entropy;

/// The loss and its two directions, one-element tensors.
pub struct ConvirtLoss<B: Backend> {
    pub total: Tensor<B, 1>,
    pub image_to_text: Tensor<B, 1>,
    pub text_to_image: Tensor<B, 1>,
}

/// `F.normalize(x, p=2, dim=1)`: rows divided by their norm, at least 1e-12.
fn normalize_rows<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Cross-entropy toward each row's own column, its pair.
fn pair_cross_entropy<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 1> {
    let pairs = Tensor::arange(0..logits.dims()[0] as i64, &logits.device());
    class_cross_entropy(logits, pairs)
}

/// ConVIRT's loss of image embeddings `(B, D)` and their reports' `(B, D)` (row `i` of each is
/// pair `i`).
pub fn convirt_loss<B: Backend>(
    image: Tensor<B, 2>,
    text: Tensor<B, 2>,
    temperature: f64,
    alpha_weight: f64,
) -> ConvirtLoss<B> {
    assert_eq!(
        image.dims(),
        text.dims(),
        "ConVIRT loss: image and text embeddings of different shapes"
    );
    let (image, text) = (normalize_rows(image), normalize_rows(text));
    let logits = image.matmul(text.transpose()) / temperature;
    let image_to_text = pair_cross_entropy(logits.clone());
    let text_to_image = pair_cross_entropy(logits.transpose());
    ConvirtLoss {
        total: image_to_text.clone() * alpha_weight + text_to_image.clone() * (1.0 - alpha_weight),
        image_to_text,
        text_to_image,
    }
}
