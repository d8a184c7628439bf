//! A minimal client of the Confluent schema registry API (`ccompat` v7, which Apicurio serves
//! too): register a schema under a subject, read a schema by id. One attempt per call, with a
//! timeout; callers retry [`RegistryError::is_retryable`] errors with their own backoff.
//!
//! Shared by the operator (which owns the subject) and the workers (the extractor registers,
//! the transformer reads writer schemas), without an Avro library: schemas are JSON text here.
//!
//! The URL comes from a pipeline's spec, so the operator's pod fetches what a manifest author
//! names: no redirect is followed (a registry never needs one, and it would lead the request
//! elsewhere), and no answer body reaches an error unless it is a registry's error object
//! (`{"error_code": …, "message": …}`); otherwise only the HTTP status is told.

use std::time::Duration;

/// Confluent's content type for requests.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Confluent's error code for "schema not found" (in the body of its 404).
const SCHEMA_NOT_FOUND: u32 = 40403;

/// The subject of a topic's record values (Confluent's default `TopicNameStrategy`).
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The subject's compatibility rule refuses the schema (HTTP 409): the registry's message
    /// names the differences. Repeats until the subject or its compatibility setting changes.
    #[error(
        "the schema registry refuses the schema for subject {subject} as incompatible: {reason}"
    )]
    Incompatible { subject: String, reason: String },
    /// The registry could not answer now: connection refused, timeout, HTTP 5xx or 429, or an
    /// answer that is not the registry's (a proxy's page). Retry later.
    #[error("schema registry at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// Any other refusal (an invalid schema, 401/403, a wrong path): a configuration problem.
    #[error("schema registry at {url} answered HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    /// The registry has no schema with this id (HTTP 404, error code 40403).
    #[error("the schema registry has no schema with id {0}")]
    SchemaNotFound(u32),
    /// The HTTP client could not be built (TLS backend); a start-up defect.
    #[error("schema registry client: {0}")]
    Client(String),
}

impl RegistryError {
    /// True when the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Unreachable { .. })
    }
}

/// The registry's error body: `{"error_code": 409, "message": "..."}`. Both fields are
/// required: only then is the body told (a body from anything else never is).
#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error_code: u32,
    message: String,
}

/// The HTTP client for a registry: `timeout` for every request, connect included, and no
/// redirects (see the module documentation).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| RegistryError::Client(e.to_string()))
}

/// A client of one registry.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base_url: String,
    http: reqwest::Client,
}

impl RegistryClient {
    /// A client of the registry at `base_url` (e.g. `http://host:8081/apis/ccompat/v7`); every
    /// request (connect included) ends within `timeout`; redirects are not followed.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, RegistryError> {
        let http = http_client(timeout)?;
        Ok(RegistryClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// A client on a ready-made HTTP client (whose timeouts are the caller's choice; build it
    /// with [`http_client`] so that redirects are not followed).
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Self {
        RegistryClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The base URL (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Registers `schema` (Avro JSON text) under `subject` and returns its id. Registering a
    /// schema the subject already holds returns the existing id and adds no version.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}/versions", self.base_url);
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .json(&serde_json::json!({ "schema": schema }));
        let (status, text) = self.send(&url, request).await?;
        if status == reqwest::StatusCode::CONFLICT {
            return Err(RegistryError::Incompatible {
                subject: subject.to_string(),
                reason: error_message(status, &text),
            });
        }
        if !status.is_success() {
            return Err(judge_failure(&url, status, &text));
        }
        #[derive(serde::Deserialize)]
        struct Registered {
            id: u32,
        }
        // Not even serde's error: it can quote the body's values.
        serde_json::from_str::<Registered>(&text)
            .map(|r| r.id)
            .map_err(|_| RegistryError::Unreachable {
                url,
                detail: not_a_registry(status),
            })
    }

    /// The schema (Avro JSON text) with registry id `id`.
    pub async fn schema_text(&self, id: u32) -> Result<String, RegistryError> {
        let url = format!("{}/schemas/ids/{id}", self.base_url);
        let (status, text) = self.send(&url, self.http.get(&url)).await?;
        if status == reqwest::StatusCode::NOT_FOUND
            && serde_json::from_str::<ErrorAnswer>(&text)
                .is_ok_and(|a| a.error_code == SCHEMA_NOT_FOUND)
        {
            return Err(RegistryError::SchemaNotFound(id));
        }
        if !status.is_success() {
            // Whatever else went wrong, it is not the record's fault: a reader retries.
            return Err(RegistryError::Unreachable {
                url,
                detail: error_message(status, &text),
            });
        }
        #[derive(serde::Deserialize)]
        struct Found {
            schema: String,
        }
        // A 200 whose body is not a registry answer comes from something in between.
        serde_json::from_str::<Found>(&text)
            .map(|f| f.schema)
            .map_err(|_| RegistryError::Unreachable {
                url,
                detail: not_a_registry(status),
            })
    }

    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, String), RegistryError> {
        let unreachable = |e: reqwest::Error| RegistryError::Unreachable {
            url: url.to_string(),
            detail: e.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        Ok((status, text))
    }
}

/// Classifies a failed registration: the registry's trouble (5xx, 429) is retryable, the rest
/// is a refusal that repeats.
fn judge_failure(url: &str, status: reqwest::StatusCode, text: &str) -> RegistryError {
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        RegistryError::Unreachable {
            url: url.to_string(),
            detail: error_message(status, text),
        }
    } else if status.is_redirection() {
        RegistryError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            message: "a redirect, which is not followed (it could lead the operator's requests anywhere): set spec.kafka.schemaRegistryUrl to the registry's final address".to_string(),
        }
    } else {
        RegistryError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            message: error_message(status, text),
        }
    }
}

