//! End-to-end test of observability on the local platform (`make platform-up` and
//! `make observe-up`): with a pipeline running under the operator installed by its chart,
//! Prometheus (Kubernetes service discovery of annotated pods) scrapes every component, its
//! HTTP API answers the pipeline's budget, and the OpenTelemetry Collector's file export holds,
//! for a post picked from MySQL, one trace with the extractor's page span and a transformer span.

mod e2e {
    pub mod support;
}

use std::collections::HashMap;
use std::process::Command;

use rdkafka::Message;
use rdkafka::message::Headers;
use sqlx::Connection;
use tweetpipe_testkit::Observability;
use tweetpipe_testkit::observability::{active_targets, exported_spans, query};

use e2e::support::*;

const PIPELINE: &str = "covid";

/// The operator chart installed into the test namespace (release named after it), watching only
/// that namespace, webhook off; uninstalled when dropped (its ClusterRole and binding are
/// cluster-wide).
struct ChartOperator {
    release: String,
    namespace: String,
}

impl ChartOperator {
    fn install(namespace: &str, observability: &Observability) -> Self {
        let image = |var: &str, default: &str| std::env::var(var).unwrap_or(default.to_string());
        let operator_image = image("E2E_OPERATOR_IMAGE", "docker.io/tweetpipe/operator:dev");
        let (repository, tag) = operator_image
            .rsplit_once(':')
            .expect("E2E_OPERATOR_IMAGE is repository:tag");
        let release = namespace.to_string();
        let values = [
            format!("image.repository={repository}"),
            format!("image.tag={tag}"),
            "image.pullPolicy=Never".into(),
            format!(
                "workers.extractor.image={}",
                image("E2E_EXTRACTOR_IMAGE", "docker.io/tweetpipe/extractor:dev")
            ),
            format!(
                "workers.transformer.image={}",
                image(
                    "E2E_TRANSFORMER_IMAGE",
                    "docker.io/tweetpipe/transformer:dev"
                )
            ),
            "workers.pullPolicy=Never".into(),
            format!("watchNamespace={namespace}"),
            format!("instance={namespace}"),
            "webhook.enabled=false".into(),
            "leaderElection.enabled=false".into(),
            "reconcile.requeueSeconds=5".into(),
            format!("allowedApiServices[0].namespace={namespace}"),
            "allowedApiServices[0].name=x-api-simulator".into(),
            "allowedApiServices[0].port=8080".into(),
            format!("otlpEndpoint={}", observability.otlp_endpoint_pod),
            format!("workers.otlpEndpoint={}", observability.otlp_endpoint_pod),
        ];
        let mut helm = Command::new("helm");
        helm.env("PATH", tools_path())
            .args(["--kubeconfig"])
            .arg(&platform().kubeconfig)
            .args(["upgrade", "--install", &release])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../helm/tweetpipe-operator"
            ))
            .args(["--namespace", namespace, "--wait", "--timeout", "180s"]);
        for value in &values {
            helm.args(["--set", value]);
        }
        let chart = ChartOperator {
            release,
            namespace: namespace.to_string(),
        };
        let output = helm.output().expect("running helm");
        assert!(
            output.status.success(),
            "helm install of the operator chart failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        chart
    }
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        let _ = Command::new("helm")
            .env("PATH", tools_path())
            .args(["--kubeconfig"])
            .arg(&platform().kubeconfig)
            .args(["uninstall", &self.release, "--namespace", &self.namespace])
            .args(["--wait", "--timeout", "60s"])
            .output();
    }
}

