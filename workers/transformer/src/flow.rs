//! Why consumption is paused and why the transformer is not ready.
//!
//! The batcher never stops polling Kafka: stopping would make the member leave its group once
//! `max.poll.interval.ms` passes, and the group would churn. When it must not take more records
//! (the writer is behind because MySQL is down; the schema registry is unavailable) it pauses
//! every assigned partition instead, and resumes them when the last reason is gone. A partition
//! assigned while paused is paused at once (see `context.rs`).

use std::sync::atomic::{AtomicU8, Ordering};

use rdkafka::consumer::{Consumer, ConsumerContext};
use tweetpipe_common::serve::Readiness;

/// A reason to hold consumption, or to report not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The writer has no room for another batch (MySQL is down or slow).
    WriterBehind,
    /// The schema registry cannot answer; records wait to be decoded.
    RegistryUnavailable,
    /// MySQL does not take writes (readiness only).
    MysqlUnavailable,
}

impl Hold {
    fn bit(self) -> u8 {
        match self {
            Hold::WriterBehind => 1,
            Hold::RegistryUnavailable => 2,
            Hold::MysqlUnavailable => 4,
        }
    }

    /// Whether this reason pauses the partitions (MySQL's outage does so through the writer
    /// falling behind, which also covers a MySQL that is up but slow).
    fn pauses(self) -> bool {
        !matches!(self, Hold::MysqlUnavailable)
    }
}

const PAUSING: u8 = 1 | 2;
/// Falling behind is ordinary back-pressure, not a fault: it pauses but leaves the pod ready.
const UNREADY: u8 = 2 | 4;

/// The active reasons, shared by the batcher, the writer and the rebalance callbacks.
#[derive(Debug)]
pub struct Flow {
    reasons: AtomicU8,
    readiness: Readiness,
}

impl Flow {
    pub fn new(readiness: Readiness) -> Self {
        Self {
            reasons: AtomicU8::new(0),
            readiness,
        }
    }

    /// True while the assigned partitions must stay paused.
    pub fn is_paused(&self) -> bool {
        self.reasons.load(Ordering::SeqCst) & PAUSING != 0
    }

    /// Adds a reason; pauses the assignment when it is the first pausing one.
    pub fn hold<C: ConsumerContext>(&self, consumer: &impl Consumer<C>, hold: Hold) {
        let before = self.reasons.fetch_or(hold.bit(), Ordering::SeqCst);
        self.readiness.set((before | hold.bit()) & UNREADY == 0);
        if hold.pauses() && before & PAUSING == 0 {
            set_paused(consumer, true);
        }
    }

    /// Removes a reason; resumes the assignment when no pausing reason is left.
    pub fn release<C: ConsumerContext>(&self, consumer: &impl Consumer<C>, hold: Hold) {
        let before = self.reasons.fetch_and(!hold.bit(), Ordering::SeqCst);
        let after = before & !hold.bit();
        self.readiness.set(after & UNREADY == 0);
        if hold.pauses() && before & PAUSING != 0 && after & PAUSING == 0 {
            set_paused(consumer, false);
        }
    }

    /// Sets or clears a reason that only affects readiness (no consumer at hand).
    pub fn set_unready(&self, hold: Hold, unready: bool) {
        debug_assert!(!hold.pauses());
        let after = if unready {
            self.reasons.fetch_or(hold.bit(), Ordering::SeqCst) | hold.bit()
        } else {
            self.reasons.fetch_and(!hold.bit(), Ordering::SeqCst) & !hold.bit()
        };
        self.readiness.set(after & UNREADY == 0);
    }
}

fn set_paused<C: ConsumerContext>(consumer: &impl Consumer<C>, pause: bool) {
    let assignment = match consumer.assignment() {
        Ok(assignment) => assignment,
        Err(error) => {
            tracing::warn!(%error, "cannot read the assignment to pause or resume it");
            return;
        }
    };
    if assignment.count() == 0 {
        return;
    }
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match result {
        Ok(()) => tracing::info!(
            partitions = assignment.count(),
            paused = pause,
            "consumption {}",
            if pause { "paused" } else { "resumed" }
        ),
        Err(error) => tracing::warn!(%error, paused = pause, "cannot pause or resume"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_reason_gone() {
        let readiness = Readiness::new();
        readiness.set(true);
        let flow = Flow::new(readiness.clone());
        flow.set_unready(Hold::MysqlUnavailable, true);
        assert!(!readiness.is_ready());
        assert!(!flow.is_paused(), "MySQL alone pauses through the writer");
        flow.set_unready(Hold::MysqlUnavailable, false);
        assert!(readiness.is_ready());
    }
}
