//! The platform's schema registry speaks the Confluent API and enforces compatibility: `post.v1`
//! registers under `<topic>-value` and reads back by id; with BACKWARD compatibility a new optional
//! field is accepted and a new required field or a changed type is refused with 409.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tweetpipe_testkit::names::random_hex;
use tweetpipe_testkit::registry::{TestRegistry, with_field};

/// The first post schema as it was (`TestRegistry`'s `post_v1` is the current one).
const POST_V1: &str = include_str!("../../../shared/common/schema/post.v1.avsc");

fn post_v1() -> Value {
    serde_json::from_str(POST_V1).expect("post.v1.avsc is JSON")
}

fn schema_id(answer: &Value) -> u64 {
    answer["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no id in {answer}"))
}

#[tokio::test]
async fn registers_fetches_and_enforces_backward_compatibility() {
    let registry = TestRegistry::new();
    let subject = format!("posts-{}-value", random_hex(8));

    let (status, answer) = registry.register(&subject, &post_v1()).await;
    assert_eq!(status, StatusCode::OK, "registering post.v1: {answer}");
    let v1_id = schema_id(&answer);

    let fetched_schema = registry.schema(v1_id).await;
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
    assert_eq!(registry.versions(&subject).await, [1, 2]);

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

    assert_eq!(
        registry.versions(&subject).await,
        [1, 2],
        "refused schemas add no version"
    );
}
