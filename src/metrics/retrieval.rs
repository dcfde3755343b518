//! Cross-modal retrieval as ConVIRT's paper scores it: for each image, rank every report of the
//! held-out set by cosine similarity and ask whether its own report is in the first K
//! (Recall@K, image→text); and the other way (text→image). A tie with the true match counts
//! against it (pessimistic rank), so embeddings that do not separate the pairs — an untrained
//! or collapsed encoder — score chance or worse, never better.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Recall@K in both directions over `pairs` held-out pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    pub pairs: usize,
    pub ks: Vec<usize>,
    /// Share of images whose own report ranks in the first K, per K.
    pub image_to_text: Vec<f64>,
    /// Share of reports whose own image ranks in the first K, per K.
    pub text_to_image: Vec<f64>,
}

impl RetrievalScores {
    /// Recall@K of random embeddings: `K / pairs` (at most 1).
    pub fn chance(&self, k: usize) -> f64 {
        (k as f64 / self.pairs.max(1) as f64).min(1.0)
    }

    /// `i→t R@1 0.40 R@5 0.90 …, t→i …` for logs.
    pub fn describe(&self) -> String {
        let side = |v: &[f64]| {
            (self.ks.iter().zip(v))
                .map(|(k, r)| format!("R@{k} {r:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "image→text {}, text→image {} ({} pairs)",
            side(&self.image_to_text),
            side(&self.text_to_image),
            self.pairs
        )
    }
}

/// The 0-based pessimistic rank of each row's diagonal entry among its row: how many entries
/// are above it, plus how many others equal it. A non-finite similarity ranks last.
fn diagonal_ranks(sim: ArrayView2<f32>) -> Vec<usize> {
    sim.axis_iter(Axis(0))
        .enumerate()
        .map(|(i, row)| {
            let own = row[i];
            if !own.is_finite() {
                return row.len() - 1;
            }
            (row.iter().enumerate())
                .filter(|&(j, &s)| j != i && (s >= own || s.is_nan()))
                .count()
        })
        .collect()
}

fn recalls(ranks: &[usize], ks: &[usize]) -> Vec<f64> {
    let n = ranks.len().max(1) as f64;
    (ks.iter())
        .map(|&k| ranks.iter().filter(|&&r| r < k).count() as f64 / n)
        .collect()
}

/// Recall@K from the similarity of image `i` (row) to report `j` (column), pair `i` being
/// (image `i`, report `i`).
pub fn retrieval_recall(similarity: &Array2<f32>, ks: &[usize]) -> RetrievalScores {
    assert_eq!(
        similarity.nrows(),
        similarity.ncols(),
        "one report per image"
    );
    RetrievalScores {
        pairs: similarity.nrows(),
        ks: ks.to_vec(),
        image_to_text: recalls(&diagonal_ranks(similarity.view()), ks),
        text_to_image: recalls(&diagonal_ranks(similarity.t()), ks),
    }
}

/// Cosine similarity of every row of `a` to every row of `b` (both `[n, d]`); a zero row has
/// similarity 0 to everything.
pub fn cosine_similarity(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
    let unit = |m: &Array2<f32>| {
        let mut m = m.clone();
        for mut row in m.axis_iter_mut(Axis(0)) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.mapv_inplace(|v| v / norm);
            }
        }
        m
    };
    unit(a).dot(&unit(b).t())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ranks_count_ties_against_the_match() {
        // Row 0: own 0.9 is best. Row 1: own 0.5 ties with 0.5 and is below 0.7.
        let sim = array![[0.9f32, 0.1, 0.2], [0.7, 0.5, 0.5], [0.0, 0.0, 0.0]];
        assert_eq!(diagonal_ranks(sim.view()), vec![0, 2, 2]);
        let r = retrieval_recall(&sim, &[1, 2, 3]);
        assert_eq!(r.image_to_text, vec![1.0 / 3.0, 1.0 / 3.0, 1.0]);
        // Columns: 0: own 0.9 best; 1: own 0.5 above 0.1 and 0.0; 2: own 0.0 below 0.2, 0.5.
        assert_eq!(r.text_to_image, vec![2.0 / 3.0, 2.0 / 3.0, 1.0]);
        assert_eq!(r.chance(1), 1.0 / 3.0);
    }

    #[test]
    fn identical_embeddings_score_nothing_at_one() {
        let e = Array2::from_elem((4, 3), 1.0f32);
        let r = retrieval_recall(&cosine_similarity(&e, &e), &[1, 4]);
        assert_eq!(r.image_to_text, vec![0.0, 1.0]);
    }
}
