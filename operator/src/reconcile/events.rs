//! Publishes events on the pipeline (the decisions of what to say are in `decide::events`).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use tracing::warn;

use super::context::Context;
use crate::decide::events::{EventSpec, Severity};

/// Event notes are limited to 1 kB.
pub fn truncate(note: &str) -> String {
    if note.len() <= 1000 {
        return note.to_string();
    }
    let mut end = 1000;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

/// Publishes one event; a failure to publish is logged, never fatal.
pub async fn publish(ctx: &Context, reference: &ObjectReference, event: &EventSpec) {
    let recorded = Event {
        type_: match event.severity {
            Severity::Normal => EventType::Normal,
            Severity::Warning => EventType::Warning,
        },
        reason: event.reason.clone(),
        note: Some(truncate(&event.note)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&recorded, reference).await {
        warn!(error = %e, reason = %event.reason, "publishing an event failed");
    }
}

/// Publishes several events in order.
pub async fn publish_all(ctx: &Context, reference: &ObjectReference, events: &[EventSpec]) {
    for event in events {
        publish(ctx, reference, event).await;
    }
}

/// Tells the user the operator cannot read their object (it does not match the types).
pub async fn publish_invalid(ctx: &Context, reference: &ObjectReference, note: String) {
    publish(
        ctx,
        reference,
        &EventSpec::new(Severity::Warning, "InvalidSpec", note),
    )
    .await;
}
