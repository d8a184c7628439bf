//! The builders: worker configs (the contract the workers parse), workloads, topics. One file per
//! module tested; the helpers here are shared by them.

mod secret_digest;
mod topics;
mod worker_config;
mod workloads;

use k8s_openapi::api::apps::v1::StatefulSet;

use crate::build::workloads::{CONFIG_HASH_ANNOTATION, WorkerDefaults};

fn defaults() -> WorkerDefaults {
    WorkerDefaults {
        extractor_image: "tweetpipe/extractor:test".into(),
        transformer_image: "tweetpipe/transformer:test".into(),
        image_pull_policy: "IfNotPresent".into(),
        otlp_endpoint: None,
        log_filter: "info".into(),
    }
}

/// Asserts the value at each JSON pointer of a rendered worker config; a failure names the
/// pointer.
fn assert_config(config: &serde_json::Value, expected: &[(&str, serde_json::Value)]) {
    for (pointer, value) in expected {
        let actual = config.pointer(pointer).unwrap_or(&serde_json::Value::Null);
        assert_eq!(actual, value, "{pointer}");
    }
}

/// A file the workers read from their mounted Secrets, as their configs name it.
fn secret_file(path: &str) -> serde_json::Value {
    format!("/var/run/secrets/tweetpipe/{path}").into()
}

/// The config hash on an extractor StatefulSet's pod template (a change rolls the pods).
fn config_hash(sts: StatefulSet) -> String {
    sts.spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()[CONFIG_HASH_ANNOTATION]
        .clone()
}
