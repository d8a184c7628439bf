//! Contracts written more than once. Rules the API server or Terraform evaluate cannot call Rust:
//! each CEL rule of the CRD (and each Terraform validation) is paired with its admission twin and
//! the contract they both come from (`tweetpipe_common::contract::{topics, budget}`), over one
//! table, so they cannot drift apart. The API server evaluates the same CEL; kube-cel evaluates
//! it here. And the fields the post record needs (`contract::fields`) are names X accepts.

use kube_cel::{CompiledSchema, compile_schema};
use serde_json::{Value, json};
use tweetpipe_common::contract::budget::{after_safety_margin, after_safety_margin_expression};
use tweetpipe_common::contract::fields::{
    REQUIRED_EXPANSIONS, REQUIRED_PLACE_FIELDS, REQUIRED_TWEET_FIELDS, REQUIRED_USER_FIELDS,
};
use tweetpipe_common::contract::topics::{
    COMPANION_SUFFIXES, KAFKA_MAX_TOPIC_CHARS, LONGEST_COMPANION_SUFFIX, MAX_POST_TOPIC_CHARS,
    is_companion_topic,
};
use tweetpipe_xquery::fields;

use crate::admission::rules::check;
use crate::api_hosts::AllowedApiHosts;
use crate::crd::{
    FieldsSpec, MIN_SHARE_MESSAGE, TweetPipeline, WILDCARD_DATABASE_MESSAGE,
    reserved_database_message, reserved_topic_suffix_message, topic_length_message,
};
use crate::policy::Policy;
use tweetpipe_common::contract::databases::{
    GRANT_WILDCARDS, RESERVED_DATABASES, is_reserved_database, is_wildcard_only,
};

/// The Terraform module's copy of the CRD rules.
const TERRAFORM_VARIABLES: &str =
    include_str!("../../../../terraform/modules/pipeline/variables.tf");

fn schema() -> Value {
    serde_json::to_value(crate::crd::storage_schema()).unwrap()
}

