//! The statistics a multi-seed study reports: mean, sample standard deviation and the 95 %
//! Student-t interval of a mean, for cells of runs and for paired differences between them.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, spread and 95 % interval of a handful of values (one per seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); `None` for a single value.
    pub sd: Option<f64>,
    /// 95 % interval of the mean, `mean ± t(0.975, n − 1) · sd / √n`; `None` below two values.
    pub ci95: Option<[f64; 2]>,
}

impl Summary {
    /// Summarises the finite values of `values` (a run without a number does not count).
    pub fn of(values: &[f64]) -> Option<Self> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return None;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Some(Self {
                n,
                mean,
                sd: None,
                ci95: None,
            });
        }
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
            .expect("n − 1 ≥ 1 degrees of freedom")
            .inverse_cdf(0.975);
        let half = t * sd / (n as f64).sqrt();
        Some(Self {
            n,
            mean,
            sd: Some(sd),
            ci95: Some([mean - half, mean + half]),
        })
    }

    /// `62.1 ± 3.4` (in %), or `62.1` for one value.
    pub(crate) fn mean_sd_pct(&self) -> String {
        match self.sd {
            Some(sd) => format!("{:.2} ± {:.2}", self.mean * 100.0, sd * 100.0),
            None => format!("{:.2}", self.mean * 100.0),
        }
    }

    /// `+2.10 [−0.40, +4.60]` (in Dice points), or `+2.10` without an interval.
    pub(crate) fn difference_pct(&self) -> String {
        match self.ci95 {
            Some([lo, hi]) => format!(
                "{:+.2} [{:+.2}, {:+.2}]",
                self.mean * 100.0,
                lo * 100.0,
                hi * 100.0
            ),
            None => format!("{:+.2}", self.mean * 100.0),
        }
    }

    /// What a paired difference says: above or below zero with 95 % confidence, or not clear.
    pub(crate) fn verdict(&self) -> &'static str {
        match self.ci95 {
            Some([lo, _]) if lo > 0.0 => "pretraining helped (the interval is above 0)",
            Some([_, hi]) if hi < 0.0 => "pretraining hurt (the interval is below 0)",
            Some(_) => "no clear difference (the interval includes 0)",
            None => "one pair: no interval, no conclusion",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn the_interval_is_students_t_of_the_sample() {
        // 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653: half width 4.302653 / √3 = 2.484138.
        let s = Summary::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.n, 3);
        assert!((s.mean - 2.0).abs() < 1e-12);
        assert!((s.sd.unwrap() - 1.0).abs() < 1e-12);
        let [lo, hi] = s.ci95.unwrap();
        assert!((hi - 2.0 - 2.484138).abs() < 1e-5, "{hi}");
        assert!((lo - 2.0 + 2.484138).abs() < 1e-5, "{lo}");
        // Two values: t(0.975, 1) = 12.706205.
        let s = Summary::of(&[0.1, 0.3]).unwrap();
        let [lo, hi] = s.ci95.unwrap();
        let half = 12.706205 * (0.02f64).sqrt() / 2f64.sqrt();
        assert!((hi - 0.2 - half).abs() < 1e-5 && (0.2 - lo - half).abs() < 1e-5);
    }

    #[test]
    fn missing_values_do_not_count_and_one_value_has_no_interval() {
        let s = Summary::of(&[f64::NAN, 0.5]).unwrap();
        assert_eq!((s.n, s.sd, s.ci95), (1, None, None));
        assert!(Summary::of(&[f64::NAN]).is_none());
        assert_eq!(s.verdict(), "one pair: no interval, no conclusion");
    }

    #[test]
    fn the_verdict_follows_the_interval() {
        assert!(
            Summary::of(&[0.02, 0.03, 0.04])
                .unwrap()
                .verdict()
                .contains("helped")
        );
        assert!(
            Summary::of(&[-0.02, -0.03, -0.04])
                .unwrap()
                .verdict()
                .contains("hurt")
        );
        assert!(
            Summary::of(&[-0.02, 0.03, 0.01])
                .unwrap()
                .verdict()
                .contains("no clear")
        );
    }
}
