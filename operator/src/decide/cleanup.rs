//! What deletion does next, as one table: stop the workers first (so no producer writes to a
//! topic being deleted), then delete topics and database under `deletionPolicy: Delete`, retrying
//! an unreachable Kafka or MySQL until a deadline, and only then give up naming what is left.

use std::time::Duration;

use crate::crd::DeletionPolicy;

/// Result of one attempt at a dependency's cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Not needed (Retain) or not tried yet.
    NotNeeded,
    /// Deleted.
    Done,
    /// Failed, with the reason in words.
    Failed(String),
}

/// What deletion saw this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupFacts {
    /// The pipeline's policy.
    pub policy: DeletionPolicy,
    /// Worker pods still running.
    pub workers_left: usize,
    /// The Secrets needed to reach Kafka and MySQL, if any is missing (named).
    pub missing_secret: Option<String>,
    /// Topic deletion.
    pub topics: Attempt,
    /// Database and accounts.
    pub database: Attempt,
    /// Time since deletion was requested.
    pub elapsed: Duration,
    /// How long to keep retrying.
    pub deadline: Duration,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupOutcome {
    /// Stop the workers and look again shortly.
    WaitForWorkers,
    /// Nothing (more) to do: release the finalizer. `left_behind` names what was not deleted
    /// (a Warning event), empty when everything asked for is gone.
    Finish { left_behind: Vec<String> },
    /// Try the failed parts again after a backoff; `why` for a Normal event.
    Retry { why: String },
}

/// Decides the next deletion step. `workers_left` only matters under `Delete`: under `Retain`
/// the workloads go with the pipeline through garbage collection.
pub fn decide(facts: &CleanupFacts) -> CleanupOutcome {
    if facts.policy == DeletionPolicy::Retain {
        return CleanupOutcome::Finish {
            left_behind: Vec::new(),
        };
    }
    let out_of_time = facts.elapsed >= facts.deadline;
    if facts.workers_left > 0 && !out_of_time {
        return CleanupOutcome::WaitForWorkers;
    }
    if let Some(secret) = &facts.missing_secret {
        return CleanupOutcome::Finish {
            left_behind: vec![format!(
                "topics and database not deleted: {secret}; delete them by hand"
            )],
        };
    }
    let failures: Vec<String> = [("topics", &facts.topics), ("database", &facts.database)]
        .into_iter()
        .filter_map(|(what, attempt)| match attempt {
            Attempt::Failed(why) => Some(format!("{what} not deleted: {why}")),
            _ => None,
        })
        .collect();
    if failures.is_empty() {
        let mut left_behind = Vec::new();
        if facts.workers_left > 0 {
            left_behind.push(format!(
                "{} worker pod(s) were still stopping when the deadline passed",
                facts.workers_left
            ));
        }
        return CleanupOutcome::Finish { left_behind };
    }
    if out_of_time {
        CleanupOutcome::Finish {
            left_behind: failures,
        }
    } else {
        CleanupOutcome::Retry {
            why: failures.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CleanupFacts {
        CleanupFacts {
            policy: DeletionPolicy::Delete,
            workers_left: 0,
            missing_secret: None,
            topics: Attempt::Done,
            database: Attempt::Done,
            elapsed: Duration::from_secs(5),
            deadline: Duration::from_secs(600),
        }
    }

    #[test]
    fn the_cleanup_table() {
        let failed = || Attempt::Failed("Kafka unreachable".into());
        let late = Duration::from_secs(601);
        let cases: Vec<(&str, CleanupFacts, CleanupOutcome)> = vec![
            (
                "retain finishes at once, workers or not",
                CleanupFacts {
                    policy: DeletionPolicy::Retain,
                    workers_left: 3,
                    ..facts()
                },
                CleanupOutcome::Finish {
                    left_behind: vec![],
                },
            ),
            (
                "delete waits for workers",
                CleanupFacts {
                    workers_left: 2,
                    ..facts()
                },
                CleanupOutcome::WaitForWorkers,
            ),
            (
                "everything deleted",
                facts(),
                CleanupOutcome::Finish {
                    left_behind: vec![],
                },
            ),
            (
                "kafka down: retry",
                CleanupFacts {
                    topics: failed(),
                    ..facts()
                },
                CleanupOutcome::Retry {
                    why: "topics not deleted: Kafka unreachable".into(),
                },
            ),
            (
                "kafka down past the deadline: give up naming it",
                CleanupFacts {
                    topics: failed(),
                    elapsed: late,
                    ..facts()
                },
                CleanupOutcome::Finish {
                    left_behind: vec!["topics not deleted: Kafka unreachable".into()],
                },
            ),
            (
                "secret gone: finish naming what is left",
                CleanupFacts {
                    missing_secret: Some("Secret \"db\" is gone".into()),
                    topics: Attempt::NotNeeded,
                    database: Attempt::NotNeeded,
                    ..facts()
                },
                CleanupOutcome::Finish {
                    left_behind: vec![
                        "topics and database not deleted: Secret \"db\" is gone; delete them by hand"
                            .into(),
                    ],
                },
            ),
            (
                "workers stuck past the deadline: delete anyway and say so",
                CleanupFacts {
                    workers_left: 1,
                    elapsed: late,
                    ..facts()
                },
                CleanupOutcome::Finish {
                    left_behind: vec![
                        "1 worker pod(s) were still stopping when the deadline passed".into(),
                    ],
                },
            ),
        ];
        for (name, facts, expected) in cases {
            assert_eq!(decide(&facts), expected, "{name}");
        }
    }
}