/// PATH with the platform's helm and kubectl first.
fn tools_path() -> String {
    let platform_bins = platform()
        .vars
        .get("TWEETPIPE_BIN_PATH")
        .cloned()
        .unwrap_or_default();
    format!(
        "{platform_bins}:{}",
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Pod name prefixes of every component of the test namespace, each of which must be an `up`
/// target: the operator (chart Deployment), the extractor and transformer (operator
/// workloads), the simulator.
fn component_prefixes(release: &str) -> [(&'static str, String); 4] {
    [
        ("operator", format!("{release}-tweetpipe-operator-")),
        ("extractor", format!("{PIPELINE}-extractor-")),
        ("transformer", format!("{PIPELINE}-transformer-")),
        ("simulator", "x-api-simulator-".to_string()),
    ]
}

/// The trace id in a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id_of(traceparent: &str) -> Option<String> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    (parts.len() == 4 && parts[1].len() == 32).then(|| parts[1].to_lowercase())
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_every_component_and_a_post_has_one_trace_across_workers() {
    let observability = platform().require_observability();
    let client = client().await;
    let ns = TestNamespace::with_prefix(&client, "obs").await;
    put_pipeline_secrets(&client, &ns.name).await;
    deploy_simulator(&client, &ns.name).await;
    let chart = ChartOperator::install(&ns.name, &observability);
    let mut tp = pipeline(&ns, PIPELINE);
    tp.spec.source.tokens.truncate(1);
    // Leaves nothing behind: deleting the pipeline at the end drops its topics and database.
    tp.spec.deletion_policy = tweetpipe_operator::crd::DeletionPolicy::Delete;
    create(&client, &tp).await;
    wait_condition(&client, &ns.name, PIPELINE, "Ready", "True", None).await;
    let database = tp.spec.mysql.database.clone();
    wait_for_stored_posts("posts in MariaDB", &database).await;

    // 1. Every component's pod is an `up` target, found through Kubernetes service discovery.
    let prometheus = observability.prometheus_url.as_str();
    let prefixes = component_prefixes(&chart.release);
    wait_for("every component's target up in Prometheus", || async {
        let targets = active_targets(prometheus).await;
        let up: Vec<&HashMap<String, String>> = targets
            .iter()
            .filter(|(labels, health)| health == "up" && labels.get("namespace") == Some(&ns.name))
            .map(|(labels, _)| labels)
            .collect();
        prefixes
            .iter()
            .all(|(_, prefix)| {
                up.iter()
                    .any(|l| l.get("pod").is_some_and(|p| p.starts_with(prefix)))
            })
            .then_some(())
    })
    .await;
    for (component, prefix) in &prefixes {
        let samples = query(
            prometheus,
            &format!(r#"up{{namespace="{}", pod=~"{prefix}.*"}}"#, ns.name),
        )
        .await;
        assert!(
            !samples.is_empty() && samples.iter().all(|s| s.value == 1.0),
            "the {component}'s `up` series: {samples:?}"
        );
    }

    // 2. The budget the operator handed the pipeline's extractors, as the status states it.
    let labels = format!(r#"namespace="{}", pipeline="{PIPELINE}""#, ns.name);
    let budget = wait_for("the pipeline's budget in Prometheus", || async {
        let in_use = get(&client, &ns.name, PIPELINE)
            .await?
            .status?
            .extractor
            .requests_per_window_in_use;
        let samples = query(
            prometheus,
            &format!("tweetpipe_operator_budget_in_use_requests_per_window{{{labels}}}"),
        )
        .await;
        let value = samples.first()?.value;
        (in_use > 0 && value == in_use as f64).then_some(value)
    })
    .await;
    assert!(budget > 0.0);
    // Budget use (recording rule): the extractor's requests, labelled with the pipeline by the
    // scrape, over the operator's budget.
    let use_ratio = wait_for("the pipeline's budget use in Prometheus", || async {
        let samples = query(
            prometheus,
            &format!("tweetpipe:pipeline_budget_use:ratio{{{labels}}}"),
        )
        .await;
        samples.first().map(|s| s.value).filter(|v| *v > 0.0)
    })
    .await;
    assert!(use_ratio.is_finite(), "{use_ratio}");
    // Freshness was observed for the pipeline's query.
    wait_for("freshness observations in Prometheus", || async {
        let samples = query(
            prometheus,
            &format!("sum(tweetpipe_transformer_freshness_seconds_count{{{labels}}})"),
        )
        .await;
        samples.first().filter(|s| s.value > 0.0).map(|_| ())
    })
    .await;

    // 3. A post picked from MySQL: its record's trace holds the extractor's page span and a
    // transformer span, both exported through the collector.
    let post_id: u64 = {
        let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
            .await
            .expect("MariaDB");
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM `{database}`.posts ORDER BY id LIMIT 1"
        )))
        .fetch_one(&mut conn)
        .await
        .expect("a stored post")
    };
    let topic = tp.spec.kafka.topic.clone();
    let bootstrap = platform().kafka_bootstrap.clone();
    let key = post_id.to_string();
    let traceparent = tokio::task::spawn_blocking(move || {
        let mut found = None;
        tweetpipe_testkit::kafka::read_committed(&bootstrap, &topic, |m| {
            if found.is_none() && m.key() == Some(key.as_bytes()) {
                found = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "traceparent")
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).to_string())
                });
            }
        })
        .expect("reading the post topic");
        found
    })
    .await
    .expect("join")
    .unwrap_or_else(|| panic!("post {post_id}'s record with a traceparent header"));
    let trace_id = trace_id_of(&traceparent).expect("a W3C traceparent");
    let spans = wait_for("the post's trace in the collector's export", || {
        let traces_file = observability.traces_file.clone();
        let trace_id = trace_id.clone();
        async move {
            let spans: Vec<_> = exported_spans(&traces_file)
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect();
            let extractor = spans
                .iter()
                .any(|s| s.service == "tweetpipe-extractor" && s.name == "poll");
            let transformer = spans.iter().any(|s| {
                s.service == "tweetpipe-transformer"
                    && (s.name == "transform_batch" || s.name == "store_page")
            });
            (extractor && transformer).then_some(spans)
        }
    })
    .await;
    // The transformer's span continues the extractor's: its parent is the page span.
    let page_span = spans
        .iter()
        .find(|s| s.service == "tweetpipe-extractor" && s.name == "poll")
        .expect("page span");
    assert!(
        spans
            .iter()
            .any(|s| s.service == "tweetpipe-transformer" && s.parent_span_id == page_span.span_id),
        "a transformer span is a child of the extractor's page span: {spans:?}"
    );

    // Clean up while the operator still runs: its finalizer removes topics, database, accounts.
    kube::Api::<tweetpipe_operator::crd::TweetPipeline>::namespaced(client.clone(), &ns.name)
        .delete(PIPELINE, &kube::api::DeleteParams::foreground())
        .await
        .expect("deleting the pipeline");
    wait_for("the pipeline's deletion", || async {
        get(&client, &ns.name, PIPELINE)
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        !database_exists(&database).await,
        "deletionPolicy Delete dropped the database"
    );
}
