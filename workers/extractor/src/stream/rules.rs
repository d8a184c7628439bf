//! The rules of one app that this pipeline's stream queries need: read them, and add what is
//! missing and delete what is stale, touching only rules whose tag carries this pipeline's
//! prefix (`tweetpipe:<pipeline>:`). Rules of other pipelines and rules made by hand are never
//! deleted, whatever their value.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::backoff::FailureKind;
use crate::xapi::BearerToken;

/// A rule as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    pub id: String,
    pub value: String,
    #[serde(default)]
    pub tag: Option<String>,
}

/// The rule a stream query needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Index of the query among the connection's queries.
    pub query: usize,
    pub value: String,
    pub tag: String,
}

/// What to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Rules already right: `(query, rule id)`.
    pub keep: Vec<(usize, String)>,
    pub add: Vec<Desired>,
    /// Ids of our own rules no query needs any more (tag gone, value changed, repeated).
    pub delete: Vec<String>,
}

/// Compares the app's rules with the desired ones; only tags under `own_prefix` are ours.
pub fn plan(existing: &[Rule], desired: &[Desired], own_prefix: &str) -> Plan {
    let mut plan = Plan::default();
    let mut kept_ids = Vec::new();
    for d in desired {
        match existing.iter().find(|r| {
            r.tag.as_deref() == Some(d.tag.as_str())
                && r.value == d.value
                && !kept_ids.contains(&r.id)
        }) {
            Some(rule) => {
                kept_ids.push(rule.id.clone());
                plan.keep.push((d.query, rule.id.clone()));
            }
            None => plan.add.push(d.clone()),
        }
    }
    plan.delete = existing
        .iter()
        .filter(|r| r.tag.as_deref().is_some_and(|t| t.starts_with(own_prefix)))
        .filter(|r| !kept_ids.contains(&r.id))
        .map(|r| r.id.clone())
        .collect();
    plan
}

/// Ids of this pipeline's rules (tag under `own_prefix`) whose tag is not in `keep`.
pub fn own_rules_except(existing: &[Rule], keep: &[String], own_prefix: &str) -> Vec<String> {
    existing
        .iter()
        .filter(|r| {
            r.tag
                .as_deref()
                .is_some_and(|t| t.starts_with(own_prefix) && !keep.iter().any(|k| k == t))
        })
        .map(|r| r.id.clone())
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules endpoint: {0}")]
    Transport(String),
    #[error("rules endpoint rate limited (429)")]
    RateLimited,
    #[error("rules endpoint answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("rules endpoint answered an unexpected body: {0}")]
    Malformed(String),
    /// X refused a rule's value (grammar, length): nothing of the request was created.
    #[error("X refused the stream rules: {0}")]
    Invalid(String),
}

impl RulesError {
    /// Whether trying again may succeed: not after a refusal of the token or the request
    /// (4xx but 429, e.g. an access level without the filtered stream).
    pub fn is_transient(&self) -> bool {
        match self {
            RulesError::Transport(_) | RulesError::RateLimited => true,
            RulesError::Http { status, .. } => *status >= 500,
            RulesError::Malformed(_) | RulesError::Invalid(_) => false,
        }
    }

