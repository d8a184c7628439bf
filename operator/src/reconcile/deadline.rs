//! One reconcile has an overall deadline, and knows which step it is in, so a reconcile that
//! would wait for ever instead fails with the step named (a Warning event, an error metric and a
//! requeue with backoff, like any other failure). Every call inside has its own, shorter bound;
//! this is the backstop that makes "no silent hang" hold by construction.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::Error;

/// The step a reconcile is in, shared between the reconcile and its deadline.
#[derive(Debug)]
pub struct Steps {
    started: Instant,
    current: Mutex<&'static str>,
}

impl Default for Steps {
    fn default() -> Self {
        Steps {
            started: Instant::now(),
            current: Mutex::new("start"),
        }
    }
}

impl Steps {
    /// Marks the start of `step`.
    pub fn enter(&self, step: &'static str) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = step;
    }

    /// The step entered last.
    pub fn current(&self) -> &'static str {
        *self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Time since the reconcile started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Runs `reconcile` for at most `deadline`; past it, the reconcile is dropped (every await point
/// cancels) and a [`Error::Timeout`] names the step it was stuck in.
pub async fn within<T>(
    deadline: Duration,
    steps: &Steps,
    reconcile: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(deadline, reconcile).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            step: steps.current(),
            deadline,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reconcile_stuck_in_a_step_fails_with_that_step_named() {
        let steps = Steps::default();
        let stuck = async {
            steps.enter("dependencies");
            std::future::pending::<()>().await;
            Ok(())
        };
        let error = within(Duration::from_millis(50), &steps, stuck)
            .await
            .expect_err("a step that never returns must time out");
        assert!(
            matches!(error, Error::Timeout { step: "dependencies", deadline } if deadline == Duration::from_millis(50)),
            "{error:?}"
        );
        assert_eq!(error.reason(), "ReconcileTimedOut");
        assert!(error.to_string().contains("dependencies"), "{error}");
    }

    #[tokio::test]
    async fn a_reconcile_that_finishes_in_time_keeps_its_result() {
        let steps = Steps::default();
        let done = async {
            steps.enter("status");
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(7)
        };
        assert_eq!(
            within(Duration::from_secs(90), &steps, done)
                .await
                .expect("in time"),
            7
        );
        assert_eq!(steps.current(), "status");
    }
}