/// The registry's `message` (without the Java exception class Apicurio puts in front of it)
/// when `body` is a registry error object; otherwise only that it was not a registry's answer,
/// never the body (it may be an internal service's page the URL was pointed at).
fn error_message(status: reqwest::StatusCode, body: &str) -> String {
    match serde_json::from_str::<ErrorAnswer>(body) {
        Ok(answer) => {
            let message = answer.message.trim();
            truncate(match message.split_once("Exception: ") {
                Some((prefix, rest)) if !prefix.contains(' ') => rest,
                _ => message,
            })
        }
        Err(_) => not_a_registry(status),
    }
}

/// What is said of an answer that is not a registry's: its status only.
fn not_a_registry(status: reqwest::StatusCode) -> String {
    format!(
        "HTTP {status}, and the answer was not a schema registry's (its body is not shown); check that spec.kafka.schemaRegistryUrl is the registry's API base, e.g. http://registry:8080/apis/ccompat/v7"
    )
}

/// A registry's own message is cut short too: a status message, not a document.
fn truncate(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Serves one canned HTTP answer per connection, in order, on a local port (also used by
    /// the codec's registry tests).
    pub(crate) async fn canned_http(answers: Vec<(u16, String)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for (status, body) in answers {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut request = [0u8; 8192];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn registration_answers_are_told_apart() {
        let incompatible = r#"{"message":"io.apicurio.registry.rules.violation.RuleViolationException: Incompatible artifact: t-value [AVRO], num of incompatible diffs: {1}, list of diff types: [reader type: STRING not compatible with writer type: LONG at /fields/0/type]","error_code":409}"#;
        let url = canned_http(vec![
            (200, r#"{"id":7}"#.into()),
            (409, incompatible.into()),
            (503, "down for maintenance".into()),
            (
                422,
                r#"{"error_code":42201,"message":"Invalid schema"}"#.into(),
            ),
            (200, "<html>proxy login</html>".into()),
        ])
        .await;
        let client = RegistryClient::new(&url, Duration::from_secs(5)).expect("client");
        assert_eq!(client.register("t-value", "{}").await.expect("id"), 7);

        let err = client.register("t-value", "{}").await.expect_err("409");
        let RegistryError::Incompatible { subject, reason } = &err else {
            panic!("not Incompatible: {err}");
        };
        assert_eq!(subject, "t-value");
        assert!(
            reason.starts_with("Incompatible artifact: t-value")
                && reason.contains("reader type: STRING not compatible with writer type: LONG"),
            "{reason}"
        );
        assert!(!err.is_retryable());

        let err = client.register("t-value", "{}").await.expect_err("503");
        assert!(err.is_retryable(), "{err}");
        let err = client.register("t-value", "{}").await.expect_err("422");
        assert!(
            matches!(&err, RegistryError::Refused { status: 422, message, .. } if message == "Invalid schema"),
            "{err}"
        );
        assert!(!err.is_retryable());
        let err = client.register("t-value", "{}").await.expect_err("html");
        assert!(err.is_retryable(), "{err}");
        assert!(!err.to_string().contains("proxy login"), "{err}");

        // Nothing listens: unreachable, retryable, and the URL is named.
        let refused =
            RegistryClient::new("http://127.0.0.1:1/", Duration::from_secs(2)).expect("client");
        let err = refused
            .register("t-value", "{}")
            .await
            .expect_err("refused");
        assert!(err.is_retryable());
        assert!(
            err.to_string()
                .contains("http://127.0.0.1:1/subjects/t-value/versions"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_missing_schema_id_is_the_only_final_lookup_failure() {
        let url = canned_http(vec![
            (
                404,
                r#"{"error_code":40403,"message":"Schema not found"}"#.into(),
            ),
            (404, "<html>no such path</html>".into()),
            (200, r#"{"schema":"\"string\""}"#.into()),
        ])
        .await;
        let client = RegistryClient::new(&url, Duration::from_secs(5)).expect("client");
        assert!(matches!(
            client.schema_text(3).await,
            Err(RegistryError::SchemaNotFound(3))
        ));
        assert!(client.schema_text(3).await.expect_err("404").is_retryable());
        assert_eq!(client.schema_text(3).await.expect("found"), "\"string\"");
    }

    /// An answer from something that is not a registry (an internal service the URL names)
    /// never reaches the error, whatever its status; a registry's error object does.
    #[tokio::test]
    async fn only_registry_error_objects_are_quoted() {
        let secret = "internal-metadata-token";
        let table: Vec<(u16, String, bool)> = vec![
            (200, format!(r#"{{"id":"{secret}"}}"#), false),
            (200, format!("<html>{secret}</html>"), false),
            (401, format!(r#"{{"token":"{secret}"}}"#), false),
            (404, secret.to_string(), false),
            (422, format!(r#"{{"message":"{secret}"}}"#), false),
            (500, secret.to_string(), false),
            (
                422,
                r#"{"error_code":42201,"message":"Invalid schema"}"#.into(),
                true,
            ),
            (
                409,
                r#"{"error_code":409,"message":"Incompatible"}"#.into(),
                true,
            ),
        ];
        let url = canned_http(table.iter().map(|(s, b, _)| (*s, b.clone())).collect()).await;
        let client = RegistryClient::new(&url, Duration::from_secs(5)).expect("client");
        for (status, body, quoted) in &table {
            let err = client.register("t-value", "{}").await.expect_err("failure");
            let text = err.to_string();
            assert!(!text.contains(secret), "{status} {body}: {text}");
            if *quoted {
                assert!(
                    text.contains("Invalid schema") || text.contains("Incompatible"),
                    "{text}"
                );
            } else {
                assert!(
                    text.contains("not a schema registry's") && text.contains(&status.to_string()),
                    "{status} {body}: {text}"
                );
            }
        }
        let url = canned_http(vec![(200, format!("<html>{secret}</html>"))]).await;
        let client = RegistryClient::new(&url, Duration::from_secs(5)).expect("client");
        let err = client.schema_text(1).await.expect_err("not a registry");
        assert!(!err.to_string().contains(secret), "{err}");
    }

    /// A redirect is answered, not followed: the request never reaches its target.
    #[tokio::test]
    async fn redirects_are_not_followed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let target = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target_addr = target.local_addr().expect("addr");
        let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        tokio::spawn(async move {
            if target.accept().await.is_ok() {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 8192];
            let _ = socket.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 307 X\r\nlocation: http://{target_addr}/latest/meta-data\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        });
        let client =
            RegistryClient::new(&format!("http://{addr}"), Duration::from_secs(5)).expect("client");
        let err = client.register("t-value", "{}").await.expect_err("307");
        assert!(
            matches!(&err, RegistryError::Refused { status: 307, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("not followed"), "{err}");
        assert!(!err.is_retryable());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!reached.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn subjects_follow_the_topic_name_strategy() {
        assert_eq!(value_subject("posts"), "posts-value");
    }
}
