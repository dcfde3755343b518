//! Which share of an epoch one process of a data-parallel run reads: PyTorch's
//! `DistributedSampler` (without `drop_last`). The epoch's order is padded by repeating its start
//! to a multiple of the number of processes, then process `rank` takes every `world`-th item from
//! position `rank`, so every process has the same number of items. Items are still made from
//! (seed, epoch, item), so which process an item lands on does not change its crops, and the
//! processes' batches at one step together hold the items of the same step's batch of a single
//! process with `world` times the batch (in another order).

use serde::{Deserialize, Serialize};

/// One process's share: `rank` of `world` (0 of 1: the whole epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub rank: usize,
    pub world: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl Shard {
    /// A single process reads everything.
    pub const WHOLE: Shard = Shard { rank: 0, world: 1 };

    /// This share of an epoch's `order`.
    pub fn of(&self, order: &[usize]) -> Vec<usize> {
        if self.world <= 1 || order.is_empty() {
            return order.to_vec();
        }
        let total = self.len(order.len()) * self.world;
        let padded = order.iter().copied().cycle().take(total);
        padded.skip(self.rank).step_by(self.world).collect()
    }

    /// Items in this share of an epoch of `n` items (the same for every rank).
    pub fn len(&self, n: usize) -> usize {
        n.div_ceil(self.world.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torch.utils.data.DistributedSampler(shuffle=False) over 10 items on 3 ranks:
    /// [0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1].
    #[test]
    fn pads_by_repeating_the_start_then_interleaves() {
        let order: Vec<usize> = (0..10).collect();
        let shares: Vec<Vec<usize>> = (0..3)
            .map(|rank| Shard { rank, world: 3 }.of(&order))
            .collect();
        assert_eq!(
            shares,
            vec![vec![0, 3, 6, 9], vec![1, 4, 7, 0], vec![2, 5, 8, 1]]
        );
        assert_eq!(Shard::WHOLE.of(&order), order);
        // More ranks than items: the order repeats whole.
        assert_eq!(Shard { rank: 4, world: 5 }.of(&[7, 8]), vec![7]);
        assert_eq!(Shard { rank: 3, world: 5 }.of(&[7, 8]), vec![8]);
    }
}
