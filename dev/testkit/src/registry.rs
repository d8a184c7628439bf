//! The platform's schema registry (Apicurio's Confluent-compatible API) as tests use it: a
//! subject of their own, schemas registered beside (or against) the operator's and the
//! extractor's, compatibility settings, and cleanup.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::platform;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Every request to the registry has this deadline: a request it accepts and never answers
/// fails with the URL instead of holding the test (or its cleanup) until CI's deadline.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The registry from the host (`TWEETPIPE_SCHEMA_REGISTRY_URL`); panics when it is missing.
pub struct TestRegistry {
    http: reqwest::Client,
    /// Base URL (`…/apis/ccompat/v7`).
    pub base: String,
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRegistry {
    pub fn new() -> Self {
        TestRegistry {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(REQUEST_DEADLINE)
                .build()
                .expect("an HTTP client for the schema registry"),
            base: platform().require_schema_registry().to_string(),
        }
    }

    /// Registers `schema` (a JSON value) under `subject`: the status and the JSON answer.
    pub async fn register(&self, subject: &str, schema: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/subjects/{subject}/versions", self.base))
            .header("Content-Type", CONTENT_TYPE)
            .json(&json!({ "schema": schema.to_string() }))
            .send()
            .await
            .expect("the schema registry answers");
        let status = response.status();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// Registers `schema` and returns its id; panics unless the registry accepts it.
    pub async fn register_ok(&self, subject: &str, schema: &Value) -> u32 {
        let (status, answer) = self.register(subject, schema).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "registering under {subject}: {answer}"
        );
        answer["id"]
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .unwrap_or_else(|| panic!("no id in {answer}"))
    }

    /// Sets the subject's compatibility level (`BACKWARD`, `FULL`, `NONE`, ...); the registry's
    /// JSON answer.
    pub async fn set_compatibility(&self, subject: &str, level: &str) -> Value {
        let response = self
            .http
            .put(format!("{}/config/{subject}", self.base))
            .header("Content-Type", CONTENT_TYPE)
            .json(&json!({ "compatibility": level }))
            .send()
            .await
            .expect("the schema registry answers");
        assert!(response.status().is_success(), "PUT config: {response:?}");
        response.json().await.expect("a JSON answer")
    }

    /// GET `path` (under the base URL); the caller judges the answer.
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the schema registry answers")
    }

    /// The subject's versions (empty when the subject does not exist).
    pub async fn versions(&self, subject: &str) -> Vec<u64> {
        let response = self.get(&format!("/subjects/{subject}/versions")).await;
        if response.status() == StatusCode::NOT_FOUND {
            return Vec::new();
        }
        assert!(response.status().is_success(), "GET versions: {response:?}");
        response.json().await.expect("a JSON list")
    }

    /// The id of the subject's latest version.
    pub async fn latest_id(&self, subject: &str) -> Option<u32> {
        let response = self
            .get(&format!("/subjects/{subject}/versions/latest"))
            .await;
        if !response.status().is_success() {
            return None;
        }
        let answer: Value = response.json().await.expect("a JSON answer");
        answer["id"].as_u64().and_then(|id| u32::try_from(id).ok())
    }

    /// The schema registered as `id`, as the registry stores it (parsed).
    pub async fn schema(&self, id: u64) -> Value {
        let path = format!("/schemas/ids/{id}");
        let response = self.get(&path).await;
        assert!(response.status().is_success(), "GET {path}: {response:?}");
        let answer: Value = response.json().await.expect("a JSON answer");
        serde_json::from_str(answer["schema"].as_str().expect("a schema string"))
            .expect("the stored schema is JSON")
    }

    /// Deletes the subject (soft, then permanently) and its compatibility setting; best effort.
    pub async fn delete_subject(&self, subject: &str) {
        for url in [
            format!("{}/subjects/{subject}", self.base),
            format!("{}/subjects/{subject}?permanent=true", self.base),
            format!("{}/config/{subject}", self.base),
        ] {
            if let Err(e) = self.http.delete(&url).send().await {
                eprintln!("cleanup: DELETE {url} failed (deadline {REQUEST_DEADLINE:?}): {e}");
            }
        }
    }
}

/// The current post schema (`post.v2.avsc` since v2; the name predates it) as JSON.
pub fn post_v1() -> Value {
    serde_json::from_str(tweetpipe_common::schema_files::current_post_schema())
        .expect("the post schema is JSON")
}

/// `post.v1` with one more field appended.
pub fn with_field(mut schema: Value, field: Value) -> Value {
    schema["fields"]
        .as_array_mut()
        .expect("a record schema has fields")
        .push(field);
    schema
}

/// `post.v1` whose first field (`id`, a string) is a long instead: incompatible both ways.
pub fn retyped_id() -> Value {
    let mut schema = post_v1();
    schema["fields"][0]["type"] = json!("long");
    schema
}
