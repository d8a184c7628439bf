//! The post schema in the pipeline's schema registry: the operator owns the subject
//! `<postTopic>-value` and registers the current post schema there before extractors run, so
//! an incompatible change is a condition on the pipeline rather than a crash-looping pod.
//!
//! Registering is idempotent (an identical schema keeps its id), and a success is cached per
//! fingerprint of (registry, subject, schema text): a settled pipeline costs no request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tweetpipe_common::registry::{RegistryClient, RegistryError, value_subject};
use tweetpipe_common::schema_files::current_post_schema;

use crate::decide::conditions::{Check, SchemaState, reasons};
use crate::policy::AllowedRegistryHosts;
use crate::reconcile::clients::fingerprint;

/// Attempts per reconcile against an unreachable registry; the requeue is the next retry.
const ATTEMPTS: u32 = 3;
/// First pause between attempts (doubled each time, with jitter).
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// Registry ids of the schemas registered, by fingerprint of (registry URL, subject, schema).
#[derive(Debug, Default)]
pub struct RegisteredSchemas(Mutex<HashMap<u64, u32>>);

impl RegisteredSchemas {
    fn get(&self, key: u64) -> Option<u32> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
    }

    fn insert(&self, key: u64, id: u32) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, id);
    }
}

/// Registers the current post schema under the posts topic's subject at `registry_url`
/// (`None`: no registry, nothing to do). Each request ends within `timeout`; an unreachable
/// registry is retried a few times with jittered backoff, then reported. A URL whose host the
/// administrator does not allow is never called (a refusal: no extractor runs).
pub async fn ensure_post_schema(
    cache: &RegisteredSchemas,
    registry_url: Option<&str>,
    allowed: &AllowedRegistryHosts,
    topic: &str,
    timeout: Duration,
) -> SchemaState {
    let Some(url) = registry_url.filter(|u| !u.is_empty()) else {
        return SchemaState::NotUsed;
    };
    if let Err(refusal) = allowed.judge(url) {
        return SchemaState::Problem(Check::failed(
            reasons::REGISTRY_HOST_NOT_ALLOWED,
            refusal.to_string(),
        ));
    }
    let subject = value_subject(topic);
    let schema = current_post_schema();
    let key = fingerprint(&[url, &subject, schema]);
    if let Some(id) = cache.get(key) {
        return SchemaState::Registered { subject, id };
    }
    let client = match RegistryClient::new(url, timeout) {
        Ok(client) => client,
        Err(e) => return problem(&e),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.register(&subject, schema).await {
            Ok(id) => {
                tracing::info!(%subject, id, "post schema registered");
                cache.insert(key, id);
                return SchemaState::Registered { subject, id };
            }
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                let pause = pause(attempt, rand::random::<f64>());
                tracing::debug!(error = %e, retry_in_ms = pause.as_millis() as u64, "schema registry unreachable");
                tokio::time::sleep(pause).await;
            }
            Err(e) => return problem(&e),
        }
    }
}

/// Pause after attempt `attempt` (1-based): doubling from [`FIRST_PAUSE`], `jitter` in [0, 1)
/// spreading it over [50%, 100%].
fn pause(attempt: u32, jitter: f64) -> Duration {
    tweetpipe_common::backoff::delay(
        FIRST_PAUSE,
        FIRST_PAUSE.saturating_mul(256),
        attempt.saturating_sub(1),
        jitter,
    )
}

/// The condition for a failure: the registry's own explanation, no credentials (the URL is the
/// spec's, and user info in it is cut off).
fn problem(error: &RegistryError) -> SchemaState {
    let reason = match error {
        RegistryError::Incompatible { .. } => reasons::SCHEMA_INCOMPATIBLE,
        RegistryError::Unreachable { .. } => reasons::SCHEMA_REGISTRY_UNREACHABLE,
        RegistryError::Refused { .. }
        | RegistryError::SchemaNotFound(_)
        | RegistryError::Client(_) => reasons::SCHEMA_REGISTRY_REFUSED,
    };
    SchemaState::Problem(Check::failed(reason, redact_userinfo(&error.to_string())))
}

/// Removes `user:password@` from URLs in `text`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '?', '#']).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***@");
                rest = &tail[userinfo_end + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_and_jitter_within_half() {
        assert_eq!(pause(1, 0.0), Duration::from_millis(125));
        assert_eq!(pause(2, 0.0), Duration::from_millis(250));
        assert_eq!(pause(3, 0.0), Duration::from_millis(500));
        let top = pause(3, 0.999_999);
        assert!(top > Duration::from_millis(999) && top <= Duration::from_millis(1000));
    }

    #[test]
    fn credentials_in_urls_never_reach_the_status() {
        assert_eq!(
            redact_userinfo("schema registry at https://u:secret@reg:8081/apis is unreachable"),
            "schema registry at https://***@reg:8081/apis is unreachable"
        );
        assert_eq!(
            redact_userinfo("at http://reg:8081/x: a@b"),
            "at http://reg:8081/x: a@b"
        );
    }

    #[tokio::test]
    async fn no_url_no_registry_and_an_unreachable_one_is_its_own_reason() {
        let cache = RegisteredSchemas::default();
        assert_eq!(
            ensure_post_schema(
                &cache,
                None,
                &AllowedRegistryHosts::any(),
                "posts",
                Duration::from_secs(1)
            )
            .await,
            SchemaState::NotUsed
        );
        let state = ensure_post_schema(
            &cache,
            Some("http://127.0.0.1:1/apis/ccompat/v7"),
            &AllowedRegistryHosts::any(),
            "posts",
            Duration::from_secs(1),
        )
        .await;
        let SchemaState::Problem(Check::Failed { reason, message }) = &state else {
            panic!("not a failure: {state:?}");
        };
        assert_eq!(reason, reasons::SCHEMA_REGISTRY_UNREACHABLE);
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert_eq!(state.refusal(), None, "an outage stops no extractor");
    }

    #[tokio::test]
    async fn a_registry_host_not_allowed_is_never_called_and_stops_extractors() {
        let cache = RegisteredSchemas::default();
        let allowed = AllowedRegistryHosts::parse("registry.kafka").expect("list");
        // Nothing listens there: an attempt would be "unreachable", not a refusal.
        let state = ensure_post_schema(
            &cache,
            Some("http://127.0.0.1:1/apis/ccompat/v7"),
            &allowed,
            "posts",
            Duration::from_secs(1),
        )
        .await;
        let SchemaState::Problem(Check::Failed { reason, message }) = &state else {
            panic!("not a failure: {state:?}");
        };
        assert_eq!(reason, reasons::REGISTRY_HOST_NOT_ALLOWED);
        assert!(
            message.contains("TWEETPIPE_ALLOWED_REGISTRY_HOSTS"),
            "{message}"
        );
        assert!(state.refusal().is_some(), "no extractor runs");
    }
}
