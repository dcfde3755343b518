//! `nn.CrossEntropyLoss()` of class logits: one class per row, the mean over rows (Swin UNETR's
//! rotation head, and ConVIRT's two directions, whose class is each row's own pair).

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// The mean over rows of `−log softmax(logits)[row, label]`, for logits `(N, K)` and class
/// indices `(N)`.
pub fn class_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let picked = log_softmax(logits, 1).gather(1, labels.unsqueeze_dim(1));
    -picked.mean()
}
