//! Area under the ROC curve, as scikit-learn's `roc_auc_score` for binary labels: the chance that
//! a random positive scores above a random negative, ties counting half (the Mann–Whitney U from
//! average ranks). ConVIRT's zero-shot classification and linear probes report it per finding.

/// The AUC of `scores` for `labels`; `None` when the labels hold one class only (scikit-learn
/// raises then: the AUC is undefined).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one score per label");
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average 1-based ranks over runs of tied scores.
    let mut rank_sum_of_positives = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        let average_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = order[start..=end].iter().filter(|&&i| labels[i]).count();
        rank_sum_of_positives += average_rank * tied_positives as f64;
        start = end + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum_of_positives - p * (p + 1.0) / 2.0) / (p * n))
}
