//! Timing as the benchmarks do it: warm up, then the median of timed repetitions.

use std::time::Instant;

/// The median; the mean of the two middle values for an even count (as Python's `statistics`).
/// `NaN` for no values.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `f` twice to warm up and `repeat` (at least 1) times timed; returns the median seconds.
/// `f` must block until its work is done. Two warm-ups, because a training step only reaches its
/// steady state on the second run: the first creates the optimiser's moments, the second is the
/// first to hold them and the activations together, and pays for growing the process's memory
/// to that peak.
pub fn time_steady(repeat: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    median(
        (0..repeat.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_pythons() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn warms_up_twice_then_times_each_repetition() {
        let mut calls = 0;
        let t = time_steady(3, || {
            calls += 1;
            std::thread::sleep(std::time::Duration::from_millis(if calls <= 2 {
                0
            } else {
                2
            }));
        });
        assert_eq!(calls, 5);
        assert!(t >= 0.002, "{t}");
        let mut once = 0;
        time_steady(0, || once += 1);
        assert_eq!(once, 3, "at least one timed run");
    }
}

/// Median seconds of each measured phase (`None` where a subject has no such phase).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    pub forward: f64,
    pub forward_backward: f64,
    pub step: Option<f64>,
    /// `Conv`, `TransposedConv`: forward + backward through Burn's own convolution.
    pub burn_forward_backward: Option<f64>,
    /// `Conv`, `TransposedConv`: whether ssl3d's path differs from Burn's on this backend.
    pub own_backward: bool,
}