    /// Which reconnect schedule a failure waits on.
    pub fn kind(&self) -> FailureKind {
        match self {
            RulesError::Transport(_) => FailureKind::Network,
            RulesError::RateLimited => FailureKind::RateLimited,
            RulesError::Http { .. } | RulesError::Malformed(_) | RulesError::Invalid(_) => {
                FailureKind::Http
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListAnswer {
    #[serde(default)]
    data: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct AddAnswer {
    #[serde(default)]
    data: Vec<Rule>,
    #[serde(default)]
    errors: Vec<AddError>,
}

#[derive(Debug, Deserialize)]
struct AddError {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    details: Vec<String>,
}

/// The rules endpoint of one API base URL.
pub struct RulesClient {
    http: reqwest::Client,
    url: String,
}

impl RulesClient {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tweetpipe-extractor/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(RulesClient {
            http,
            url: format!(
                "{}/2/tweets/search/stream/rules",
                base_url.trim_end_matches('/')
            ),
        })
    }

    /// Makes the app's rules match `desired` (see [`plan`]); returns `(query, rule id)` for
    /// every desired rule, an id held by another rule for a value that rule already has.
    pub async fn ensure(
        &self,
        token: &BearerToken,
        desired: &[Desired],
        own_prefix: &str,
    ) -> Result<Vec<(usize, String)>, RulesError> {
        let existing = self.list(token).await?;
        let plan = plan(&existing, desired, own_prefix);
        if !plan.delete.is_empty() {
            tracing::info!(rules = ?plan.delete, "deleting this pipeline's stale stream rules");
            self.send(token, json!({"delete": {"ids": plan.delete}}))
                .await?;
        }
        let mut ids = plan.keep;
        if !plan.add.is_empty() {
            let add: Vec<_> = plan
                .add
                .iter()
                .map(|d| json!({"value": d.value, "tag": d.tag}))
                .collect();
            let body = self.send(token, json!({ "add": add })).await?;
            let answer: AddAnswer =
                serde_json::from_str(&body).map_err(|e| RulesError::Malformed(e.to_string()))?;
            let invalid: Vec<String> = answer
                .errors
                .iter()
                .filter(|e| e.title != "DuplicateRule")
                .map(|e| format!("{:?}: {}", e.value, e.details.join("; ")))
                .collect();
            if !invalid.is_empty() {
                return Err(RulesError::Invalid(invalid.join(", ")));
            }
            for d in &plan.add {
                let created = answer.data.iter().find(|r| r.value == d.value);
                let duplicate = answer
                    .errors
                    .iter()
                    .find(|e| e.value.as_deref() == Some(d.value.as_str()));
                match (created, duplicate.and_then(|e| e.id.clone())) {
                    (Some(rule), _) => ids.push((d.query, rule.id.clone())),
                    (None, Some(id)) => {
                        // Another rule holds the value (X keeps one per value): its id routes.
                        tracing::warn!(tag = %d.tag, rule_id = %id, "the app already has a rule with this query's value under another tag; routing by its id");
                        ids.push((d.query, id));
                    }
                    (None, None) => {
                        return Err(RulesError::Malformed(format!(
                            "the answer names neither a created rule nor a duplicate for tag {}",
                            d.tag
                        )));
                    }
                }
            }
            tracing::info!(added = plan.add.len(), "stream rules added");
        }
        Ok(ids)
    }

    /// Deletes this pipeline's rules on the app but those tagged `keep`; how many went.
    pub async fn delete_own(
        &self,
        token: &BearerToken,
        keep: &[String],
        own_prefix: &str,
    ) -> Result<usize, RulesError> {
        let ids = own_rules_except(&self.list(token).await?, keep, own_prefix);
        if !ids.is_empty() {
            self.send(token, json!({"delete": {"ids": ids}})).await?;
        }
        Ok(ids.len())
    }

    async fn list(&self, token: &BearerToken) -> Result<Vec<Rule>, RulesError> {
        let response = self
            .http
            .get(&self.url)
            .bearer_auth(&token.0)
            .send()
            .await
            .map_err(|e| RulesError::Transport(e.to_string()))?;
        let body = answer_body(response).await?;
        let answer: ListAnswer =
            serde_json::from_str(&body).map_err(|e| RulesError::Malformed(e.to_string()))?;
        Ok(answer.data)
    }

    async fn send(
        &self,
        token: &BearerToken,
        body: serde_json::Value,
    ) -> Result<String, RulesError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&token.0)
            .json(&body)
            .send()
            .await
            .map_err(|e| RulesError::Transport(e.to_string()))?;
        answer_body(response).await
    }
}

async fn answer_body(response: reqwest::Response) -> Result<String, RulesError> {
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| RulesError::Transport(e.to_string()))?;
    match status.as_u16() {
        200 | 201 => Ok(body),
        429 => Err(RulesError::RateLimited),
        status => Err(RulesError::Http {
            status,
            body: body.chars().take(300).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, value: &str, tag: Option<&str>) -> Rule {
        Rule {
            id: id.into(),
            value: value.into(),
            tag: tag.map(str::to_string),
        }
    }

    fn want(query: usize, value: &str, tag: &str) -> Desired {
        Desired {
            query,
            value: value.into(),
            tag: tag.into(),
        }
    }

    #[test]
    fn plans_only_changes_to_our_own_rules() {
        let existing = [
            rule("1", "covid", Some("tweetpipe:ns/p:a")),
            rule("2", "old value", Some("tweetpipe:ns/p:b")),
            rule("3", "gone", Some("tweetpipe:ns/p:c")),
            rule("4", "theirs", Some("tweetpipe:ns/other:a")),
            rule("5", "by hand", None),
            rule("6", "covid", Some("tweetpipe:ns/p:a")),
        ];
        let desired = [
            want(0, "covid", "tweetpipe:ns/p:a"),
            want(1, "new value", "tweetpipe:ns/p:b"),
            want(2, "fresh", "tweetpipe:ns/p:d"),
        ];
        let p = plan(&existing, &desired, "tweetpipe:ns/p:");
        assert_eq!(p.keep, vec![(0, "1".to_string())]);
        assert_eq!(
            p.add,
            vec![
                want(1, "new value", "tweetpipe:ns/p:b"),
                want(2, "fresh", "tweetpipe:ns/p:d")
            ]
        );
        assert_eq!(p.delete, vec!["2", "3", "6"]);
        assert_eq!(plan(&[], &[], "tweetpipe:ns/p:"), Plan::default());
        // Without a stream query on the app: every rule of ours but those kept goes.
        assert_eq!(
            own_rules_except(&existing, &["tweetpipe:ns/p:b".into()], "tweetpipe:ns/p:"),
            vec!["1", "3", "6"]
        );
        assert_eq!(
            own_rules_except(&existing, &[], "tweetpipe:ns/p:"),
            vec!["1", "2", "3", "6"]
        );
        assert!(own_rules_except(&existing, &[], "tweetpipe:ns/q:").is_empty());
    }

    #[test]
    fn only_outages_are_retried() {
        let http = |status| RulesError::Http {
            status,
            body: String::new(),
        };
        assert!(!http(403).is_transient() && !http(400).is_transient());
        assert!(http(503).is_transient() && RulesError::RateLimited.is_transient());
        assert!(RulesError::Transport("reset".into()).is_transient());
    }
}