fn valid() -> Value {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../fixtures/pipeline.yaml")).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// The messages of the CEL rules `object` breaks.
fn cel_messages(schema: &CompiledSchema, object: &Value) -> Vec<String> {
    match kube_cel::validate_compiled(schema, object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

/// The messages of the admission refusals of `object` for `field`.
fn admission_messages(object: &Value, field: &str) -> Vec<String> {
    let tp: TweetPipeline = serde_json::from_value(object.clone()).unwrap();
    let hosts = AllowedApiHosts::parse("x-api-simulator.tweetpipe-system:8080").unwrap();
    check(&tp, None, &Policy::with_api_hosts(hosts, &[]))
        .into_iter()
        .filter(|r| r.field == field)
        .map(|r| r.message)
        .collect()
}

/// The CEL rules on `spec.kafka.topic`, as the CRD carries them.
fn topic_rules(schema: &Value) -> Vec<String> {
    schema["properties"]["spec"]["properties"]["kafka"]["properties"]["topic"]
        ["x-kubernetes-validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn topic_rules_in_the_crd_name_every_companion_suffix_and_the_length_limit() {
    let rules = topic_rules(&schema());
    let length = format!(
        "size(self) <= {}",
        KAFKA_MAX_TOPIC_CHARS - LONGEST_COMPANION_SUFFIX.len()
    );
    assert!(rules.contains(&length), "{rules:?}");
    let suffix_rule = rules
        .iter()
        .find(|r| r.contains("endsWith"))
        .expect("a suffix rule");
    for suffix in COMPANION_SUFFIXES {
        assert!(
            suffix_rule.contains(&format!("!self.endsWith('{suffix}')")),
            "{suffix_rule} misses {suffix}"
        );
        // The suffix is quoted verbatim in CEL and HCL strings.
        assert!(!suffix.contains(['\'', '"', '\\']), "{suffix}");
    }
    let longest = COMPANION_SUFFIXES.iter().map(|s| s.len()).max().unwrap();
    assert_eq!(MAX_POST_TOPIC_CHARS, KAFKA_MAX_TOPIC_CHARS - longest);
}

#[test]
fn topic_cel_rules_and_admission_agree_with_the_contract() {
    let schema = compile_schema(&schema());
    let mut topics: Vec<String> = vec![
        "tweets".into(),
        "tweets.slot".into(),
        "tweets.dlq.archive".into(),
        "tweets_slots".into(),
        "t".repeat(MAX_POST_TOPIC_CHARS),
        "t".repeat(MAX_POST_TOPIC_CHARS + 1),
        "t".repeat(KAFKA_MAX_TOPIC_CHARS),
        "t".repeat(KAFKA_MAX_TOPIC_CHARS + 1),
    ];
    for suffix in COMPANION_SUFFIXES {
        topics.push(format!("tweets{suffix}"));
        topics.push(format!("a.b{suffix}"));
        // At and over the length limit, with the suffix.
        topics.push(format!(
            "{}{suffix}",
            "t".repeat(MAX_POST_TOPIC_CHARS - suffix.len())
        ));
        topics.push(format!(
            "{}{suffix}",
            "t".repeat(MAX_POST_TOPIC_CHARS + 1 - suffix.len())
        ));
        // Near misses: the suffix without its dot, or followed by more.
        topics.push(format!("tweets_{}", &suffix[1..]));
        topics.push(format!("tweets{suffix}x"));
    }
    let rules = [
        (
            reserved_topic_suffix_message(),
            is_companion_topic as fn(&str) -> bool,
        ),
        (topic_length_message(), |t: &str| {
            t.len() > MAX_POST_TOPIC_CHARS
        }),
    ];
    let mut refused = 0;
    for topic in &topics {
        let mut object = valid();
        object["spec"]["kafka"]["topic"] = json!(topic);
        let cel = cel_messages(&schema, &object);
        let admission = admission_messages(&object, "spec.kafka.topic");
        for (message, contract) in &rules {
            let expected = contract(topic);
            assert_eq!(cel.contains(message), expected, "CEL, {topic}: {cel:?}");
            assert_eq!(
                admission.contains(message),
                expected,
                "admission, {topic}: {admission:?}"
            );
            refused += usize::from(expected);
        }
    }
    assert!(refused >= 2 * COMPANION_SUFFIXES.len(), "the table refuses");
}

/// The schema crate's list of reserved databases and its wildcard-only test, the CRD's CEL rules
/// and the webhook's refusals, over one table; good names (with '_') are never refused.
#[test]
fn database_cel_rules_and_admission_agree_with_the_schema_crate() {
    let schema = compile_schema(&schema());
    let mut databases: Vec<String> = vec![
        "tweets_covid19".into(),
        "acme_prod".into(),
        "_acme".into(),
        "acme_".into(),
        "a".into(),
        "_1".into(),
        "mysql2".into(),
        "sys_reports".into(),
        "tweetpipe_control2".into(),
        "tweetpipe".into(),
        "_".into(),
        "__".into(),
        "_____".into(),
    ];
    for reserved in RESERVED_DATABASES {
        databases.push(reserved.into());
        databases.push(reserved.to_ascii_uppercase());
        databases.push(format!("{reserved}_"));
        // Quoted verbatim in CEL and HCL strings.
        assert!(!reserved.contains(['\'', '"', '\\']), "{reserved}");
    }
    let rules = [
        (
            reserved_database_message(),
            is_reserved_database as fn(&str) -> bool,
        ),
        (WILDCARD_DATABASE_MESSAGE.to_string(), is_wildcard_only),
    ];
    let mut refused = 0;
    for database in &databases {
        let mut object = valid();
        object["spec"]["mysql"]["database"] = json!(database);
        let cel = cel_messages(&schema, &object);
        let admission = admission_messages(&object, "spec.mysql.database");
        for (message, contract) in &rules {
            let expected = contract(database);
            assert_eq!(cel.contains(message), expected, "CEL, {database}: {cel:?}");
            assert_eq!(
                admission.contains(message),
                expected,
                "admission, {database}: {admission:?}"
            );
            refused += usize::from(expected);
        }
        let good = !rules.iter().any(|(_, contract)| contract(database));
        if good {
            assert_eq!(cel, Vec::<String>::new(), "CEL refuses {database}");
            assert_eq!(
                admission,
                Vec::<String>::new(),
                "admission refuses {database}"
            );
        }
    }
    assert!(
        refused >= 2 * RESERVED_DATABASES.len() + 3,
        "the table refuses"
    );
}

#[test]
fn terraform_database_validation_matches_the_schema_crate() {
    let listed = RESERVED_DATABASES
        .map(|name| format!("\"{name}\""))
        .join(", ");
    let reserved = format!("!contains([{listed}], lower(var.mysql.database))");
    assert!(TERRAFORM_VARIABLES.contains(&reserved), "{reserved}");
    assert!(TERRAFORM_VARIABLES.contains(&format!("\"{}.\"", reserved_database_message())));
    let class: String = GRANT_WILDCARDS.iter().collect();
    let wildcard = format!("!can(regex(\"^[{class}]+$\", var.mysql.database))");
    assert!(TERRAFORM_VARIABLES.contains(&wildcard), "{wildcard}");
    assert!(TERRAFORM_VARIABLES.contains(&format!("\"{WILDCARD_DATABASE_MESSAGE}.\"")));
}

#[test]
fn min_share_cel_rule_and_admission_agree_with_after_safety_margin() {
    let schema = compile_schema(&schema());
    let mut rows = 0;
    for requests_per_window in [1_u32, 7, 60, 99, 450, 1_000_000] {
        // The schema's range of safetyMarginPercent (OpenAPI bounds are the API server's).
        for margin in [0_u32, 1, 10, 33, 50, 90] {
            let usable = after_safety_margin(u64::from(requests_per_window), margin);
            let mut mins = vec![1_u32, 2, requests_per_window];
            mins.extend(
                u32::try_from(usable)
                    .ok()
                    .into_iter()
                    .flat_map(|u| [u, u + 1]),
            );
            mins.retain(|&m| m >= 1);
            for min in mins {
                let mut object = valid();
                object["spec"]["source"]["limits"]["requestsPerWindow"] =
                    json!(requests_per_window);
                object["spec"]["source"]["safetyMarginPercent"] = json!(margin);
                object["spec"]["extractor"]["minRequestsPerReplica"] = json!(min);
                let expected = u64::from(min) > usable;
                let what = format!("{min} per replica of {requests_per_window} at {margin}%");
                let cel = cel_messages(&schema, &object);
                assert_eq!(
                    cel.iter().any(|m| m == MIN_SHARE_MESSAGE),
                    expected,
                    "CEL, {what}: {cel:?}"
                );
                let admission = admission_messages(&object, "spec.extractor.minRequestsPerReplica");
                assert_eq!(
                    admission
                        .iter()
                        .any(|m| m.contains("after the safety margin")),
                    expected,
                    "admission, {what}: {admission:?}"
                );
                rows += 1;
            }
        }
    }
    assert!(rows > 100);
}

#[test]
fn terraform_topic_validation_matches_the_contract() {
    let length = format!("length(var.kafka.topic) <= {MAX_POST_TOPIC_CHARS}");
    assert!(TERRAFORM_VARIABLES.contains(&length), "{length}");
    assert!(TERRAFORM_VARIABLES.contains(&format!(
        "at most {MAX_POST_TOPIC_CHARS} characters (the pipeline adds {LONGEST_COMPANION_SUFFIX}"
    )));
    let suffixes = COMPANION_SUFFIXES
        .map(|suffix| format!("!endswith(var.kafka.topic, \"{suffix}\")"))
        .join(" && ");
    assert!(
        TERRAFORM_VARIABLES.contains(&format!("condition     = {suffixes}\n")),
        "variables.tf must refuse every companion suffix: {suffixes}"
    );
    assert!(TERRAFORM_VARIABLES.contains(&format!("\"{}.\"", reserved_topic_suffix_message())));
}

#[test]
fn terraform_min_share_validation_is_after_safety_margin() {
    let formula = after_safety_margin_expression(
        "var.source_config.limits.requests_per_window",
        "var.source_config.safety_margin_percent",
    );
    // HCL divides in floating point: floor() makes it the contract's rounding down.
    let condition = format!("var.extractor.min_requests_per_replica <= floor({formula})");
    assert!(
        TERRAFORM_VARIABLES.contains(&condition),
        "variables.tf must say {condition}"
    );
}

/// The extractor always requests the fields the post record needs: X must accept each (else
/// every request is a 400), and the CRD's defaults list them, so the spec shows what is asked.
#[test]
fn required_fields_are_names_x_accepts_and_in_the_defaults() {
    let accepted = [
        ("tweet.fields", REQUIRED_TWEET_FIELDS, fields::TWEET_FIELDS),
        ("user.fields", REQUIRED_USER_FIELDS, fields::USER_FIELDS),
        ("place.fields", REQUIRED_PLACE_FIELDS, fields::PLACE_FIELDS),
        ("expansions", REQUIRED_EXPANSIONS, fields::EXPANSIONS),
    ];
    for (parameter, required, known) in accepted {
        for name in required {
            assert!(
                known.contains(name),
                "X does not know {name} in {parameter}"
            );
        }
    }
    let defaults = FieldsSpec::default();
    let defaulted = [
        (
            "tweet.fields",
            REQUIRED_TWEET_FIELDS,
            &defaults.tweet_fields,
        ),
        ("user.fields", REQUIRED_USER_FIELDS, &defaults.user_fields),
    ];
    for (parameter, required, default) in defaulted {
        for name in required {
            assert!(
                default.iter().any(|d| d == name),
                "{name} not in the default {parameter}"
            );
        }
    }
}

/// The bounds a worker checks at start are the CRD's and the Terraform module's, to the unit: a
/// spec the API server accepts never crash-loops its workers, and none a worker takes is refused.
/// (The CRD once accepted batchSize up to 100,000 while the transformer refused over 10,000.)
#[test]
fn worker_bounds_are_the_crds_and_terraforms() {
    use tweetpipe_common::contract::extractor::{MAX_RESULTS_MAX, MAX_RESULTS_MIN};
    use tweetpipe_common::contract::transformer::{BATCH_SIZE_MAX, BATCH_SIZE_RANGE};

    let schema = schema();
    let spec = &schema["properties"]["spec"]["properties"];
    let bounds = |field: &Value| (field["minimum"].as_f64(), field["maximum"].as_f64());
    let batch = &spec["transformer"]["properties"]["batchSize"];
    assert_eq!(
        bounds(batch),
        (
            Some(*BATCH_SIZE_RANGE.start() as f64),
            Some(*BATCH_SIZE_RANGE.end() as f64)
        ),
        "spec.transformer.batchSize: {batch}"
    );
    let max_results = &spec["source"]["properties"]["maxResults"];
    assert_eq!(
        bounds(max_results),
        (
            Some(f64::from(MAX_RESULTS_MIN)),
            Some(f64::from(MAX_RESULTS_MAX))
        ),
        "spec.source.maxResults: {max_results}"
    );

    // What the CRD's largest batch becomes in the transformer's config, the transformer accepts.
    let largest = crate::fixtures::pipeline_with(|tp| {
        tp.spec.transformer.batch_size = BATCH_SIZE_MAX;
    });
    crate::build::worker_config::transformer_config(&largest)
        .validate()
        .expect("the CRD's largest batchSize is one the transformer takes");

    for condition in [
        format!(
            "var.transformer.batch_size >= {} && var.transformer.batch_size <= {BATCH_SIZE_MAX}",
            BATCH_SIZE_RANGE.start()
        ),
        format!(
            "var.source_config.max_results >= {MAX_RESULTS_MIN} && var.source_config.max_results <= {MAX_RESULTS_MAX}"
        ),
    ] {
        assert!(
            TERRAFORM_VARIABLES.contains(&condition),
            "variables.tf must say {condition}"
        );
    }
}

/// Every admission refusal message of `object`, whatever the field.
fn all_admission_messages(object: &Value) -> Vec<String> {
    let tp: TweetPipeline = serde_json::from_value(object.clone()).unwrap();
    let hosts = AllowedApiHosts::parse("x-api-simulator.tweetpipe-system:8080").unwrap();
    check(&tp, None, &Policy::with_api_hosts(hosts, &[]))
        .into_iter()
        .map(|r| r.message)
        .collect()
}

/// A query of exactly `length` characters that X's grammar accepts (two-letter terms).
fn query_of(length: usize) -> String {
    let mut query: String = "ab ".repeat(length / 3 + 1).chars().take(length).collect();
    if query.ends_with(' ') {
        query.pop();
        query.push('c');
    }
    query
}

/// A stream query is a rule (X's rule limit) and, with search recovery, a search too: the CEL
/// rule and the webhook refuse the same lengths at every access level, and a query at the limit
/// (a rule of 1,024 characters on Pro, longer than any search query there) is never refused.
#[test]
fn stream_query_length_cel_rule_and_admission_agree() {
    use crate::crd::{stream_query_length_message, stream_query_max_chars};
    use tweetpipe_xquery::AccessLevel;

    let schema = compile_schema(&schema());
    let message = stream_query_length_message();
    let mut refused = 0;
    let mut rows = 0;
    for level in AccessLevel::ALL {
        for delivery in [None, Some("Search"), Some("Stream")] {
            for recovery in [None, Some(true), Some(false)] {
                // searchRecovery without Stream has its own refusal (below).
                if recovery.is_some() && delivery != Some("Stream") {
                    continue;
                }
                let limit = stream_query_max_chars(level, recovery != Some(false));
                let lengths = [
                    1,
                    512,
                    513,
                    1_024,
                    1_025,
                    2_048,
                    2_049,
                    4_096,
                    limit,
                    limit + 1,
                ];
                for length in lengths.into_iter().filter(|l| *l <= 4_096) {
                    let mut object = valid();
                    object["spec"]["source"]["accessLevel"] = json!(level.name());
                    let query = &mut object["spec"]["source"]["queries"][0];
                    query["query"] = json!(query_of(length));
                    if let Some(delivery) = delivery {
                        query["delivery"] = json!(delivery);
                    }
                    if let Some(recovery) = recovery {
                        query["searchRecovery"] = json!(recovery);
                    }
                    let expected = delivery == Some("Stream") && length > limit;
                    let what = format!("{level} {delivery:?} recovery {recovery:?}, {length}");
                    let cel = cel_messages(&schema, &object);
                    assert_eq!(cel.contains(&message), expected, "CEL, {what}: {cel:?}");
                    let admission = all_admission_messages(&object);
                    assert_eq!(
                        admission.contains(&message),
                        expected,
                        "admission, {what}: {admission:?}"
                    );
                    if delivery == Some("Stream") && !expected {
                        // Good input: neither refuses the query at all.
                        assert_eq!(cel, Vec::<String>::new(), "CEL refuses {what}");
                        assert_eq!(admission, Vec::<String>::new(), "admission refuses {what}");
                    }
                    refused += usize::from(expected);
                    rows += 1;
                }
            }
        }
    }
    assert!(refused >= 8 && rows > 100, "{refused} of {rows}");
    // X's table: rules of 1,024 characters on Pro, 2,048 on Enterprise.
    assert_eq!(stream_query_max_chars(AccessLevel::Pro, false), 1_024);
    assert_eq!(stream_query_max_chars(AccessLevel::Pro, true), 512);
    assert_eq!(
        stream_query_max_chars(AccessLevel::Enterprise, false),
        2_048
    );
    assert_eq!(stream_query_max_chars(AccessLevel::Enterprise, true), 2_048);
}

/// `searchRecovery` only with `delivery: Stream`, in CEL and in the webhook alike.
#[test]
fn search_recovery_cel_rule_and_admission_agree() {
    use crate::crd::SEARCH_RECOVERY_NEEDS_STREAM;

    let schema = compile_schema(&schema());
    for delivery in [None, Some("Search"), Some("Stream")] {
        for recovery in [None, Some(true), Some(false)] {
            let mut object = valid();
            let query = &mut object["spec"]["source"]["queries"][1];
            if let Some(delivery) = delivery {
                query["delivery"] = json!(delivery);
            }
            if let Some(recovery) = recovery {
                query["searchRecovery"] = json!(recovery);
            }
            let expected = recovery.is_some() && delivery != Some("Stream");
            let what = format!("{delivery:?} with {recovery:?}");
            let cel = cel_messages(&schema, &object);
            assert_eq!(
                cel.iter().any(|m| m == SEARCH_RECOVERY_NEEDS_STREAM),
                expected,
                "CEL, {what}: {cel:?}"
            );
            let admission = admission_messages(&object, "spec.source.queries[1].searchRecovery");
            assert_eq!(
                admission.iter().any(|m| m == SEARCH_RECOVERY_NEEDS_STREAM),
                expected,
                "admission, {what}: {admission:?}"
            );
            if !expected {
                assert_eq!(cel, Vec::<String>::new(), "CEL refuses {what}");
            }
        }
    }
}

/// The CRD's bounds of `source.stream.backfillMinutes` are the extractor's.
#[test]
fn backfill_bounds_are_the_extractors() {
    use tweetpipe_common::contract::extractor::BACKFILL_MINUTES_RANGE;

    let schema = schema();
    let field = &schema["properties"]["spec"]["properties"]["source"]["properties"]["stream"]["properties"]
        ["backfillMinutes"];
    assert_eq!(
        (field["minimum"].as_f64(), field["maximum"].as_f64()),
        (
            Some(f64::from(*BACKFILL_MINUTES_RANGE.start())),
            Some(f64::from(*BACKFILL_MINUTES_RANGE.end()))
        ),
        "{field}"
    );
    assert_eq!(field["default"], json!(BACKFILL_MINUTES_RANGE.end()));
}

/// Good input is never refused: the example of docs/streaming.md (its `source` merged into the
/// fixture) passes the CEL rules and admission, and gives the extractor the three modes.
#[test]
fn the_streaming_guides_example_is_accepted() {
    const GUIDE: &str = include_str!("../../../../docs/streaming.md");
    let block = GUIDE
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block in docs/streaming.md");
    let example: serde_yaml::Value = serde_yaml::from_str(block).unwrap();
    let example = serde_json::to_value(example).unwrap();
    let mut object = valid();
    for key in ["accessLevel", "stream", "queries"] {
        object["spec"]["source"][key] = example["spec"]["source"][key].clone();
    }
    let schema = compile_schema(&schema());
    assert_eq!(cel_messages(&schema, &object), Vec::<String>::new());
    assert_eq!(all_admission_messages(&object), Vec::<String>::new());
    let tp: TweetPipeline = serde_json::from_value(object).unwrap();
    let modes: Vec<_> = tp
        .spec
        .source
        .queries
        .iter()
        .map(|q| q.delivery_mode())
        .collect();
    use tweetpipe_common::contract::extractor::Delivery;
    assert_eq!(
        modes,
        [
            Delivery::Search,
            Delivery::StreamWithSearchRecovery,
            Delivery::Stream
        ]
    );
    assert_eq!(tp.spec.source.stream.map(|s| s.backfill_minutes), Some(5));
}
