//! ssl3d's data randomness is a pure function of (run seed, epoch, item): the item's pipeline is
//! seeded like MONAI's `Compose.set_random_state` with a 32-bit seed mixed from the three, and the
//! epoch's order is a shuffle seeded from (run seed, epoch). Nothing depends on thread scheduling or
//! worker count, so a run and its resume see the same data.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// SplitMix64 finaliser: a well-mixed 64-bit value from any input.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `Compose` seed of item `item` in epoch `epoch` of a run seeded `run_seed`.
pub(crate) fn item_seed(run_seed: u64, epoch: u64, item: u64) -> u32 {
    (mix(mix(mix(run_seed) ^ epoch) ^ item) >> 32) as u32
}

/// The visiting order of `n` items in `epoch` (shuffled, or in datalist order).
pub fn epoch_order(n: usize, run_seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut rng = StdRng::seed_from_u64(mix(mix(run_seed ^ 0x5EED) ^ epoch));
        order.shuffle(&mut rng);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_every_input_and_nothing_else() {
        assert_eq!(item_seed(1, 2, 3), item_seed(1, 2, 3));
        assert_ne!(item_seed(1, 2, 3), item_seed(1, 2, 4));
        assert_ne!(item_seed(1, 2, 3), item_seed(1, 3, 3));
        assert_ne!(item_seed(1, 2, 3), item_seed(2, 2, 3));
        let a = epoch_order(10, 7, 0, true);
        assert_eq!(a, epoch_order(10, 7, 0, true));
        assert_ne!(a, epoch_order(10, 7, 1, true));
        assert_eq!(epoch_order(4, 7, 0, false), vec![0, 1, 2, 3]);
    }
}
