//! End-to-end test of the validating admission webhook on the local platform: the operator
//! binary runs on the host and serves the webhook on 127.0.0.1; the real API server (a host
//! process too) calls it through a ValidatingWebhookConfiguration that only this test's
//! pipelines match.

#[path = "e2e/support.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use tweetpipe_operator::crd::{FINALIZER, TweetPipeline};
use tweetpipe_operator::labels::INSTANCE_LABEL;
use tweetpipe_testkit::ports::free_port;

use support::*;

/// Deletes the test's ValidatingWebhookConfiguration when dropped, even on failure, so no
/// later request is sent to a webhook that is gone.
struct WebhookConfiguration {
    name: String,
    client: Client,
}

impl Drop for WebhookConfiguration {
    fn drop(&mut self) {
        let client = self.client.clone();
        let name = self.name.clone();
        cleanup_in_drop(async move {
            let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
            let _ = api.delete(&name, &DeleteParams::default()).await;
        });
    }
}

/// A configuration sending CREATE/UPDATE of this test's pipelines (label and namespace) to
/// `https://127.0.0.1:<port>/validate`; without caBundle until the operator publishes its CA.
async fn create_configuration(
    client: &Client,
    name: &str,
    ns: &str,
    port: u16,
) -> WebhookConfiguration {
    let config: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "tweetpipelines.tweetpipe.io",
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate")},
            "rules": [{
                "apiGroups": ["tweetpipe.io"],
                // As the chart's: both served versions.
                "apiVersions": ["v1alpha1", "v1beta1"],
                "resources": ["tweetpipelines"],
                "operations": ["CREATE", "UPDATE"],
                "scope": "Namespaced"
            }],
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "objectSelector": {"matchLabels": {INSTANCE_LABEL: ns}}
        }]
    }))
    .expect("configuration");
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    api.create(&PostParams::default(), &config)
        .await
        .expect("creating the ValidatingWebhookConfiguration");
    WebhookConfiguration {
        name: name.to_string(),
        client: client.clone(),
    }
}

/// The operator with the webhook on `127.0.0.1:<port>`, its CA Secret in the test namespace.
fn start_operator(ns: &str, port: u16, configuration: &str) -> Operator {
    let p = platform();
    let ops_port = free_port();
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log = log_dir.join(format!("{ns}-webhook.log"));
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_tweetpipe-operator"))
        .env("KUBECONFIG", &p.kubeconfig)
        .env("RUST_LOG", "info,tweetpipe_operator=debug")
        .env("TWEETPIPE_WATCH_NAMESPACE", ns)
        .env("TWEETPIPE_INSTANCE", ns)
        .env("POD_NAMESPACE", ns)
        .env("POD_NAME", "webhook")
        .env("TWEETPIPE_OPS_ADDR", format!("127.0.0.1:{ops_port}"))
        .env("TWEETPIPE_LEADER_ELECTION", "false")
        .env("TWEETPIPE_IMAGE_PULL_POLICY", "Never")
        .env("TWEETPIPE_WEBHOOK_ENABLED", "true")
        .env("TWEETPIPE_WEBHOOK_ADDR", format!("127.0.0.1:{port}"))
        .env("TWEETPIPE_WEBHOOK_CONFIGURATION", configuration)
        .env("TWEETPIPE_WEBHOOK_DNS_NAMES", "localhost")
        .env("TWEETPIPE_WEBHOOK_IP_SANS", "127.0.0.1")
        .env("TWEETPIPE_ALLOWED_API_HOSTS", allowed_api_hosts(ns))
        // e2e.rs's valid near miss names this repository's image (a format test).
        .env(
            "TWEETPIPE_ALLOWED_WORKER_IMAGES",
            "registry.local:5000/team/extractor:*",
        )
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("TWEETPIPE_WEBHOOK_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting the operator binary");
    Operator::adopt(child, ops_port, "webhook", log)
}

