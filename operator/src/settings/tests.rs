//! `settings::from_env`: defaults, overrides, and errors naming the variable.

use crate::settings;

/// An environment of `pairs` for `settings::from_env`.
fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn settings_from_env() {
    let defaults = settings::from_env(env(&[])).unwrap();
    assert!(defaults.leader_election);
    assert_eq!(defaults.controller.kafka_timeout.as_secs(), 10);
    assert_eq!(defaults.ops_addr.port(), 8080);
    let custom = settings::from_env(env(&[
        ("TWEETPIPE_EXTRACTOR_IMAGE", "local/extractor:dev"),
        ("TWEETPIPE_LEADER_ELECTION", "false"),
        ("POD_NAME", "op-0"),
        ("TWEETPIPE_REQUEUE_SECONDS", "7"),
    ]))
    .unwrap();
    assert_eq!(
        custom.controller.workers.extractor_image,
        "local/extractor:dev"
    );
    assert!(!custom.leader_election);
    assert_eq!(custom.identity, "op-0");
    assert_eq!(custom.controller.requeue_ready.as_secs(), 7);
    let bad = settings::from_env(env(&[("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", "soon")])).unwrap_err();
    assert!(
        bad.to_string().contains("TWEETPIPE_KAFKA_TIMEOUT_SECONDS"),
        "{bad}"
    );
    assert!(settings::from_env(env(&[("TWEETPIPE_IMAGE_PULL_POLICY", "Sometimes")])).is_err());
}

#[test]
fn every_reconcile_has_a_deadline_past_its_bounded_steps() {
    let defaults = settings::from_env(env(&[])).unwrap().controller;
    assert_eq!(defaults.api_timeout.as_secs(), 20);
    // max(10 s × 4, 5 s × 12) + 10 s × 4 + 20 s × 2
    assert_eq!(defaults.reconcile_timeout.as_secs(), 140);
    let test_like = settings::from_env(env(&[
        ("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", "4"),
        ("TWEETPIPE_MYSQL_TIMEOUT_SECONDS", "4"),
        ("TWEETPIPE_API_TIMEOUT_SECONDS", "10"),
    ]))
    .unwrap()
    .controller;
    assert_eq!(test_like.reconcile_timeout.as_secs(), 48 + 16 + 20);
    let set = settings::from_env(env(&[("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS", "45")]))
        .unwrap()
        .controller;
    assert_eq!(
        set.reconcile_timeout.as_secs(),
        45,
        "an explicit deadline wins"
    );
    let bad =
        settings::from_env(env(&[("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS", "never")])).unwrap_err();
    assert!(
        bad.to_string()
            .contains("TWEETPIPE_RECONCILE_TIMEOUT_SECONDS"),
        "{bad}"
    );
}

#[test]
fn allowed_api_hosts_come_from_the_environment() {
    let get = |value: Option<&'static str>| {
        move |name: &str| (name == "TWEETPIPE_ALLOWED_API_HOSTS").then_some(value?.to_string())
    };
    let hosts = |value| {
        settings::from_env(get(value))
            .map(|s| s.controller.allowed_api_hosts.to_string())
            .map_err(|e| e.to_string())
    };
    let x_api = Ok("https://api.x.com, https://api.twitter.com".to_string());
    assert_eq!(hosts(None), x_api, "unset: the X API");
    assert_eq!(hosts(Some("  ")), x_api, "blank: the X API");
    assert_eq!(
        hosts(Some(
            "https://api.x.com,x-api-simulator.tweetpipe-system:8080"
        )),
        Ok("https://api.x.com, x-api-simulator.tweetpipe-system:8080".to_string())
    );
    let bad = hosts(Some("api.x.com,*.evil.com")).unwrap_err();
    assert!(
        bad.contains("TWEETPIPE_ALLOWED_API_HOSTS") && bad.contains("wildcards are not supported"),
        "{bad}"
    );
}

