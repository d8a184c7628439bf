//! Deleting a pipeline's filtered-stream rules from X when the pipeline goes (the decision is in
//! [`crate::decide::cleanup`], the choice of rules in [`crate::decide::stream`]).
//!
//! Only to a base URL the administrator allows (the bearer tokens go along), without following
//! redirects, once per app even when two token Secrets hold the same token. A rule is chosen by
//! its tag, `tweetpipe:<namespace>/<name>:…`, so a rule this pipeline did not create is never
//! touched. No token, and no answer body (it could echo one), reaches a log, an event or an error.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use thiserror::Error;
use tracing::info;

use super::observe::pipeline_key;
use super::observe::secrets::lookup;
use crate::api_hosts::AllowedApiHosts;
use crate::crd::TweetPipeline;
use crate::decide::cleanup::Attempt;
use crate::decide::stream::{RulesList, delete_body, rules_to_delete};

/// How long one rules request may take.
pub const RULES_TIMEOUT: Duration = Duration::from_secs(15);

/// Path of the rules endpoints under the base URL.
const RULES_PATH: &str = "/2/tweets/search/stream/rules";

/// Why the rules of one app could not be deleted.
#[derive(Debug, Error)]
pub enum RulesError {
    /// No answer (connection, timeout, TLS).
    #[error("the X API did not answer the {what} ({detail})")]
    Unreachable { what: &'static str, detail: String },
    /// An answer other than 2xx.
    #[error("the X API answered the {what} with HTTP {status}")]
    Refused { what: &'static str, status: u16 },
    /// A 2xx answer that is not the documented JSON.
    #[error("the X API's answer to the {what} is not the documented JSON")]
    Unreadable { what: &'static str },
    /// The HTTP client could not be built.
    #[error("internal: the HTTP client could not be built ({0})")]
    Client(String),
}

impl RulesError {
    /// Whether waiting may help: not for a refusal of the token or the request (4xx but 429).
    pub fn is_transient(&self) -> bool {
        match self {
            RulesError::Refused { status, .. } => *status == 429 || *status >= 500,
            _ => true,
        }
    }
}

fn client() -> Result<reqwest::Client, RulesError> {
    reqwest::Client::builder()
        .timeout(RULES_TIMEOUT)
        // A redirect would carry the bearer token to a host nobody allowed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| RulesError::Client(e.to_string()))
}

fn unreachable(what: &'static str) -> impl Fn(reqwest::Error) -> RulesError {
    // Without the URL: it is the pipeline's own, but the error text is kept short.
    move |e| RulesError::Unreachable {
        what,
        detail: e.without_url().to_string(),
    }
}

/// Lists the app's rules and deletes those of `pipeline`; returns how many were deleted.
pub async fn delete_app_rules(
    base_url: &str,
    token: &str,
    pipeline: &str,
) -> Result<usize, RulesError> {
    let client = client()?;
    let url = format!("{}{RULES_PATH}", base_url.trim_end_matches('/'));
    let listed = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(unreachable("rules lookup"))?;
    if !listed.status().is_success() {
        return Err(RulesError::Refused {
            what: "rules lookup",
            status: listed.status().as_u16(),
        });
    }
    let listed: RulesList = listed.json().await.map_err(|_| RulesError::Unreadable {
        what: "rules lookup",
    })?;
    let ids = rules_to_delete(pipeline, &listed);
    if ids.is_empty() {
        return Ok(0);
    }
    let deleted = client
        .post(&url)
        .bearer_auth(token)
        .json(&delete_body(&ids))
        .send()
        .await
        .map_err(unreachable("rules deletion"))?;
    if !deleted.status().is_success() {
        return Err(RulesError::Refused {
            what: "rules deletion",
            status: deleted.status().as_u16(),
        });
    }
    Ok(ids.len())
}

/// Deletes `tp`'s rules on every app its tokens belong to, as one cleanup attempt.
pub async fn delete_rules(
    tp: &TweetPipeline,
    secrets: &Store<Secret>,
    allowed: &AllowedApiHosts,
) -> Attempt {
    let base_url = &tp.spec.source.base_url;
    if let Err(refusal) = allowed.judge(base_url) {
        // Not retried: the tokens may not go there, now or after a backoff.
        return Attempt::LeftAlone(format!(
            "stream rules not deleted: {refusal}; delete the rules tagged tweetpipe:{}: by hand",
            pipeline_key(tp)
        ));
    }
    let namespace = tp.namespace().unwrap_or_default();
    let pipeline = pipeline_key(tp);
    let mut seen = BTreeSet::new();
    let mut deleted = 0;
    let mut failures = Vec::new();
    // Whether any failure may pass: a missing Secret may come back (it is kept by our
    // finalizer), an outage may end; a token X refuses will not be accepted later.
    let mut transient = false;
    for (index, reference) in tp.spec.source.tokens.iter().enumerate() {
        let Some(token) = lookup(secrets, &namespace, reference) else {
            failures.push(format!(
                "token {index}: Secret {:?} has no non-empty key {:?}",
                reference.name, reference.key
            ));
            transient = true;
            continue;
        };
        // Two Secrets with one token are one app: asked once.
        if !seen.insert(token.expose().to_string()) {
            continue;
        }
        match delete_app_rules(base_url, token.expose(), &pipeline).await {
            Ok(n) => deleted += n,
            Err(e) => {
                transient |= e.is_transient();
                failures.push(format!("token {index}: {e}"));
            }
        }
    }
    info!(rules = deleted, apps = seen.len(), "stream rules deleted");
    match (failures.is_empty(), transient) {
        (true, _) => Attempt::Done,
        (false, true) => Attempt::Failed(failures.join("; ")),
        // Retrying cannot help (revoked token, no stream access): say what is left, now.
        (false, false) => Attempt::LeftAlone(format!(
            "stream rules not deleted: {}; delete the rules tagged tweetpipe:{pipeline}: by hand",
            failures.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{RulesError, delete_app_rules};
    use serde_json::{Value, json};
    use xapi_simulator::{SimConfig, TokenConfig};

    fn app(name: &str, token: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            token: Some(token.into()),
            token_file: None,
            requests_per_window: 450,
            window_seconds: 900,
            monthly_post_cap: 1_000_000,
        }
    }

    /// Against the simulator's rules endpoints (X's shapes): only the pipeline's rules go, on
    /// the app of the token given; another pipeline's, an untagged one and another app's stay.
    #[tokio::test]
    async fn the_simulator_keeps_every_rule_but_the_pipelines() {
        let sim = xapi_simulator::start(SimConfig {
            listen: "127.0.0.1:0".into(),
            tokens: vec![app("a", "token-a"), app("b", "token-b")],
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let base = sim.base_url();
        let url = format!("{base}/2/tweets/search/stream/rules");
        let http = reqwest::Client::new();
        let add = |token: &'static str, rules: Value| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let answer = http
                    .post(&url)
                    .bearer_auth(token)
                    .json(&json!({"add": rules}))
                    .send()
                    .await
                    .expect("rules added");
                assert_eq!(answer.status().as_u16(), 201);
            }
        };
        add(
            "token-a",
            json!([
                {"value": "covid lang:en", "tag": "tweetpipe:tweets/covid19:covid-en"},
                {"value": "quarantine lang:en", "tag": "tweetpipe:tweets/covid19:quarantine-en"},
                {"value": "flu lang:en", "tag": "tweetpipe:tweets/covid19x:flu"},
                {"value": "cats"}
            ]),
        )
        .await;
        add(
            "token-b",
            json!([{"value": "covid lang:de", "tag": "tweetpipe:tweets/covid19:covid-de"}]),
        )
        .await;
        let deleted = delete_app_rules(&base, "token-a", "tweets/covid19")
            .await
            .expect("deleted");
        assert_eq!(deleted, 2);
        let left = |token: &'static str| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let listed: Value = http
                    .get(&url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("listed")
                    .json()
                    .await
                    .expect("JSON");
                let mut values: Vec<String> = listed["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["value"].as_str().map(String::from))
                    .collect();
                values.sort();
                values
            }
        };
        assert_eq!(left("token-a").await, ["cats", "flu lang:en"]);
        assert_eq!(left("token-b").await, ["covid lang:de"], "another app");
        // Nothing left of the pipeline: no delete request at all.
        assert_eq!(
            delete_app_rules(&base, "token-a", "tweets/covid19")
                .await
                .expect("listed"),
            0
        );
        // A token X does not know: refused, not retried.
        let refused = delete_app_rules(&base, "token-unknown", "tweets/covid19")
            .await
            .expect_err("401");
        assert!(!refused.is_transient(), "{refused}");
        sim.stop().await;
    }

    #[test]
    fn only_outages_are_retried() {
        let refused = |status| RulesError::Refused {
            what: "rules lookup",
            status,
        };
        for (status, transient) in [
            (401, false),
            (403, false),
            (400, false),
            (429, true),
            (500, true),
            (503, true),
        ] {
            assert_eq!(refused(status).is_transient(), transient, "{status}");
        }
        let down = RulesError::Unreachable {
            what: "rules lookup",
            detail: "connection refused".into(),
        };
        assert!(down.is_transient());
    }
}
