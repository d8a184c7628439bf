//! Hand-over order for work that completes out of order. The writer stores several batches at
//! once and each store ends when its own transaction does; what follows a store (dead letters,
//! the offset commit) must still run in the order the batcher handed the batches over, so a
//! partition's committed offset never passes a batch that is not yet in MySQL.
//!
//! Holding finished batches here, rather than holding their store slots until every earlier
//! batch is done, keeps every connection busy while one transaction waits on a lock.

use std::collections::BTreeMap;

/// Items numbered in hand-over order, released in that order once they complete.
#[derive(Debug)]
pub struct InOrder<T> {
    next_number: u64,
    next_release: u64,
    completed: BTreeMap<u64, T>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self {
            next_number: 0,
            next_release: 0,
            completed: BTreeMap::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// The number of the next item handed over.
    pub fn hand_over(&mut self) -> u64 {
        let number = self.next_number;
        self.next_number += 1;
        number
    }

    /// Records that item `number` completed with `item`.
    pub fn complete(&mut self, number: u64, item: T) {
        debug_assert!(
            number >= self.next_release && number < self.next_number,
            "item {number} was not handed over or was released already"
        );
        self.completed.insert(number, item);
    }

    /// The next item in hand-over order, once it has completed.
    pub fn release(&mut self) -> Option<T> {
        let item = self.completed.remove(&self.next_release)?;
        self.next_release += 1;
        Some(item)
    }

    /// Items handed over and not released yet: running, or completed before their turn.
    pub fn outstanding(&self) -> u64 {
        self.next_number - self.next_release
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Completes items in `completion` order and returns what each completion released.
    fn run(count: u64, completion: &[u64]) -> Vec<Vec<u64>> {
        let mut order = InOrder::default();
        let numbers: Vec<u64> = (0..count).map(|_| order.hand_over()).collect();
        assert_eq!(numbers, (0..count).collect::<Vec<_>>());
        completion
            .iter()
            .map(|&n| {
                order.complete(n, n);
                std::iter::from_fn(|| order.release()).collect()
            })
            .collect()
    }

    #[test]
    fn items_are_released_in_hand_over_order_whatever_order_they_complete_in() {
        let cases: [(&[u64], Vec<Vec<u64>>); 4] = [
            (&[0, 1, 2, 3], vec![vec![0], vec![1], vec![2], vec![3]]),
            (
                &[3, 2, 1, 0],
                vec![vec![], vec![], vec![], vec![0, 1, 2, 3]],
            ),
            (&[1, 0, 3, 2], vec![vec![], vec![0, 1], vec![], vec![2, 3]]),
            (&[2, 0, 3, 1], vec![vec![], vec![0], vec![], vec![1, 2, 3]]),
        ];
        for (completion, released) in cases {
            assert_eq!(run(4, completion), released, "completion {completion:?}");
        }
    }

    #[test]
    fn outstanding_counts_running_and_completed_out_of_turn() {
        let mut order = InOrder::default();
        for _ in 0..3 {
            order.hand_over();
        }
        assert_eq!(order.outstanding(), 3);
        order.complete(2, "c");
        assert_eq!(order.release(), None, "item 0 is still running");
        assert_eq!(order.outstanding(), 3);
        order.complete(0, "a");
        assert_eq!(order.release(), Some("a"));
        assert_eq!(order.release(), None, "item 1 is still running");
        assert_eq!(order.outstanding(), 2);
        order.complete(1, "b");
        assert_eq!(order.release(), Some("b"));
        assert_eq!(order.release(), Some("c"));
        assert_eq!(order.outstanding(), 0);
    }
}
