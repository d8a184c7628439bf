//! One reconcile's I/O against a mock API server ([`crate::test_support::mock_api`]): which
//! requests it sends, in which order, with which bodies; and that it sends nothing else. Missing
//! Secrets (`missing_secrets`) and deletion (`deletion`) never reach Kafka or MySQL; a whole
//! reconcile (`full`) reaches them through the scripted fakes of [`crate::test_support::fakes`].
//! The helpers here are shared by them.

mod deletion;
mod full;
mod missing_secrets;
mod stream;

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

/// The condition events a reconcile posted, by (type, reason): the name of the event posted, its
/// note, and the times it was seen (kube's recorder folds repeats into the first).
type Posted = BTreeMap<(&'static str, String), (String, Value, i64)>;

/// After the status patch of a first reconcile: the events of the new conditions in trouble (a
/// new condition that is not has none; which and what they say is `decide::events`' business,
/// tested there), in the conditions' order. The I/O asserted here: a first event of a (type,
/// reason) is a POST; a later one with the same type and reason is folded by kube's recorder
/// into the first (a PATCH of that event's series count, which keeps the first event's note).
/// Returns what was posted, for the caller's assertions on the Warnings.
async fn expect_condition_events(api: &mut MockApi, status: &TweetPipelineStatus) -> Posted {
    let specs = condition_events(&[], &status.conditions);
    let mut posted = Posted::new();
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
    posted
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
