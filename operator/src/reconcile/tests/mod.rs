//! One reconcile's I/O against a mock API server ([`crate::test_support::mock_api`]): which
//! requests it sends, in which order, with which bodies; and that it sends nothing else. Paths that
//! do not reach Kafka or MySQL: missing Secrets (`missing_secrets`) and deletion (`deletion`).
//! The helpers here are shared by them.

mod deletion;
mod missing_secrets;

use std::collections::BTreeMap;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use crate::crd::{Condition, TweetPipeline, TweetPipelineStatus};
use crate::decide::events::{Severity, condition_events};
use crate::test_support::mock_api::{MockApi, Started, verified};

fn condition<'a>(status: &'a TweetPipelineStatus, type_: &str) -> &'a Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", status.conditions))
}

/// After the status patch of a first reconcile: the events of the new conditions (each is new,
/// so each has one; which and what they say is `decide::events`' business, tested there), in the
/// conditions' order. The I/O asserted here: a first event of a (type, reason) is a POST; a later
/// one with the same type and reason is folded by kube's recorder into the first (a PATCH of that
/// event's series count, which keeps the first event's note). The SecretMissing Warning names the
/// Secret.
async fn expect_condition_events(api: &mut MockApi, status: &TweetPipelineStatus) {
    let specs = condition_events(&[], &status.conditions);
    assert_eq!(
        specs.len(),
        status.conditions.len(),
        "one event per new condition"
    );
    // (type, reason) -> (name of the event posted, its note, times seen)
    let mut posted: BTreeMap<(&str, String), (String, Value, i64)> = BTreeMap::new();
    for spec in &specs {
        let type_ = match spec.severity {
            Severity::Normal => "Normal",
            Severity::Warning => "Warning",
        };
        let waiting_for = format!("the {type_} event {}", spec.reason);
        let key = (type_, spec.reason.clone());
        let event = match posted.get_mut(&key) {
            None => {
                let event = api.expect_event(&waiting_for).await;
                assert_eq!(event["note"], json!(spec.note), "{event}");
                assert!(event.get("series").is_none(), "{event}");
                let name = event["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                posted.insert(key, (name, event["note"].clone(), 1));
                event
            }
            Some((name, first_note, count)) => {
                let event = api.expect_event_repeat(name, &waiting_for).await;
                *count += 1;
                assert_eq!(event["series"]["count"], json!(*count), "{event}");
                assert_eq!(&event["note"], first_note, "a repeat keeps the first note");
                event
            }
        };
        assert_eq!(event["type"], json!(type_), "{event}");
        assert_eq!(event["reason"], json!(spec.reason), "{event}");
        assert_eq!(event["action"], json!("Reconcile"));
        assert_eq!(event["regarding"]["kind"], json!("TweetPipeline"));
        assert_eq!(event["regarding"]["name"], json!("covid19"));
        assert_eq!(event["regarding"]["namespace"], json!("tweets"));
    }
    let (_, missing_note, missing_count) = posted
        .get(&("Warning", "SecretMissing".to_string()))
        .expect("a SecretMissing Warning was posted");
    let note = missing_note.as_str().unwrap_or_default();
    assert!(note.contains(r#"Secret "x-token-a""#), "{note}");
    // SecretsResolved and Ready both say SecretMissing: one event, counted twice.
    assert_eq!(*missing_count, 2);
}

/// One reconcile of `tp` that must end with `expected` (given the settings) without the schema
/// owner being called, the verifier's script done.
async fn reconcile_expecting(
    world: Started,
    tp: &TweetPipeline,
    verifier: tokio::task::JoinHandle<()>,
    expected: impl FnOnce(&crate::settings::Settings) -> Action,
) {
    let action = world.reconcile(tp).await;
    let expected = expected(&world.shared.ctx.settings);
    assert_eq!(world.schema.calls(), Vec::<&str>::new(), "MySQL was asked");
    drop(world);
    verified(verifier).await;
    assert_eq!(action.ok(), Some(expected));
}

/// Requeued as not ready.
fn not_ready(settings: &crate::settings::Settings) -> Action {
    Action::requeue(settings.requeue_not_ready)
}

/// Done: nothing to come back for.
fn done(_: &crate::settings::Settings) -> Action {
    Action::await_change()
}
