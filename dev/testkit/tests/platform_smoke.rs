//! The local platform really works: the node is Ready, and a pod from our own image, scheduled on
//! it, round-trips a Kafka message and queries MariaDB over the pod network.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};
use tweetpipe_testkit::names::random_hex;
use tweetpipe_testkit::platform;

const PROBE_IMAGE: &str = "tweetpipe/probe:dev";

#[tokio::test]
async fn node_is_ready() {
    let client = platform().kube_client().await;
    let nodes: Api<Node> = Api::all(client);
    let node_name = &platform().vars["TWEETPIPE_NODE_NAME"];
    let node = nodes
        .get(node_name)
        .await
        .expect("the platform's node is registered");
    let ready = node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status);
    assert_eq!(
        ready.as_deref(),
        Some("True"),
        "node {node_name} is not Ready"
    );
}

/// What a probe test starts from: Kafka and MariaDB up (the probe reaches both), a client, and a
/// namespace of its own (deleted afterwards) holding the probe's MySQL Secret.
async fn scratch_namespace(prefix: &str) -> (kube::Client, String) {
    let p = platform();
    p.require_kafka().require_mysql();
    let client = p.kube_client().await;
    let name = format!("{prefix}-{}", random_hex(8));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    // Pods need the namespace's default ServiceAccount, made asynchronously.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), &name);
    for _ in 0..100 {
        if accounts.get_opt("default").await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &name);
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "mysql"},
        "stringData": {"url": platform().mysql_url_pod},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    (client, name)
}

/// The probe's container: non-root, read-only root filesystem, no capabilities, the MySQL URL
/// from a Secret file.
fn probe_container(args: &[&str]) -> Value {
    json!({
        "name": "probe",
        "image": PROBE_IMAGE,
        "imagePullPolicy": "Never",
        "args": args,
        "env": [
            {"name": "PROBE_KAFKA_BOOTSTRAP", "value": platform().kafka_bootstrap_pod},
            {"name": "PROBE_MYSQL_URL_FILE", "value": "/etc/mysql/url"},
            {"name": "PROBE_TIMEOUT_SECS", "value": "20"},
        ],
        "volumeMounts": [{"name": "mysql", "mountPath": "/etc/mysql", "readOnly": true}],
        "securityContext": {
            "runAsNonRoot": true, "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
        },
    })
}

fn mysql_volume() -> Value {
    json!({"name": "mysql", "secret": {"secretName": "mysql"}})
}

#[tokio::test]
async fn pod_from_our_image_reaches_kafka_and_mariadb() {
    let (client, ns) = scratch_namespace("smoke-pod").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "probe"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [probe_container(&[])],
            "volumes": [mysql_volume()],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    let finished = tokio::time::timeout(
        Duration::from_secs(180),
        await_condition(pods.clone(), "probe", |pod: Option<&Pod>| {
            let phase = pod
                .and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.as_deref());
            matches!(phase, Some("Succeeded" | "Failed"))
        }),
    )
    .await;
    let pod = pods.get("probe").await.unwrap();
    assert!(
        finished.is_ok(),
        "probe pod did not finish in time: {:?}",
        pod.status
    );
    let logs = pods
        .logs("probe", &LogParams::default())
        .await
        .expect("the probe pod's log");
    let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();

    let report: Value = serde_json::from_str(logs.trim())
        .unwrap_or_else(|e| panic!("probe printed no JSON report ({e}): {logs}"));
    assert_eq!(phase, "Succeeded", "probe pod failed: {logs}");
    assert_eq!(
        report["kafka"]["ok"],
        json!(true),
        "Kafka check failed: {logs}"
    );
    assert_eq!(
        report["mysql"]["ok"],
        json!(true),
        "MariaDB check failed: {logs}"
    );
    let version = report["mysql"]["detail"].as_str().unwrap_or_default();
    assert!(
        version.contains("MariaDB"),
        "unexpected server version {version:?}"
    );
    assert!(
        !logs.contains(&platform().mysql_url_pod),
        "the MySQL URL (with its password) was logged"
    );

    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}

/// A selector-less Service whose endpoint is the host's Kafka listener for pods: reaching Kafka
/// as `kafka:PORT` exercises cluster DNS and kube-proxy's Service rules.
async fn kafka_service(client: &kube::Client, ns: &str) -> String {
    let (host, port) = platform()
        .kafka_bootstrap_pod
        .split_once(':')
        .expect("host:port");
    let port: i32 = port.parse().expect("numeric port");
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), ns);
    let service = serde_json::from_value(json!({
        "metadata": {"name": "kafka"},
        "spec": {"ports": [{"name": "kafka", "port": port, "targetPort": port}]},
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(client.clone(), ns);
    let slice = serde_json::from_value(json!({
        "metadata": {"name": "kafka-host", "labels": {"kubernetes.io/service-name": "kafka"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host]}],
        "ports": [{"name": "kafka", "port": port}],
    }))
    .unwrap();
    slices.create(&PostParams::default(), &slice).await.unwrap();
    format!("kafka.{ns}.svc.cluster.local:{port}")
}

#[tokio::test]
async fn deployment_of_our_image_becomes_ready() {
    let (client, ns) = scratch_namespace("smoke-deploy").await;
    let kafka_by_name = kafka_service(&client, &ns).await;
    let mut container = probe_container(&["--every", "10"]);
    container["env"][0]["value"] = json!(kafka_by_name);
    // Ready only while a fresh check from inside the pod passes.
    container["readinessProbe"] = json!({
        "exec": {"command": ["/usr/local/bin/tweetpipe-probe"]},
        "periodSeconds": 10, "timeoutSeconds": 25,
    });
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "probe"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {
                "metadata": {"labels": {"app": "probe"}},
                "spec": {"containers": [container], "volumes": [mysql_volume()]},
            },
        },
    }))
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();

    let ready = tokio::time::timeout(
        Duration::from_secs(180),
        await_condition(
            deployments.clone(),
            "probe",
            conditions::is_deployment_completed(),
        ),
    )
    .await;
    let status = deployments.get("probe").await.unwrap().status;
    assert!(ready.is_ok(), "deployment never became ready: {status:?}");
    let status = status.unwrap_or_default();
    assert_eq!(status.ready_replicas, Some(1), "{status:?}");

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let running = pods.list(&Default::default()).await.unwrap();
    let phases: Vec<_> = running
        .items
        .iter()
        .filter_map(|p| p.status.as_ref().and_then(|s| s.phase.clone()))
        .collect();
    assert_eq!(phases, vec!["Running".to_string()]);

    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}
