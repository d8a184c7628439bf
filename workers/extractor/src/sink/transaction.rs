//! A page's transaction runs on a thread of its own, watched from the async side.
//!
//! librdkafka's transactional calls take a timeout, but `send_offsets_to_transaction` ignores it
//! for as long as the group coordinator is down (confluentinc/librdkafka#5456, open in the 2.12
//! we build). On tokio's blocking pool such a call once held a write for ever, and with it the
//! replica's readiness and the runtime's shutdown (which waits for blocking tasks). Here the
//! watcher gives up on a step that runs well past its timeout: the producer is marked abandoned
//! and the write fails with [`SinkError::Stuck`], so the caller turns not ready and makes a new
//! producer (whose registration fences this one). Should the stuck call ever return, the thread
//! finds its producer abandoned and refuses every further step, so a producer the sink gave up on
//! never commits a page. Commits are never given up on: their outcome decides whether the page
//! was written, and librdkafka bounds them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;

use super::{SinkError, TxProducer};

/// How often the watcher looks at the running step.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The librdkafka call a transaction is in: named in [`SinkError::Stuck`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    ResumeCommit,
    ResumeAbort,
    Begin,
    Produce,
    SendOffsets,
    Commit,
    Abort,
}

impl Step {
    fn call(self) -> &'static str {
        match self {
            Step::ResumeCommit | Step::Commit => "commit_transaction",
            Step::ResumeAbort | Step::Abort => "abort_transaction",
            Step::Begin => "begin_transaction",
            Step::Produce => "produce",
            Step::SendOffsets => "send_offsets_to_transaction",
        }
    }

    /// A commit's outcome decides whether the page is written: waited for, never given up on.
    fn may_be_abandoned(self) -> bool {
        !matches!(self, Step::ResumeCommit | Step::Commit)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.call())
    }
}

/// A transactional producer with the state its transactions carry from one call to the next.
pub struct TxnProducer {
    pub(super) producer: TxProducer,
    /// A transaction failed and its abort has not completed yet: librdkafka wants the abort
    /// called again (it resumes) before the next transaction begins.
    pub(super) needs_abort: AtomicBool,
    /// A commit timed out and may still complete: it must be resumed, never aborted. Holds
    /// the id of the page it carries (0: none), because the page may have been abandoned
    /// meanwhile (its slot was revoked) and the next call bring another page.
    pub(super) commit_pending: AtomicU64,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    /// The step running now and since when.
    running: Option<(Step, Instant)>,
    /// Set once by the watcher: the step it gave up on and when that step had started.
    abandoned: Option<(Step, Instant)>,
}

impl Progress {
    fn stuck(&self, timeout: Duration) -> Option<SinkError> {
        self.abandoned.map(|(step, since)| SinkError::Stuck {
            step,
            stuck_for: since.elapsed(),
            timeout,
        })
    }
}

