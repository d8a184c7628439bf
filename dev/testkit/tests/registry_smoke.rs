//! The platform's schema registry speaks the Confluent API and enforces compatibility: `post.v1`
//! registers under `<topic>-value` and reads back by id; with BACKWARD compatibility a new optional
//! field is accepted and a new required field or a changed type is refused with 409.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tweetpipe_testkit::names::random_hex;
use tweetpipe_testkit::platform;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const POST_V1: &str = include_str!("../../../shared/common/schema/post.v1.avsc");

struct Registry {
    http: reqwest::Client,
    base: String,
}

impl Registry {
    fn new() -> Self {
        Registry {
            http: reqwest::Client::new(),
            base: platform().require_schema_registry().to_string(),
        }
    }

    async fn register(&self, subject: &str, schema: &Value) -> (StatusCode, Value) {
        let body = json!({ "schema": schema.to_string() });
        let response = self
            .http
            .post(format!("{}/subjects/{subject}/versions", self.base))
            .header("Content-Type", CONTENT_TYPE)
            .json(&body)
            .send()
            .await
            .expect("the schema registry answers");
        let status = response.status();
        (status, response.json().await.expect("a JSON answer"))
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the schema registry answers");
        assert!(response.status().is_success(), "GET {path}: {response:?}");
        response.json().await.expect("a JSON answer")
    }

    async fn set_compatibility(&self, subject: &str, level: &str) -> Value {
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
}

fn post_v1() -> Value {
    serde_json::from_str(POST_V1).expect("post.v1.avsc is JSON")
}

fn with_field(mut schema: Value, field: Value) -> Value {
    schema["fields"]
        .as_array_mut()
        .expect("a record schema has fields")
        .push(field);
    schema
}

fn schema_id(answer: &Value) -> u64 {
    answer["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no id in {answer}"))
}

#[tokio::test]
async fn registers_fetches_and_enforces_backward_compatibility() {
    let registry = Registry::new();
    let subject = format!("posts-{}-value", random_hex(8));

    let (status, answer) = registry.register(&subject, &post_v1()).await;
    assert_eq!(status, StatusCode::OK, "registering post.v1: {answer}");
    let v1_id = schema_id(&answer);

    let fetched = registry.get(&format!("/schemas/ids/{v1_id}")).await;
    let fetched_schema: Value =
        serde_json::from_str(fetched["schema"].as_str().expect("a schema string"))
            .expect("the stored schema is JSON");
    assert_eq!(fetched_schema["name"], "Post");
    assert_eq!(fetched_schema["namespace"], "io.tweetpipe.v1");
    assert_eq!(fetched_schema["fields"], post_v1()["fields"]);

    let config = registry.set_compatibility(&subject, "BACKWARD").await;
    assert_eq!(config["compatibility"], "BACKWARD");

    let optional = with_field(
        post_v1(),
        json!({"name": "source_app", "type": ["null", "string"], "default": null}),
    );
    let (status, answer) = registry.register(&subject, &optional).await;
    assert_eq!(status, StatusCode::OK, "a new optional field: {answer}");
    assert_ne!(schema_id(&answer), v1_id, "a changed schema gets a new id");
    let versions = registry.get(&format!("/subjects/{subject}/versions")).await;
    assert_eq!(versions, json!([1, 2]));

    let required = with_field(post_v1(), json!({"name": "must_have", "type": "string"}));
    let (status, answer) = registry.register(&subject, &required).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a new field without default: {answer}"
    );
    assert_eq!(answer["error_code"], 409);

    let mut retyped = post_v1();
    retyped["fields"][0]["type"] = json!("long");
    let (status, answer) = registry.register(&subject, &retyped).await;
    assert_eq!(status, StatusCode::CONFLICT, "id as long: {answer}");

    let versions = registry.get(&format!("/subjects/{subject}/versions")).await;
    assert_eq!(versions, json!([1, 2]), "refused schemas add no version");
}
