//! Good input is never refused: the pipelines users copy from this repository (the quickstart,
//! the secured one, the demo's and the GitOps example's) pass the CRD's CEL rules and admission under the chart's default policy,
//! with only their own API host allowed (as the chart's `allowedApiServices` would list it).

use kube_cel::compile_schema;
use serde::Deserialize as _;
use serde_json::Value;

use crate::admission::rules::check;
use crate::api_hosts::AllowedApiHosts;
use crate::crd::TweetPipeline;
use crate::policy::Policy;

const EXAMPLES: [(&str, &str); 4] = [
    (
        "examples/quickstart/pipeline.yaml",
        include_str!("../../../../examples/quickstart/pipeline.yaml"),
    ),
    (
        "examples/secured/pipeline.yaml",
        include_str!("../../../../examples/secured/pipeline.yaml"),
    ),
    (
        "examples/covid19.yaml",
        include_str!("../../../../examples/covid19.yaml"),
    ),
    (
        "examples/gitops/pipelines/trends.yaml",
        include_str!("../../../../examples/gitops/pipelines/trends.yaml"),
    ),
];

/// Every TweetPipeline document of a multi-document YAML file.
fn pipelines(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| serde_yaml::Value::deserialize(document).expect("YAML"))
        .map(|document| serde_json::to_value(document).expect("JSON"))
        .filter(|document| document["kind"] == "TweetPipeline")
        .collect()
}

#[test]
fn the_example_pipelines_pass_cel_and_admission() {
    let schema = serde_json::to_value(crate::crd::storage_schema()).expect("schema JSON");
    let compiled = compile_schema(&schema);
    for (file, text) in EXAMPLES {
        let found = pipelines(text);
        assert!(!found.is_empty(), "{file} holds a TweetPipeline");
        for object in found {
            if let Err(errors) = kube_cel::validate_compiled(&compiled, &object, None) {
                let messages: Vec<String> =
                    errors.into_vec().into_iter().map(|e| e.message).collect();
                panic!("{file}: CEL refuses it: {messages:?}");
            }
            let tp: TweetPipeline = serde_json::from_value(object).expect("a TweetPipeline");
            let host = url::Url::parse(&tp.spec.source.base_url).expect("baseUrl");
            let allowed = AllowedApiHosts::parse(&format!(
                "{}:{}",
                host.host_str().expect("host"),
                host.port_or_known_default().expect("port")
            ))
            .expect("allow-list");
            let refusals = check(&tp, None, &Policy::with_api_hosts(allowed, &[]));
            assert!(
                refusals.is_empty(),
                "{file}: admission refuses it: {refusals:?}"
            );
        }
    }
}
