//! Which partitions this member owns, and since which assignment.
//!
//! Every assignment of a partition gets a new *epoch*. A record carries the epoch its
//! partition had when it was consumed; the writer may send that record's dead letter and
//! commit its offset only while the partition still has that epoch. A partition revoked (or
//! revoked and given back, which restarts consumption from the committed offset) has a
//! different epoch or none, so work consumed under an older assignment is never committed:
//! committed offsets cannot move backwards behind the new owner's, and the new owner, which
//! consumes the same records again, is the only one to dead-letter them.
//!
//! The check and its side effects (dead letters, commit) run under a [`Seal`]. Revoking waits
//! until no seal holds a revoked partition, so a dead letter that was sent is always followed
//! by its commit before the partition changes hands.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// `(topic, partition)`.
pub type PartitionKey = (String, i32);

/// Assignment epochs, shared by the rebalance callbacks and the writer.
#[derive(Debug, Default)]
pub struct Ownership {
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct State {
    epochs: HashMap<PartitionKey, u64>,
    last_epoch: u64,
    /// Partitions some [`Seal`] is committing right now, with how many seals hold each.
    sealed: HashMap<PartitionKey, usize>,
}

impl Ownership {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock, so a panicked holder leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The partitions were assigned to this member: each starts a new epoch.
    pub fn assign(&self, partitions: impl IntoIterator<Item = PartitionKey>) {
        let mut state = self.state();
        for key in partitions {
            state.last_epoch += 1;
            let epoch = state.last_epoch;
            state.epochs.insert(key, epoch);
        }
    }

    /// The partitions are being taken away. From now on no seal includes them; then waits (at
    /// most `wait`) until the seals that already include them are dropped. Returns false when
    /// the wait ran out (a dead letter already sent may then be sent again by the new owner).
    pub fn revoke(&self, partitions: &[PartitionKey], wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut state = self.state();
        for key in partitions {
            state.epochs.remove(key);
        }
        loop {
            if !partitions.iter().any(|key| state.sealed.contains_key(key)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .released
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The current epoch of a partition, `None` when this member does not own it.
    pub fn epoch(&self, key: &PartitionKey) -> Option<u64> {
        self.state().epochs.get(key).copied()
    }

    /// Seals the partitions of `consumed` (partition → epoch when consumed) that this member
    /// still owns under the same epoch. Until the seal is dropped, revoking them waits.
    pub fn seal<'a, I>(&self, consumed: I) -> Seal<'_>
    where
        I: IntoIterator<Item = (&'a PartitionKey, u64)>,
    {
        let mut state = self.state();
        let mut owned = BTreeSet::new();
        for (key, epoch) in consumed {
            if state.epochs.get(key) == Some(&epoch) {
                owned.insert(key.clone());
            }
        }
        for key in &owned {
            *state.sealed.entry(key.clone()).or_default() += 1;
        }
        Seal {
            ownership: self,
            owned,
        }
    }
}

/// The partitions of a batch this member still owns, held while their dead letters are sent
/// and their offsets committed.
#[derive(Debug)]
pub struct Seal<'a> {
    ownership: &'a Ownership,
    owned: BTreeSet<PartitionKey>,
}

impl Seal<'_> {
    pub fn owns(&self, key: &PartitionKey) -> bool {
        self.owned.contains(key)
    }

    /// Keeps the entries of `offsets` whose partition this seal owns.
    pub fn owned_offsets<V: Copy>(
        &self,
        offsets: &BTreeMap<PartitionKey, V>,
    ) -> BTreeMap<PartitionKey, V> {
        offsets
            .iter()
            .filter(|(key, _)| self.owns(key))
            .map(|(key, value)| (key.clone(), *value))
            .collect()
    }
}

impl Drop for Seal<'_> {
    fn drop(&mut self) {
        let mut state = self.ownership.state();
        for key in &self.owned {
            if let Some(count) = state.sealed.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    state.sealed.remove(key);
                }
            }
        }
        drop(state);
        self.ownership.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(partition: i32) -> PartitionKey {
        ("t".to_owned(), partition)
    }

    #[test]
    fn only_the_current_epoch_is_sealed() {
        let ownership = Ownership::new();
        ownership.assign([key(0), key(1)]);
        let e0 = ownership.epoch(&key(0)).expect("owned");
        let e1 = ownership.epoch(&key(1)).expect("owned");
        assert!(ownership.revoke(&[key(1)], Duration::ZERO));
        assert_eq!(ownership.epoch(&key(1)), None);
        // Given back: a new epoch, so work consumed before the revoke stays uncommitted.
        ownership.assign([key(1)]);
        assert_ne!(ownership.epoch(&key(1)), Some(e1));
        let (k0, k1) = (key(0), key(1));
        let seal = ownership.seal([(&k0, e0), (&k1, e1)]);
        assert!(seal.owns(&k0));
        assert!(!seal.owns(&k1));
        let offsets = BTreeMap::from([(k0.clone(), 10_i64), (k1.clone(), 20)]);
        assert_eq!(seal.owned_offsets(&offsets), BTreeMap::from([(k0, 10)]));
    }

    #[test]
    fn revoke_waits_for_the_seal_and_gives_up_after_its_wait() {
        let ownership = Arc::new(Ownership::new());
        ownership.assign([key(0)]);
        let k0 = key(0);
        let epoch = ownership.epoch(&k0).expect("owned");
        let seal = ownership.seal([(&k0, epoch)]);
        // Held: the revoke gives up after its wait.
        assert!(!ownership.revoke(&[key(0)], Duration::from_millis(20)));
        drop(seal);

        ownership.assign([key(0)]);
        let epoch = ownership.epoch(&k0).expect("owned");
        let (sealed_tx, sealed_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let ownership = Arc::clone(&ownership);
            std::thread::spawn(move || {
                let k0 = key(0);
                let _seal = ownership.seal([(&k0, epoch)]);
                sealed_tx.send(()).expect("send");
                release_rx.recv().expect("recv");
            })
        };
        sealed_rx.recv().expect("sealed");
        let revoker = {
            let ownership = Arc::clone(&ownership);
            std::thread::spawn(move || ownership.revoke(&[key(0)], Duration::from_secs(60)))
        };
        release_tx.send(()).expect("release");
        holder.join().expect("holder");
        assert!(
            revoker.join().expect("revoker"),
            "the revoke saw the seal go"
        );
        // Revoked: a new seal for the old epoch owns nothing.
        assert!(!ownership.seal([(&k0, epoch)]).owns(&k0));
    }
}
