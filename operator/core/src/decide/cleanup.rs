//! What deletion does next, as one table: stop the workers first (so no producer writes to a
//! topic being deleted, and no extractor adds back a stream rule being deleted), then delete
//! topics and database under `deletionPolicy: Delete` and, whatever the policy, the pipeline's
//! filtered-stream rules, retrying an unreachable Kafka, MySQL or X API until a deadline, and
//! only then give up naming what is left.
//!
//! Why the operator deletes the rules and not the extractor: once the pipeline is gone no
//! extractor runs, and a rule left on the app still counts toward its 1,000-rule budget and
//! makes the app's other connections deliver (and X bill against the monthly post cap) posts
//! nobody stores. The operator holds the token Secrets until then (their finalizers).

use std::time::Duration;

use crate::crd::DeletionPolicy;

/// Seconds a worker pod gets to stop (its `terminationGracePeriodSeconds`) before the kubelet
/// kills it: enough to finish a page's transaction and leave the slot group.
pub const WORKER_TERMINATION_GRACE_SECONDS: i64 = 30;

/// Result of one attempt at a dependency's cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Not needed (Retain) or not tried yet.
    NotNeeded,
    /// Deleted.
    Done,
    /// Failed, with the reason in words.
    Failed(String),
    /// Not deleted on purpose, for this reason (another pipeline's): nothing to retry.
    LeftAlone(String),
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
    /// Whether the pipeline has (or had, as its status shows) stream queries, whose rules go
    /// with it under either policy.
    pub stream_rules: bool,
    /// Deletion of those rules.
    pub rules: Attempt,
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

/// How long deletion waits for worker pods at least, whatever the cleanup deadline: they get
/// [`WORKER_TERMINATION_GRACE_SECONDS`] to stop before the kubelet kills them, so on a healthy node
/// this never waits in vain; a shorter deadline would give up on a pod that is merely finishing.
pub const WORKERS_STOP_BOUND: Duration =
    Duration::from_secs(WORKER_TERMINATION_GRACE_SECONDS.unsigned_abs() + 30);

/// Whether worker pods still stopping are waited for no longer.
fn workers_out_of_time(facts: &CleanupFacts) -> bool {
    facts.elapsed >= facts.deadline.max(WORKERS_STOP_BOUND)
}

/// Whether this pass deletes: the topics and the database under `Delete`, the stream rules
/// under either policy; once the workers are gone, or once waiting for them is over (the user
/// asked for the data to go; a pod stuck in Terminating on a lost node must not keep it).
pub fn deletes_now(facts: &CleanupFacts) -> bool {
    (facts.policy == DeletionPolicy::Delete || facts.stream_rules)
        && (facts.workers_left == 0 || workers_out_of_time(facts))
}

