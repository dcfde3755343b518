//! MONAI's `Activations(softmax=True)`: class scores turned into probabilities along the channel
//! axis, for averaging predictions (flip test-time augmentation) and for writing them out.

use ndarray::{ArrayViewMutD, Axis, Zip};

/// Softmax over axis 0 of channel-first scores `(C, ...)`, in place. One parallel pass per
/// channel and step (maximum, exponentials and their sum, division), so the channel planes are
/// read contiguously however many classes there are.
pub fn softmax_channels(mut scores: ArrayViewMutD<f32>) {
    let channels = scores.len_of(Axis(0));
    if channels == 0 {
        return;
    }
    let mut max = scores.index_axis(Axis(0), 0).to_owned();
    for c in 1..channels {
        Zip::from(&mut max)
            .and(scores.index_axis(Axis(0), c))
            .par_for_each(|m, &v| *m = m.max(v));
    }
    let mut sum = ndarray::ArrayD::<f32>::zeros(max.raw_dim());
    for c in 0..channels {
        Zip::from(scores.index_axis_mut(Axis(0), c))
            .and(&max)
            .and(&mut sum)
            .par_for_each(|v, &m, s| {
                *v = (*v - m).exp();
                *s += *v;
            });
    }
    for c in 0..channels {
        Zip::from(scores.index_axis_mut(Axis(0), c))
            .and(&sum)
            .par_for_each(|v, &s| *v /= s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn probabilities_match_the_textbook_formula_and_sum_to_one() {
        // Two voxels, three classes; large scores must not overflow.
        let mut s = array![[1.0f32, 1000.0], [2.0, 1001.0], [0.5, 999.0]].into_dyn();
        softmax_channels(s.view_mut());
        let e: Vec<f64> = [1.0f64, 2.0, 0.5].iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        for c in 0..3 {
            assert!((s[[c, 0]] as f64 - e[c] / total).abs() < 1e-6);
        }
        let e: Vec<f64> = [1.0f64, 2.0, 0.0].iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        for c in 0..3 {
            assert!((s[[c, 1]] as f64 - e[c] / total).abs() < 1e-6);
        }
    }
}
