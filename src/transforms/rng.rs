//! numpy's legacy `RandomState` (MT19937), the generator behind every MONAI random transform.
//! Draws must equal numpy's bit for bit, so this ports numpy's algorithms rather than using the
//! `rand` crate: seeding (`init_genrand`), `random_sample`, `uniform`, `randint` (masked rejection,
//! no draw for a one-value range), `shuffle` (legacy Fisher–Yates) and `multinomial(1, p)`.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// `np.random.RandomState(seed)`.
#[derive(Clone)]
pub struct RandomState {
    mt: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RandomState(pos {})", self.pos)
    }
}

impl RandomState {
    /// Seeds like `RandomState(seed)` for an integer seed in `0..2^32`.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        RandomState { mt, pos: N }
    }

    fn generate(&mut self) {
        for i in 0..N {
            let y = (self.mt[i] & UPPER_MASK) | (self.mt[(i + 1) % N] & LOWER_MASK);
            let mut v = self.mt[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= MATRIX_A;
            }
            self.mt[i] = v;
        }
        self.pos = 0;
    }

    /// One tempered 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.generate();
        }
        let mut y = self.mt[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `rand()` / `random_sample()`: a double in [0, 1) from two 32-bit draws.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `uniform(lo, hi)`: `lo + (hi − lo)·random_sample()` in f64.
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.random_sample()
    }

    /// Masked rejection sampling of a value in `0..=max` (numpy's `random_interval` and
    /// `buffered_bounded_masked_uint32` agree for ranges below 2^32).
    fn bounded(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        if max == u32::MAX as u64 {
            return self.next_u32() as u64;
        }
        assert!(
            max < u32::MAX as u64,
            "ranges of 2^32 or more are not needed here"
        );
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = (self.next_u32() as u64) & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `randint(low, high)` (int64): uniform in `[low, high)`; no draw when the range is one value.
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low, "randint: empty range [{low}, {high})");
        low + self.bounded((high - 1 - low) as u64) as i64
    }

    /// `randint(2**32, dtype=uint32)`: exactly one 32-bit draw (how MONAI makes sub-seeds).
    pub fn randint_u32(&mut self) -> u32 {
        self.next_u32()
    }

    /// `shuffle(x)` for a 1-D array: legacy Fisher–Yates from the end.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.bounded(i as u64) as usize;
            x.swap(i, j);
        }
    }

    /// Legacy `binomial(n=1, p)`: inversion (`U > q^n`, with `q^n = exp(n·ln q)` as numpy computes
    /// it) for p ≤ 0.5, mirrored above. One double unless p is 0.
    fn binomial_one(&mut self, p: f64) -> u64 {
        if p == 0.0 {
            return 0;
        }
        let p = p.min(1.0);
        if p <= 0.5 {
            let qn = (1.0 - p).ln().exp();
            (self.random_sample() > qn) as u64
        } else {
            let qn = p.ln().exp();
            1 - (self.random_sample() > qn) as u64
        }
    }

    /// `multinomial(1, weights).argmax()`: the index chosen by one multinomial trial (weights are
    /// normalised first). For two equal weights this is one double `u`, index 0 iff `u > 0.5`.
    pub fn choice_multinomial(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut remaining = 1.0f64;
        for (i, w) in weights[..weights.len() - 1].iter().enumerate() {
            let p = w / total;
            if self.binomial_one(p / remaining) == 1 {
                return i;
            }
            remaining -= p;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_seed_123_first_outputs() {
        let mut r = RandomState::new(123);
        assert_eq!(r.next_u32(), 2991312382);
        assert_eq!(r.next_u32(), 3062119789);
        let mut r = RandomState::new(123);
        assert_eq!(r.random_sample(), 0.6964691855978616);
    }
}