/// The message of a refused create, retrying while the API server cannot reach or trust the
/// webhook yet (it picks up a new caBundle within moments).
async fn refusal(api: &Api<TweetPipeline>, tp: &TweetPipeline) -> String {
    wait_for("the webhook to judge the create", || async {
        match api.create(&PostParams::default(), tp).await {
            Ok(created) => panic!("{} was accepted", created.metadata.name.unwrap_or_default()),
            Err(kube::Error::Api(status)) if status.message.contains("denied the request") => {
                Some(status.message)
            }
            Err(other) => {
                eprintln!("not judged yet: {other}");
                None
            }
        }
    })
    .await
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_refuses_overlong_queries_with_the_field_and_accepts_valid_pipelines() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "webhook").await;
    let port = free_port();
    let configuration_name = format!("tweetpipe-{}", ns.name);
    // Drop order is reverse: the configuration goes first, then the operator, then the
    // namespace (whose cleanup updates pipelines and must not need the webhook).
    let operator = start_operator(&ns.name, port, &configuration_name);
    let configuration = create_configuration(&client, &configuration_name, &ns.name, port).await;

    // The operator publishes the CA it keeps in its Secret, and only that CA.
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let bundle = wait_for("the operator to write the caBundle", || async {
        let config = configurations.get(&configuration_name).await.ok()?;
        config.webhooks?.first()?.client_config.ca_bundle.clone()
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let ca_secret = secrets
        .get("tweetpipe-operator-webhook-ca")
        .await
        .expect("the shared CA Secret in the operator's namespace");
    let ca_cert = ca_secret
        .data
        .expect("data")
        .remove("ca.crt")
        .expect("ca.crt");
    assert_eq!(bundle, ca_cert, "the caBundle is the shared CA");

    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), &ns.name);
    let mut too_long = pipeline(&ns, "too-long");
    too_long.spec.source.queries[0].query = format!("covid {}", "x".repeat(594));
    assert_eq!(too_long.spec.source.queries[0].query.chars().count(), 600);
    let message = refusal(&api, &too_long).await;
    assert!(
        message.contains("spec.source.queries[0].query"),
        "{message}"
    );
    assert!(message.contains("512"), "{message}");
    assert!(
        api.get_opt("too-long").await.unwrap().is_none(),
        "refused means not stored"
    );

    // Every class only the webhook can judge (CEL cannot parse X queries, compare arbitrary
    // resources or know the operator's allowed API hosts), each refused in words naming the field.
    type Edit = fn(&mut TweetPipeline);
    let classes: [(&str, Edit, &str, &str); 3] = [
        (
            "host-not-allowed",
            |tp| tp.spec.source.base_url = "https://collector.example".into(),
            "spec.source.baseUrl",
            "sends the bearer tokens to https://collector.example:443, which is not an allowed X API host",
        ),
        (
            "host-behind-userinfo",
            |tp| tp.spec.source.base_url = "https://api.x.com:hunter2@collector.example".into(),
            "spec.source.baseUrl",
            "must not contain user information",
        ),
        (
            "storage-over-limit",
            |tp| {
                let resources = serde_json::json!({
                    "requests": {"ephemeral-storage": "2Gi"},
                    "limits": {"ephemeral-storage": "1Gi"}
                });
                tp.spec.extractor.resources =
                    Some(serde_json::from_value(resources).expect("resources"));
            },
            "spec.extractor.resources.requests[ephemeral-storage]",
            "must not exceed the limit",
        ),
    ];
    // The queries X would refuse, as the first query: (name, query, phrase).
    let queries = [
        ("operator-alone", "lang:en", "cannot stand alone"),
        ("negations-only", "-covid -flu", "negated clauses"),
        (
            "unbalanced",
            "(covid OR flu lang:en",
            "unbalanced parentheses",
        ),
        ("unknown-operator", "covid foo:bar", "invalid operator"),
    ];
    let mut refused = Vec::new();
    for (name, edit, field, phrase) in classes {
        let mut tp = pipeline(&ns, name);
        edit(&mut tp);
        refused.push((name, tp, field, phrase));
    }
    for (name, query, phrase) in queries {
        let mut tp = pipeline(&ns, name);
        tp.spec.source.queries[0].query = query.into();
        refused.push((name, tp, "spec.source.queries[0].query", phrase));
    }
    for (name, tp, field, phrase) in refused {
        let message = refusal(&api, &tp).await;
        assert!(
            message.contains(field) && message.contains(phrase),
            "{name}: {message}"
        );
        assert!(
            !message.contains("should match"),
            "{name} quotes a regex: {message}"
        );
        assert!(!message.contains("hunter2"), "{name} echoes a password");
    }

    let valid = pipeline(&ns, "valid");
    api.create(&PostParams::default(), &valid)
        .await
        .expect("a valid pipeline is accepted by the webhook");

    // Updates are judged too.
    let long_query = "y".repeat(600);
    let patch =
        serde_json::json!({"spec": {"source": {"queries": [{"name": "q", "query": long_query}]}}});
    match api
        .patch("valid", &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert!(
                status.message.contains("spec.source.queries[0].query")
                    && status.message.contains("512"),
                "{}",
                status.message
            )
        }
        other => panic!("an overlong query was accepted on update: {other:?}"),
    }

    // The deprecated v1alpha1 is still served with the same schema: judged by the same webhook,
    // stored as v1beta1 and reconciled by the operator, and readable in either version.
    let resource = |version: &str| {
        kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "tweetpipe.io",
            version,
            "TweetPipeline",
        ))
    };
    let v1alpha1: Api<kube::core::DynamicObject> =
        Api::namespaced_with(client.clone(), &ns.name, &resource("v1alpha1"));
    let as_v1alpha1 = |tp: &TweetPipeline| {
        let mut object = serde_json::to_value(tp).expect("pipeline JSON");
        object["apiVersion"] = serde_json::json!("tweetpipe.io/v1alpha1");
        serde_json::from_value::<kube::core::DynamicObject>(object).expect("object")
    };
    let mut old_too_long = pipeline(&ns, "old-too-long");
    old_too_long.spec.source.queries[0].query = "z".repeat(600);
    match v1alpha1
        .create(&PostParams::default(), &as_v1alpha1(&old_too_long))
        .await
    {
        Err(kube::Error::Api(status)) => assert!(
            status.message.contains("spec.source.queries[0].query")
                && status.message.contains("512"),
            "{}",
            status.message
        ),
        other => panic!("an overlong v1alpha1 query was accepted: {other:?}"),
    }
    let old_valid = pipeline(&ns, "old-valid");
    let created = v1alpha1
        .create(&PostParams::default(), &as_v1alpha1(&old_valid))
        .await
        .expect("a valid v1alpha1 pipeline is accepted");
    assert_eq!(
        created.types.as_ref().map(|t| t.api_version.as_str()),
        Some("tweetpipe.io/v1alpha1")
    );
    let read_back = wait_for("the operator to add its finalizer to old-valid", || async {
        let tp = api.get("old-valid").await.ok()?;
        tp.finalizers().iter().any(|f| f == FINALIZER).then_some(tp)
    })
    .await;
    assert_eq!(
        read_back.spec, old_valid.spec,
        "v1beta1 reads the same spec"
    );
    let valid_as_old = v1alpha1
        .get("valid")
        .await
        .expect("v1alpha1 reads v1beta1 objects");
    let old_spec: tweetpipe_operator::crd::TweetPipelineSpec =
        serde_json::from_value(valid_as_old.data["spec"].clone()).expect("a v1alpha1 spec");
    assert_eq!(old_spec, valid.spec);

    let metrics = operator.metrics().await.expect("operator metrics");
    let denied = metric(
        &metrics,
        r#"tweetpipe_operator_admission_requests_total{operation="CREATE",result="denied"}"#,
    );
    let allowed = metric(
        &metrics,
        r#"tweetpipe_operator_admission_requests_total{operation="CREATE",result="allowed"}"#,
    );
    assert!(
        denied >= 1.0 && allowed >= 1.0,
        "admission metrics:\n{metrics}"
    );
    drop(configuration);
    drop(operator);
}