impl TxnProducer {
    pub(super) fn new(producer: TxProducer) -> Self {
        TxnProducer {
            producer,
            needs_abort: AtomicBool::new(false),
            commit_pending: AtomicU64::new(0),
            progress: Mutex::new(Progress::default()),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        // Nothing panics while holding it; a poisoned lock still holds consistent data.
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives up on the running step when it has run longer than `limit` and may be given up on.
    fn abandon_if_stuck(&self, limit: Duration, timeout: Duration) -> Option<SinkError> {
        let mut progress = self.progress();
        let (step, since) = progress.running?;
        if !step.may_be_abandoned() || since.elapsed() < limit {
            return None;
        }
        progress.abandoned = Some((step, since));
        progress.stuck(timeout)
    }
}

/// The transaction's side of the watch: each librdkafka call is a named step.
pub struct Watched {
    txn: Arc<TxnProducer>,
    timeout: Duration,
}

impl Watched {
    pub fn state(&self) -> &TxnProducer {
        &self.txn
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one librdkafka call as `step`; refused once the producer is abandoned.
    pub fn step<T>(
        &self,
        step: Step,
        call: impl FnOnce(&TxProducer) -> Result<T, KafkaError>,
    ) -> Result<T, SinkError> {
        {
            let mut progress = self.txn.progress();
            if let Some(stuck) = progress.stuck(self.timeout) {
                return Err(stuck);
            }
            progress.running = Some((step, Instant::now()));
        }
        let result = call(&self.txn.producer);
        self.txn.progress().running = None;
        Ok(result?)
    }

    pub fn commit(&self, step: Step) -> Result<(), SinkError> {
        self.step(step, |p| p.commit_transaction(self.timeout))
    }

    /// Aborts the open transaction; an abort that cannot finish now is resumed before the next.
    pub fn abort_after_failure(&self) {
        self.txn.needs_abort.store(true, Ordering::SeqCst);
        match self.step(Step::Abort, |p| p.abort_transaction(self.timeout)) {
            Ok(()) => self.txn.needs_abort.store(false, Ordering::SeqCst),
            // Given up on: the new producer's registration makes the broker abort it.
            Err(SinkError::Stuck { .. }) => {}
            Err(abort) => {
                tracing::warn!(error = %abort, "aborting the Kafka transaction did not finish; it is resumed before the next one");
            }
        }
    }
}

/// A step is given up on when it runs this long: its own timeout plus as much again (at least
/// 5 s) for librdkafka's internal retries to answer.
fn stuck_after(timeout: Duration) -> Duration {
    timeout + timeout.max(Duration::from_secs(5))
}

/// Runs `work` on a thread of its own and waits for it, giving up (with [`SinkError::Stuck`])
/// on a step that runs past [`stuck_after`] its timeout. A producer given up on before fails
/// every call at once: the caller must make a new one.
pub async fn run_watched<T: Send + 'static>(
    txn: Arc<TxnProducer>,
    timeout: Duration,
    work: impl FnOnce(&Watched) -> Result<T, SinkError> + Send + 'static,
) -> Result<T, SinkError> {
    if let Some(stuck) = txn.progress().stuck(timeout) {
        return Err(stuck);
    }
    let (answer, mut answered) = tokio::sync::oneshot::channel();
    let watched = Watched {
        txn: txn.clone(),
        timeout,
    };
    // Not the blocking pool: a thread left stuck there keeps the runtime from shutting down.
    std::thread::Builder::new()
        .name("kafka-txn".into())
        .spawn(move || {
            let _ = answer.send(work(&watched));
        })
        .map_err(|e| SinkError::Join(format!("cannot start the transaction's thread: {e}")))?;
    let limit = stuck_after(timeout);
    loop {
        match tokio::time::timeout(WATCH_INTERVAL, &mut answered).await {
            Ok(Ok(result)) => return result,
            Ok(Err(_)) => {
                return Err(SinkError::Join(
                    "the transaction's thread ended without an answer (it panicked)".into(),
                ));
            }
            Err(_) => {
                if let Some(stuck) = txn.abandon_if_stuck(limit, timeout) {
                    tracing::error!(error = %stuck, "giving up on a Kafka call stuck past its timeout");
                    return Err(stuck);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_never_given_up_on_every_other_step_may_be() {
        for step in [
            Step::ResumeAbort,
            Step::Begin,
            Step::Produce,
            Step::SendOffsets,
            Step::Abort,
        ] {
            assert!(step.may_be_abandoned(), "{step:?}");
        }
        assert!(!Step::Commit.may_be_abandoned());
        assert!(!Step::ResumeCommit.may_be_abandoned());
    }

    #[test]
    fn a_step_is_given_up_on_after_its_timeout_and_as_much_again_at_least_five_seconds() {
        assert_eq!(stuck_after(Duration::from_secs(2)), Duration::from_secs(7));
        assert_eq!(
            stuck_after(Duration::from_secs(30)),
            Duration::from_secs(60)
        );
    }
}
