//! `build::workloads`: the StatefulSet, Deployment, Services and Secret of a pipeline, locked
//! down and owned, and when their pods roll.

use kube::ResourceExt;

use crate::build::worker_config;
use crate::build::workloads;
use crate::decide::scaling;
use crate::fixtures::{pipeline, pipeline_with};
use crate::labels::Component;

use super::{config_hash, defaults};

#[test]
fn extractor_statefulset_is_locked_down_and_owned() {
    let tp = pipeline();
    let sts = workloads::extractor_statefulset(&tp, &defaults(), 3, "{}");
    assert_eq!(sts.name_any(), "covid19-extractor");
    assert_eq!(sts.namespace().as_deref(), Some("tweets"));
    let owner = &sts.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("TweetPipeline", "covid19", Some(true))
    );
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.service_name.as_deref(), Some("covid19-extractor"));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("tweetpipe/extractor:test"));
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );
    assert!(container.liveness_probe.is_some() && container.readiness_probe.is_some());
    let env = container.env.as_ref().unwrap();
    assert!(env.iter().any(|e| e.name == "EXTRACTOR_CONFIG"
        && e.value.as_deref() == Some("/etc/tweetpipe/extractor.json")));
    assert!(
        env.iter()
            .any(|e| e.name == "REPLICA_INDEX" && e.value_from.is_some())
    );
    assert!(
        env.iter().all(|e| !e.name.contains("TOKEN")),
        "tokens are files, not env"
    );
    let volumes = pod.volumes.as_ref().unwrap();
    let token_b = volumes
        .iter()
        .find(|v| v.name == "token-1")
        .unwrap()
        .secret
        .as_ref()
        .unwrap();
    assert_eq!(token_b.secret_name.as_deref(), Some("x-token-b"));
    assert_eq!(token_b.items.as_ref().unwrap()[0].key, "bearer");
    let mounts = container.volume_mounts.as_ref().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.mount_path == "/var/run/secrets/tweetpipe/tokens/1")
    );
    assert!(
        mounts.iter().any(|m| m.mount_path == "/tmp"),
        "writable scratch on a read-only root"
    );
}

#[test]
fn config_change_rolls_the_pods() {
    let tp = pipeline();
    let hash =
        |json: &str| config_hash(workloads::extractor_statefulset(&tp, &defaults(), 1, json));
    assert_eq!(hash("{\"a\":1}"), hash("{\"a\":1}"));
    assert_ne!(hash("{\"a\":1}"), hash("{\"a\":2}"));
}

#[test]
fn worker_pods_ask_prometheus_to_scrape_their_ops_port() {
    let tp = pipeline();
    let sts = workloads::extractor_statefulset(&tp, &defaults(), 1, "{}");
    let deployment = workloads::transformer_deployment(&tp, &defaults(), 1, "{}");
    for template in [
        sts.spec.unwrap().template,
        deployment.spec.unwrap().template,
    ] {
        let annotations = template.metadata.unwrap().annotations.unwrap();
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(
            annotations["prometheus.io/port"],
            workloads::OPS_PORT.to_string()
        );
        assert_eq!(annotations["prometheus.io/path"], "/metrics");
    }
}

#[test]
fn transformer_deployment_mounts_its_mysql_secret() {
    let tp = pipeline_with(|tp| tp.spec.transformer.image = Some("custom/transformer:1".into()));
    let deployment = workloads::transformer_deployment(&tp, &defaults(), 2, "{}");
    assert_eq!(deployment.name_any(), "covid19-transformer");
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("custom/transformer:1")
    );
    let mysql = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "mysql")
        .unwrap();
    assert_eq!(
        mysql.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("covid19-transformer-mysql")
    );
    let secret = workloads::mysql_secret(&tp, "mysql://u:p@db:3306/tweets_covid19", "p");
    assert_eq!(secret.name_any(), "covid19-transformer-mysql");
    assert_eq!(secret.owner_references().len(), 1);
    let service = workloads::service(&tp, Component::Transformer);
    assert_eq!(service.spec.unwrap().cluster_ip.as_deref(), Some("None"));
}

#[test]
fn throttle_steps_do_not_roll_the_extractors() {
    let tp = pipeline();
    let rendered = |throttle| {
        let config = worker_config::extractor_config(
            &tp,
            &scaling::query_shares(2, 405, throttle, 3),
            Some(900_000),
        );
        let transformer = worker_config::transformer_config(&tp);
        let r = workloads::render(&config, &transformer).unwrap();
        let sts = workloads::extractor_statefulset(&tp, &defaults(), 3, &r.extractor_restart_key);
        (r.extractor, config_hash(sts))
    };
    let (full, full_hash) = rendered(100);
    let (slowed, slowed_hash) = rendered(73);
    assert_ne!(full, slowed, "the mounted config carries the new shares");
    assert_eq!(
        full_hash, slowed_hash,
        "but the pods are not rolled for them"
    );
}
