//! Which events a reconcile emits: condition transitions and what it changed in Kafka. Pure, so
//! "what does the user see on `kubectl describe`" is a unit test.

use crate::crd::{Condition, QueryStatus};

use super::conditions::{self, reasons, types};

/// Normal or Warning, as Kubernetes events are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something happened.
    Normal,
    /// Something needs attention.
    Warning,
}

/// One event to publish on the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// Normal or Warning.
    pub severity: Severity,
    /// CamelCase reason.
    pub reason: String,
    /// Text for people (no secrets).
    pub note: String,
}

impl EventSpec {
    /// Shorthand.
    pub fn new(severity: Severity, reason: &str, note: impl Into<String>) -> Self {
        EventSpec {
            severity,
            reason: reason.to_string(),
            note: note.into(),
        }
    }
}

/// Whether a condition in this state means something is wrong (Warning) rather than news.
fn is_bad(condition: &Condition) -> bool {
    let bad_when_false = [
        types::READY,
        types::SECRETS_RESOLVED,
        types::KAFKA_READY,
        types::MYSQL_READY,
        types::QUERIES_VALID,
    ];
    let bad = (bad_when_false.contains(&condition.type_.as_str()) && condition.status == "False")
        || (condition.type_ == types::MONTHLY_CAP && condition.status == "True");
    bad && !conditions::PROGRESSING_REASONS.contains(&condition.reason.as_str())
        && condition.reason != reasons::SUSPENDED
}

/// One event per condition whose status or reason changed, and per new condition in trouble.
pub fn condition_events(previous: &[Condition], next: &[Condition]) -> Vec<EventSpec> {
    conditions::transitions(previous, next)
        .into_iter()
        // A condition's first state is news only when it is trouble: a new pipeline whose
        // checks pass would otherwise post one Normal event per condition type, which says
        // nothing `status.conditions` does not, and at scale costs the API server a write each.
        .filter_map(|(condition, before)| {
            let bad = is_bad(condition);
            (before.is_some() || bad).then(|| {
                EventSpec::new(
                    if bad {
                        Severity::Warning
                    } else {
                        Severity::Normal
                    },
                    &condition.reason,
                    format!(
                        "{} is {}: {}",
                        condition.type_, condition.status, condition.message
                    ),
                )
            })
        })
        .collect()
}

/// Events for topics the reconcile created, grew or corrected.
pub fn topic_events(created: &[String], grown: &[String], corrected: &[String]) -> Vec<EventSpec> {
    [
        ("TopicsCreated", "Kafka topics created", created),
        ("PartitionsGrown", "partitions grown to the spec on", grown),
        (
            "TopicConfigCorrected",
            "config drift corrected on",
            corrected,
        ),
    ]
    .into_iter()
    .filter(|(_, _, topics)| !topics.is_empty())
    .map(|(reason, what, topics)| {
        EventSpec::new(
            Severity::Normal,
            reason,
            format!("{what}: {}", topics.join(", ")),
        )
    })
    .collect()
}

/// A Warning per query whose checkpoint newly fell out of the API's 7-day window: posts in
/// the recorded range can no longer be fetched (the query itself goes on).
pub fn gap_events(previous: &[QueryStatus], next: &[QueryStatus]) -> Vec<EventSpec> {
    next.iter()
        .filter(|q| {
            let before = previous
                .iter()
                .find(|p| p.name == q.name)
                .map_or(0, |p| p.gaps_total);
            q.gaps_total > before
        })
        .map(|q| {
            EventSpec::new(
                Severity::Warning,
                "CheckpointGap",
                format!(
                    "query {}: its checkpoint was older than the API's 7-day window, so it resumed from the window's start; posts from {} cannot be fetched",
                    q.name,
                    q.last_gap.as_deref().unwrap_or("an unknown range")
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: "m".into(),
            last_transition_time: String::new(),
            observed_generation: None,
        }
    }

    #[test]
    fn transitions_become_events_with_the_right_severity() {
        let cases = [
            // (before, after, expected severity or none)
            // A first state that is not trouble is no news: it is in the status.
            (None, condition(types::READY, "True", "PipelineReady"), None),
            (
                None,
                condition(types::KAFKA_READY, "True", "TopicsReady"),
                None,
            ),
            (
                None,
                condition(types::READY, "False", "WorkloadsNotReady"),
                None,
            ),
            // A first state in trouble is.
            (
                None,
                condition(types::READY, "False", "KafkaUnreachable"),
                Some(Severity::Warning),
            ),
            (
                Some(condition(types::READY, "False", "WorkloadsNotReady")),
                condition(types::READY, "True", "PipelineReady"),
                Some(Severity::Normal),
            ),
            (
                Some(condition(types::READY, "True", "PipelineReady")),
                condition(types::READY, "False", "KafkaUnreachable"),
                Some(Severity::Warning),
            ),
            (
                Some(condition(types::READY, "True", "PipelineReady")),
                condition(types::READY, "False", "WorkloadsNotReady"),
                Some(Severity::Normal),
            ),
            (
                Some(condition(types::READY, "False", "KafkaUnreachable")),
                condition(types::READY, "False", "KafkaUnreachable"),
                None,
            ),
            (
                None,
                condition(types::MONTHLY_CAP, "True", "CapReached"),
                Some(Severity::Warning),
            ),
            (
                None,
                condition(types::QUERIES_VALID, "False", reasons::QUERY_INVALID),
                Some(Severity::Warning),
            ),
        ];
        for (before, after, expected) in cases {
            let before: Vec<Condition> = before.into_iter().collect();
            let events = condition_events(&before, std::slice::from_ref(&after));
            assert_eq!(
                events.first().map(|e| e.severity),
                expected,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn a_new_gap_is_a_warning_once() {
        let query = |gaps_total| QueryStatus {
            name: "q".into(),
            gaps_total,
            last_gap: Some("a to b".into()),
            ..QueryStatus::default()
        };
        let events = gap_events(&[query(1)], &[query(2)]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].severity, Severity::Warning);
        assert!(
            events[0].note.contains("posts from a to b"),
            "{}",
            events[0].note
        );
        assert!(gap_events(&[query(2)], &[query(2)]).is_empty(), "not again");
        assert_eq!(gap_events(&[], &[query(1)]).len(), 1, "first status");
    }

    #[test]
    fn topic_changes_are_reported_once_each() {
        let events = topic_events(&["a".into(), "b".into()], &[], &["c".into()]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].reason, "TopicsCreated");
        assert_eq!(events[0].note, "Kafka topics created: a, b");
        assert_eq!(events[1].reason, "TopicConfigCorrected");
    }
}