/// The tenancy policy's settings: defaults that break no existing pipeline (any registry host,
/// the operator's own images, 64 partitions / RF 5 / 90 days), and errors naming the variable.
#[test]
fn tenancy_policy_comes_from_the_environment() {
    let defaults = settings::from_env(env(&[])).unwrap().controller;
    assert!(defaults.allowed_registry_hosts.allows_any());
    let own = &defaults.workers;
    assert!(defaults.allowed_worker_images.allows(&own.extractor_image));
    assert!(
        defaults
            .allowed_worker_images
            .allows(&own.transformer_image)
    );
    assert!(!defaults.allowed_worker_images.allows("busybox:latest"));
    assert_eq!(defaults.kafka_limits.max_partitions, 64);
    assert_eq!(defaults.kafka_limits.max_replication_factor, 5);
    assert_eq!(defaults.kafka_limits.max_retention_hours, 2160);
    assert_eq!(defaults.policy().kafka_limits, defaults.kafka_limits);

    let custom = settings::from_env(env(&[
        ("TWEETPIPE_EXTRACTOR_IMAGE", "local/extractor:dev"),
        ("TWEETPIPE_ALLOWED_REGISTRY_HOSTS", "registry.kafka:8080"),
        (
            "TWEETPIPE_ALLOWED_WORKER_IMAGES",
            "ghcr.io/acme/extractor:*",
        ),
        ("TWEETPIPE_MAX_PARTITIONS", "256"),
        ("TWEETPIPE_MAX_REPLICATION_FACTOR", "3"),
        ("TWEETPIPE_MAX_RETENTION_HOURS", "24"),
    ]))
    .unwrap()
    .controller;
    assert!(
        custom
            .allowed_registry_hosts
            .judge("http://registry.kafka:8080/x")
            .is_ok()
    );
    assert!(
        custom
            .allowed_registry_hosts
            .judge("http://10.0.0.1:8080/x")
            .is_err()
    );
    assert!(custom.allowed_worker_images.allows("local/extractor:dev"));
    assert!(
        custom
            .allowed_worker_images
            .allows("ghcr.io/acme/extractor:2")
    );
    assert_eq!(custom.kafka_limits.max_partitions, 256);
    assert_eq!(custom.kafka_limits.max_replication_factor, 3);
    assert_eq!(custom.kafka_limits.max_retention_hours, 24);

    for (name, value) in [
        ("TWEETPIPE_ALLOWED_REGISTRY_HOSTS", "http://reg/path"),
        ("TWEETPIPE_ALLOWED_WORKER_IMAGES", "ghcr.io/*"),
        ("TWEETPIPE_MAX_PARTITIONS", "0"),
        ("TWEETPIPE_MAX_REPLICATION_FACTOR", "-1"),
        ("TWEETPIPE_MAX_RETENTION_HOURS", "forever"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(vec![(name, value)].into_boxed_slice());
        let err = settings::from_env(env(pairs)).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn operator_instances_split_pipelines_by_label() {
    use crate::labels::instance_selector;
    assert_eq!(instance_selector(None), "!tweetpipe.io/operator-instance");
    assert_eq!(
        instance_selector(Some("e2e-a")),
        "tweetpipe.io/operator-instance=e2e-a"
    );
    let env = |name: &str| (name == "TWEETPIPE_INSTANCE").then(|| "blue".to_string());
    assert_eq!(
        settings::from_env(env).unwrap().instance.as_deref(),
        Some("blue")
    );
}

/// `TWEETPIPE_WATCH_NAMESPACE` takes one namespace or a comma-separated list (the chart's
/// `watchNamespaces`); empty means every namespace; a name Kubernetes would refuse is an error
/// naming it.
#[test]
fn watch_namespaces_are_a_list_of_namespace_names() {
    let read = |value: &'static str| {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([("TWEETPIPE_WATCH_NAMESPACE", value)]));
        settings::from_env(env(pairs)).map(|s| s.watch_namespaces)
    };
    let cases: [(&str, &[&str]); 5] = [
        ("", &[]),
        ("tweets", &["tweets"]),
        ("team-a, team-b,team-a", &["team-a", "team-b"]),
        (" tweets ,", &["tweets"]),
        ("a1,b-2", &["a1", "b-2"]),
    ];
    for (value, expected) in cases {
        assert_eq!(read(value).expect(value), expected, "{value:?}");
    }
    assert_eq!(
        settings::from_env(env(&[])).map(|s| s.watch_namespaces),
        Ok(Vec::new())
    );
    for bad in ["Tweets", "team_a", "-a", "a-", "a b", &"x".repeat(64)] {
        let value: &'static str = Box::leak(bad.to_owned().into_boxed_str());
        let error = read(value).expect_err(bad).to_string();
        assert!(error.contains("TWEETPIPE_WATCH_NAMESPACE"), "{error}");
        assert!(error.contains("is not one"), "{error}");
    }
}
