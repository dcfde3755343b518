//! MONAI's `ContrastiveLoss` (NT-Xent, SimCLR): cosine similarities of the 2B rows of
//! `cat([input, target])`, positives at `(i + B) mod 2B`, the denominator over every other row
//! (docs/MONAI_COMPAT.md, "ContrastiveLoss"). Computed through a normalised Gram matrix and a
//! log-sum-exp, so it never forms MONAI's `(2B, 2B, F)` broadcast and stays finite at small
//! temperatures where MONAI's `exp(S/T)` overflows to NaN; where MONAI is finite the values agree.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};

/// NT-Xent loss of two `(B, F)` batches at `temperature`. Returns a one-element tensor.
pub fn contrastive_loss<B: Backend>(
    input: Tensor<B, 2>,
    target: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    assert_eq!(
        input.dims(),
        target.dims(),
        "contrastive loss: input and target shapes differ"
    );
    let b = input.dims()[0];
    let n = 2 * b;
    let device = input.device();
    let r = Tensor::cat(vec![input, target], 0);
    let gram = r.clone().matmul(r.transpose());
    // |R_i|² is the Gram matrix's diagonal (no (2B, F) temporary); clamped at 1e-8 like torch.
    let eye = Tensor::<B, 2>::eye(n, &device);
    let norms = (gram.clone() * eye).sum_dim(1).sqrt().clamp_min(1e-8);
    let sim = gram / norms.clone().matmul(norms.transpose());
    let logits = sim / temperature;
    // Positive pairs: row i with row (i + B) mod 2B.
    let mut pair = vec![0f32; n * n];
    for i in 0..n {
        pair[i * n + (i + b) % n] = 1.0;
    }
    let pair = Tensor::<B, 2>::from_data(TensorData::new(pair, [n, n]), &device);
    let positives = (logits.clone() * pair).sum_dim(1);
    // Denominator over j ≠ i, as a log-sum-exp.
    let self_pairs = Tensor::<B, 2, Bool>::diag_mask([n, n], 0, &device).bool_not();
    let others = logits.mask_fill(self_pairs, f32::NEG_INFINITY);
    let row_max = others.clone().max_dim(1).detach();
    let log_den = (others - row_max.clone()).exp().sum_dim(1).log() + row_max;
    (log_den - positives).mean()
}