/// Issue 19: an expired (or expiring) self-managed CA is not reused. An operator starting with a
/// CA Secret that expires in 30 days replaces the CA, keeps the old one as `previous-ca.crt`,
/// publishes both in the caBundle (replicas still serving the old CA's certificates stay
/// trusted), and serves a certificate of the new CA that the API server accepts.
#[tokio::test(flavor = "multi_thread")]
async fn an_expiring_webhook_ca_is_replaced_and_both_are_trusted_meanwhile() {
    use tweetpipe_operator::admission::certs::{CertificateAuthority, expires};

    let client = client().await;
    let ns = TestNamespace::new(&client, "webhook-rotate").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let expiring = CertificateAuthority::generate_valid_for("expiring-ca", 30).expect("CA");
    let old_pem = expiring.cert_pem().to_string();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "tweetpipe-operator-webhook-ca"},
        "stringData": {"ca.crt": old_pem, "ca.key": expiring.key_pem()}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("the expiring CA Secret");

    let port = free_port();
    let configuration_name = format!("tweetpipe-{}", ns.name);
    let _operator = start_operator(&ns.name, port, &configuration_name);
    let _configuration = create_configuration(&client, &configuration_name, &ns.name, port).await;

    let rotated = wait_for("the operator to replace the expiring CA", || async {
        let data = secrets
            .get("tweetpipe-operator-webhook-ca")
            .await
            .ok()?
            .data?;
        let current = String::from_utf8(data.get("ca.crt")?.0.clone()).ok()?;
        let previous = String::from_utf8(data.get("previous-ca.crt")?.0.clone()).ok()?;
        (current != old_pem).then_some((current, previous))
    })
    .await;
    assert_eq!(
        rotated.1, old_pem,
        "the replaced CA is kept as previous-ca.crt"
    );
    let left = expires(&rotated.0).expect("new CA") - chrono::Utc::now();
    assert!(left.num_days() > 3000, "a ten-year CA: {left}");

    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let bundle = wait_for("the caBundle with both CAs", || async {
        let config = configurations.get(&configuration_name).await.ok()?;
        let bundle = config.webhooks?.first()?.client_config.ca_bundle.clone()?;
        let text = String::from_utf8(bundle.0).ok()?;
        (text.contains(rotated.0.trim()) && text.contains(old_pem.trim())).then_some(text)
    })
    .await;
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");

    // The API server trusts the new serving certificate: the webhook judges a bad pipeline.
    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), &ns.name);
    let mut tp = pipeline(&ns, "rotated");
    tp.spec.source.queries[0].query = "(covid".into();
    let message = refusal(&api, &tp).await;
    assert!(
        message.contains("spec.source.queries[0].query"),
        "{message}"
    );
}