/// Decides the next deletion step. Under `Retain` without stream rules the workloads go with the
/// pipeline through garbage collection, and nothing is waited for.
pub fn decide(facts: &CleanupFacts) -> CleanupOutcome {
    let deletes_data = facts.policy == DeletionPolicy::Delete;
    if !deletes_data && !facts.stream_rules {
        return CleanupOutcome::Finish {
            left_behind: Vec::new(),
        };
    }
    let out_of_time = facts.elapsed >= facts.deadline;
    if facts.workers_left > 0 && !workers_out_of_time(facts) {
        return CleanupOutcome::WaitForWorkers;
    }
    let stuck_workers = (facts.workers_left > 0).then(|| {
        format!(
            "{} worker pod(s) were still stopping when the deadline passed",
            facts.workers_left
        )
    });
    let mut unreachable = Vec::new();
    let mut attempts: Vec<(&str, &Attempt)> = Vec::new();
    if deletes_data {
        match &facts.missing_secret {
            Some(secret) => unreachable.push(format!(
                "topics and database not deleted: {secret}; delete them by hand"
            )),
            None => attempts.extend([("topics", &facts.topics), ("database", &facts.database)]),
        }
    }
    if facts.stream_rules {
        attempts.push(("stream rules", &facts.rules));
    }
    let failures: Vec<String> = attempts
        .iter()
        .filter_map(|(what, attempt)| match attempt {
            Attempt::Failed(why) => Some(format!("{what} not deleted: {why}")),
            _ => None,
        })
        .collect();
    let left_alone: Vec<String> = attempts
        .iter()
        .filter_map(|(_, attempt)| match attempt {
            Attempt::LeftAlone(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    if failures.is_empty() {
        return CleanupOutcome::Finish {
            left_behind: unreachable
                .into_iter()
                .chain(left_alone)
                .chain(stuck_workers)
                .collect(),
        };
    }
    if out_of_time {
        CleanupOutcome::Finish {
            left_behind: unreachable
                .into_iter()
                .chain(failures)
                .chain(left_alone)
                .chain(stuck_workers)
                .collect(),
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
            stream_rules: false,
            rules: Attempt::NotNeeded,
            elapsed: Duration::from_secs(5),
            deadline: Duration::from_secs(600),
        }
    }

    /// Stream rules go under either policy, after the workers (else an extractor would add
    /// them back), and an X API that fails is retried until the deadline like Kafka and MySQL.
    #[test]
    fn stream_rules_go_with_the_pipeline_under_either_policy() {
        let rules = |rules: Attempt| CleanupFacts {
            stream_rules: true,
            rules,
            ..facts()
        };
        let retain = |f: CleanupFacts| CleanupFacts {
            policy: DeletionPolicy::Retain,
            topics: Attempt::NotNeeded,
            database: Attempt::NotNeeded,
            ..f
        };
        let down = || Attempt::Failed("the X API answered 503".into());
        let late = Duration::from_secs(601);
        let cases: Vec<(&str, CleanupFacts, bool, CleanupOutcome)> = vec![
            (
                "retain with stream rules waits for the workers",
                retain(CleanupFacts {
                    workers_left: 2,
                    ..rules(Attempt::NotNeeded)
                }),
                false,
                CleanupOutcome::WaitForWorkers,
            ),
            (
                "retain, workers gone: the rules are deleted, the data kept",
                retain(rules(Attempt::Done)),
                true,
                CleanupOutcome::Finish {
                    left_behind: vec![],
                },
            ),
            (
                "X down: retry",
                retain(rules(down())),
                true,
                CleanupOutcome::Retry {
                    why: "stream rules not deleted: the X API answered 503".into(),
                },
            ),
            (
                "X down past the deadline: give up naming them",
                retain(CleanupFacts {
                    elapsed: late,
                    ..rules(down())
                }),
                true,
                CleanupOutcome::Finish {
                    left_behind: vec!["stream rules not deleted: the X API answered 503".into()],
                },
            ),
            (
                "delete: data and rules, both retried",
                CleanupFacts {
                    database: Attempt::Failed("MySQL unreachable".into()),
                    ..rules(down())
                },
                true,
                CleanupOutcome::Retry {
                    why: "database not deleted: MySQL unreachable; stream rules not deleted: the X API answered 503".into(),
                },
            ),
            (
                "delete with the MySQL Secret gone: the rules still go",
                CleanupFacts {
                    missing_secret: Some("Secret \"db\" is gone".into()),
                    ..rules(Attempt::Done)
                },
                true,
                CleanupOutcome::Finish {
                    left_behind: vec![
                        "topics and database not deleted: Secret \"db\" is gone; delete them by hand"
                            .into(),
                    ],
                },
            ),
        ];
        for (name, facts, deletes, expected) in cases {
            assert_eq!(deletes_now(&facts), deletes, "{name}");
            assert_eq!(decide(&facts), expected, "{name}");
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
            (
                "another pipeline's topics: left alone at once, no retry",
                CleanupFacts {
                    topics: Attempt::LeftAlone("topic t belongs to pipeline a/p".into()),
                    ..facts()
                },
                CleanupOutcome::Finish {
                    left_behind: vec!["topic t belongs to pipeline a/p".into()],
                },
            ),
            (
                "left alone and the database failing: retry the database only",
                CleanupFacts {
                    topics: Attempt::LeftAlone("topic t belongs to pipeline a/p".into()),
                    database: Attempt::Failed("MySQL unreachable".into()),
                    ..facts()
                },
                CleanupOutcome::Retry {
                    why: "database not deleted: MySQL unreachable".into(),
                },
            ),
        ];
        for (name, facts, expected) in cases {
            assert_eq!(decide(&facts), expected, "{name}");
        }
    }

    /// Found by the soak (`dev/soak.sh`, run 2): with a cleanup deadline no longer than the pods'
    /// grace period, a worker that took its full grace period to stop outlived the deadline; the
    /// reconcile then skipped the deletion (it deleted only with no worker left) while the
    /// decision finished, so a `Delete` pipeline kept its topics and database.
    #[test]
    fn past_the_wait_for_workers_the_data_is_deleted_anyway() {
        let past = WORKERS_STOP_BOUND + Duration::from_secs(1);
        let cases = [
            // (policy, workers left, elapsed, deadline, deletes now)
            (
                DeletionPolicy::Delete,
                0,
                Duration::ZERO,
                Duration::from_secs(600),
                true,
            ),
            (
                DeletionPolicy::Delete,
                2,
                Duration::from_secs(5),
                Duration::from_secs(600),
                false,
            ),
            (
                DeletionPolicy::Delete,
                1,
                Duration::from_secs(601),
                Duration::from_secs(600),
                true,
            ),
            // A deadline shorter than the pods' grace period still waits for them that long.
            (
                DeletionPolicy::Delete,
                1,
                Duration::from_secs(31),
                Duration::from_secs(30),
                false,
            ),
            (
                DeletionPolicy::Delete,
                1,
                past,
                Duration::from_secs(30),
                true,
            ),
            (
                DeletionPolicy::Retain,
                0,
                Duration::ZERO,
                Duration::from_secs(600),
                false,
            ),
        ];
        for (policy, workers_left, elapsed, deadline, expected) in cases {
            let facts = CleanupFacts {
                policy,
                workers_left,
                elapsed,
                deadline,
                ..facts()
            };
            assert_eq!(
                deletes_now(&facts),
                expected,
                "{policy:?}, {workers_left} left after {elapsed:?} (deadline {deadline:?})"
            );
        }
        let stuck_and_kafka_down = CleanupFacts {
            workers_left: 1,
            topics: Attempt::Failed("Kafka unreachable".into()),
            elapsed: Duration::from_secs(601),
            ..facts()
        };
        assert_eq!(
            decide(&stuck_and_kafka_down),
            CleanupOutcome::Finish {
                left_behind: vec![
                    "topics not deleted: Kafka unreachable".into(),
                    "1 worker pod(s) were still stopping when the deadline passed".into(),
                ],
            },
            "both are named"
        );
    }
}
