//! Operator benchmark (`bench/operator.sh`): N pipelines applied at once to the local platform;
//! reports the time until every one has converged (topics, schema and workloads in place and
//! the status written for its generation), reconcile p50/p99 from the operator's histogram, the
//! operator's resident memory, and the time to delete them all under `deletionPolicy: Delete`.
//!
//! Pipelines are created suspended, so no worker pods start: 2N pods do not fit one 2-core
//! node, and pod start-up would measure the kubelet, not the operator. Everything else — Secret
//! lookups, Kafka topics, MySQL migrations, server-side apply of every object, status — runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt};
use tweetpipe_operator::crd::{DeletionPolicy, QuerySpec, TweetPipeline};
use tweetpipe_operator::labels::INSTANCE_LABEL;

fn arg(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Quantile estimate from Prometheus histogram buckets (linear within a bucket).
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let mut previous = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(previous.0);
            }
            let within = if count > previous.1 {
                (rank - previous.1) / (count - previous.1)
            } else {
                1.0
            };
            return Some(previous.0 + (bound - previous.0) * within);
        }
        previous = (bound, count);
    }
    None
}

fn histogram(metrics: &str) -> Vec<(f64, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("tweetpipe_operator_reconcile_duration_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((bound, count))
        })
        .collect()
}

async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let _ = stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count = arg("PIPELINES", 100);
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka().require_mysql();
    let client = platform.kube_client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "tweetpipelines.tweetpipe.io",
        &PatchParams::apply("tweetpipe-bench").force(),
        &Patch::Apply(TweetPipeline::crd()),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let ns = format!("bench-operator-{suffix}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for (name, key, value) in [
        ("x-token", "token", "dev-token"),
        ("mysql-admin", "url", platform.mysql_url_pod.as_str()),
    ] {
        let secret: Secret = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name}, "stringData": {key: value}}),
        )?;
        secrets.create(&PostParams::default(), &secret).await?;
    }

    let binary = std::env::var("OPERATOR_BIN")
        .unwrap_or_else(|_| "target/release/tweetpipe-operator".into());
    let ops_port = 18_000 + (std::process::id() % 1000) as u16;
    let mut operator = Command::new(&binary)
        .env("KUBECONFIG", &platform.kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env("TWEETPIPE_WATCH_NAMESPACE", &ns)
        .env("TWEETPIPE_INSTANCE", &ns)
        .env("TWEETPIPE_LEADER_ELECTION", "false")
        .env("TWEETPIPE_OPS_ADDR", format!("127.0.0.1:{ops_port}"))
        .stdout(match std::env::var("OPERATOR_LOG_FILE") {
            Ok(path) => Stdio::from(std::fs::File::create(path)?),
            Err(_) => Stdio::null(),
        })
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "starting {binary}: {e} (build it with cargo build --release -p tweetpipe-operator)"
            )
        })?;
    let pid = operator.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_kib(pid, "VmRSS:").unwrap_or(0);

    let fixture: TweetPipeline = serde_yaml::from_str(include_str!("../fixtures/pipeline.yaml"))?;
    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    for i in 0..count {
        let mut tp = fixture.clone();
        let name = format!("p{i:03}");
        tp.metadata = kube::core::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some([(INSTANCE_LABEL.to_string(), ns.clone())].into()),
            ..Default::default()
        };
        tp.spec.suspend = true;
        tp.spec.deletion_policy = DeletionPolicy::Delete;
        tp.spec.source.tokens = vec![tweetpipe_operator::crd::SecretKeyRef {
            name: "x-token".into(),
            key: "token".into(),
        }];
        tp.spec.source.queries = vec![QuerySpec {
            name: "covid".into(),
            query: "covid lang:en".into(),
        }];
        tp.spec.mysql.reporting_user = None;
        tp.spec.mysql.database = format!("bench_{suffix}_{name}");
        tp.spec.kafka.topic = format!("bench.{suffix}.{name}");
        tp.spec.kafka.partitions = 1;
        tp.spec.kafka.bootstrap_servers = platform.kafka_bootstrap_pod.clone();
        api.create(&PostParams::default(), &tp).await?;
    }
    let created = started.elapsed();
    let converged = |tp: &TweetPipeline| {
        tp.status.as_ref().is_some_and(|s| {
            s.observed_generation == tp.metadata.generation
                && ["KafkaReady", "MySQLReady", "SecretsResolved"]
                    .iter()
                    .all(|t| {
                        s.conditions
                            .iter()
                            .any(|c| c.type_ == *t && c.status == "True")
                    })
        })
    };
    let mut peak_rss = idle_rss;
    let all_converged = loop {
        let list = api.list(&ListParams::default()).await?;
        peak_rss = peak_rss.max(rss_kib(pid, "VmRSS:").unwrap_or(0));
        let done = list.items.iter().filter(|tp| converged(tp)).count();
        if done == count {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("only {done}/{count} pipelines converged in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Let a few steady-state reconciles (requeues) happen before reading the histogram.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let metrics = scrape(ops_port).await;
    let buckets = histogram(&metrics);
    let steady_rss = rss_kib(pid, "VmRSS:").unwrap_or(0);
    peak_rss = peak_rss.max(rss_kib(pid, "VmHWM:").unwrap_or(0));

    let deleting = Instant::now();
    for i in 0..count {
        api.delete(&format!("p{i:03}"), &DeleteParams::default())
            .await?;
    }
    loop {
        if api.list(&ListParams::default()).await?.items.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deleted = deleting.elapsed();
    let _ = operator.kill();
    let _ = operator.wait();
    let _ = namespaces.delete(&ns, &DeleteParams::background()).await;

    let ms = |q: f64| {
        quantile(&buckets, q).map_or("n/a".to_string(), |s| format!("{:.0} ms", s * 1000.0))
    };
    let reconciles = buckets.last().map_or(0.0, |b| b.1);
    println!("pipelines: {count}");
    println!("created in: {:.1} s", created.as_secs_f64());
    println!("all converged after: {:.1} s", all_converged.as_secs_f64());
    println!(
        "reconciles observed: {reconciles:.0}; p50 {}; p99 {}",
        ms(0.5),
        ms(0.99)
    );
    println!(
        "operator RSS: idle {} MiB, steady {} MiB, peak {} MiB",
        idle_rss / 1024,
        steady_rss / 1024,
        peak_rss / 1024
    );
    println!(
        "all deleted (topics and databases dropped) after: {:.1} s",
        deleted.as_secs_f64()
    );
    Ok(())
}
