//! End-to-end tests of the operator on the local platform (`make platform-up`): a real
//! Kubernetes API server and node, real Kafka, real MariaDB. Each test has its own namespace,
//! topics and database, and runs its own operator process limited to that namespace.

mod e2e {
    pub mod support;
}

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use sqlx::Connection;
use tweetpipe_operator::crd::TweetPipeline;

use e2e::support::*;

fn statefulset_replicas(sts: &StatefulSet) -> Option<i32> {
    sts.spec.as_ref().and_then(|s| s.replicas)
}

async fn extractor_replicas(client: &kube::Client, ns: &str, name: &str) -> Option<i32> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    sets.get_opt(&format!("{name}-extractor"))
        .await
        .ok()
        .flatten()
        .as_ref()
        .and_then(statefulset_replicas)
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_manifests_are_refused_at_apply_time_with_clear_messages() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "invalid").await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tweetpipe.io", "v1beta1", "TweetPipeline"),
        "tweetpipelines",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15, "at least 15 invalid manifests");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap()
            .replace("NAMESPACE", &ns.name);
        let expect = tweetpipe_operator_core::fixtures::expected_refusal(&text);
        let object: DynamicObject = serde_yaml::from_str(&text).unwrap();
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => failures.push(format!("{}: accepted", file.display())),
            Err(kube::Error::Api(status)) => {
                // "should match '^…$'" is an OpenAPI pattern error quoting a regex: users read words.
                let quotes_regex = status.message.contains("should match");
                if status.code != 422 || !status.message.contains(&expect) || quotes_regex {
                    failures.push(format!(
                        "{}: HTTP {} {:?}, expected a 422 containing {expect:?}",
                        file.display(),
                        status.code,
                        status.message
                    ));
                }
            }
            Err(other) => failures.push(format!("{}: {other}", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "invalid manifests not refused as expected:\n{}",
        failures.join("\n")
    );

    // Near misses are accepted: plain-number cpu (as a Pod takes it), digests, the 40-char name.
    let valid_text = include_str!("../fixtures/pipeline.yaml")
        .replace("namespace: tweets", &format!("namespace: {}", ns.name));
    let mut near_miss: DynamicObject = serde_yaml::from_str(&valid_text).unwrap();
    near_miss.metadata.uid = None;
    near_miss.metadata.generation = None;
    near_miss.metadata.name = Some(format!("a{}", "b".repeat(39)));
    // This test's operator instance: another installation's webhook (e.g. `make demo`'s) must
    // not judge it.
    near_miss.metadata.labels = Some(
        [(
            tweetpipe_operator::labels::INSTANCE_LABEL.to_string(),
            ns.name.clone(),
        )]
        .into(),
    );
    near_miss.data["spec"]["extractor"]["resources"] = serde_json::json!({"requests": {"cpu": 1, "memory": "64Mi"}, "limits": {"cpu": "1.5", "memory": "1Gi"}});
    near_miss.data["spec"]["extractor"]["image"] = serde_json::json!(format!(
        "registry.local:5000/team/extractor:1.2.0@sha256:{}",
        "a".repeat(64)
    ));
    near_miss.data["spec"]["source"]["queries"][0]["query"] =
        serde_json::json!("covid\u{3000}vaccine lang:ja");
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    if let Err(error) = api.create(&dry_run, &near_miss).await {
        panic!("a valid near miss was refused: {error}");
    }

    // Updates are checked too: partitions cannot shrink, the topic and database cannot change.
    put_pipeline_secrets(&client, &ns.name).await;
    let tp = pipeline(&ns, "transitions");
    create(&client, &tp).await;
    let typed: Api<TweetPipeline> = Api::namespaced(client.clone(), &ns.name);
    for (patch, expect) in [
        (
            serde_json::json!({"spec": {"kafka": {"partitions": 1}}}),
            "kafka.partitions can only grow",
        ),
        (
            serde_json::json!({"spec": {"kafka": {"topic": "other"}}}),
            "kafka.topic cannot change",
        ),
        (
            serde_json::json!({"spec": {"mysql": {"database": "other_db"}}}),
            "mysql.database cannot change: the posts live in the old database",
        ),
    ] {
        match typed
            .patch("transitions", &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Err(kube::Error::Api(status)) => {
                assert!(status.message.contains(expect), "{}", status.message)
            }
            other => panic!("update accepted: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_secret_is_named_in_a_condition_then_recovers() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "secret").await;
    let operator = Operator::for_namespace(&ns.name);
    put_secret(&client, &ns.name, "x-token-a", "token", "dev-token").await;
    put_secret(
        &client,
        &ns.name,
        "mysql-admin",
        "url",
        &platform().mysql_url_pod,
    )
    .await;
    put_secret(
        &client,
        &ns.name,
        "mysql-reporting",
        "password",
        "reporting-e2e",
    )
    .await;
    let tp = pipeline(&ns, "covid");
    create(&client, &tp).await;

    let missing = ns
        .wait_false("covid", "SecretsResolved", "SecretMissing")
        .await;
    assert_message_has(&missing, "x-token-b", "the condition names the Secret");
    let ready = ns.wait_false("covid", "Ready", "SecretMissing").await;
    assert!(ready.message.contains("x-token-b"));
    assert!(
        !ready.message.contains("dev-token"),
        "no secret values in the status"
    );

    put_secret(&client, &ns.name, "x-token-b", "bearer", "dev-token").await;
    wait_condition(&client, &ns.name, "covid", "SecretsResolved", "True", None).await;
    wait_condition(&client, &ns.name, "covid", "KafkaReady", "True", None).await;
    wait_condition(&client, &ns.name, "covid", "MySQLReady", "True", None).await;
    let replicas = wait_for("the extractor StatefulSet", || {
        extractor_replicas(&client, &ns.name, "covid")
    })
    .await;
    assert_eq!(replicas, 3, "3 queries, budget for more");
    let topics = existing_topics(&[
        tp.spec.kafka.topic.clone(),
        format!("{}.checkpoints", tp.spec.kafka.topic),
        format!("{}.dlq", tp.spec.kafka.topic),
    ]);
    assert_eq!(
        topics.len(),
        3,
        "posts, checkpoints and dead-letter topics exist: {topics:?}"
    );
    assert!(database_exists(&tp.spec.mysql.database).await);
    // This test's operator did the work (not another installation in the cluster).
    let metrics = operator
        .metrics()
        .await
        .expect("the operator serves /metrics");
    let reconciles: f64 = metrics
        .lines()
        .find(|l| l.starts_with("tweetpipe_operator_reconciles_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("reconcile counter");
    assert!(reconciles >= 3.0, "reconciles counted: {reconciles}");
}

/// An operator given a list of namespaces (the chart's `watchNamespaces`, which then grants Roles
/// in those namespaces only) reconciles the pipelines of each of them, and of no other.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_watching_a_list_of_namespaces_reconciles_those_only() {
    let client = client().await;
    let a = TestNamespace::new(&client, "watch-a").await;
    let b = TestNamespace::new(&client, "watch-b").await;
    let other = TestNamespace::new(&client, "watch-c").await;
    let watch = format!("{}, {}", a.name, b.name);
    let _operator = Operator::watching(&a.name, "two-namespaces", watch);
    // No Secrets anywhere: a reconciled pipeline says so at once (no workers needed). All name
    // the API host the operator allows (the first namespace's simulator Service).
    for ns in [&a, &b, &other] {
        let mut tp = pipeline(ns, "p");
        tp.spec.source.base_url = format!("http://x-api-simulator.{}.svc:8080", a.name);
        label_for_instance(&mut tp, &a.name);
        create(&client, &tp).await;
    }
    for ns in [&a, &b] {
        ns.wait_false("p", "Ready", "SecretMissing").await;
    }
    // Both watched namespaces have been reconciled by now; the third one's pipeline, labelled
    // for the same operator, is still untouched a few requeue intervals (3 s here) later.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let untouched = get(&client, &other.name, "p").await.expect("the pipeline");
    assert!(
        untouched.status.is_none() && untouched.finalizers().is_empty(),
        "a namespace the operator does not watch was reconciled: {:?}, finalizers {:?}",
        untouched.status,
        untouched.finalizers()
    );
}

/// A stand-in for an internal service a pipeline author should not read: every request is
/// redirected to `/internal`, which answers with a secret marker. The operator must neither
/// follow the redirect nor copy the answer into the status.
async fn redirecting_server() -> (u16, &'static str, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MARKER: &str = "INTERNAL-ONLY-7f3a9c";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let port = listener.local_addr().expect("address").port();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = vec![0_u8; 8192];
                let read = socket.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..read]);
                let response = if head.starts_with("GET /internal") {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{MARKER}",
                        MARKER.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{port}/internal\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{MARKER}",
                        MARKER.len()
                    )
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, MARKER, task)
}

/// Tenant isolation (issue 19), tried as an attacker would: tenant B, allowed to create
/// TweetPipelines in its own namespace, points manifests at tenant A's running pipeline — A's
/// database, A's topic with one hour of retention (it would purge A's posts), A's reporting user
/// with a password of B's choosing, a wildcard database, the ownership ledger, a schema registry
/// that redirects to an internal address, a worker image of B's choosing (it would mount every
/// Secret B names). Every attempt is refused in words, B's deletions (`deletionPolicy: Delete`)
/// leave A's data, and A's ledger shows nothing lost or changed. Before databases and topics were
/// owned, B's copy of A's pipeline became Ready on A's database and topics, and its deletion
/// dropped both.
#[tokio::test(flavor = "multi_thread")]
async fn tenant_b_cannot_read_change_or_delete_tenant_as_data() {
    let client = client().await;
    let a = TestNamespace::new(&client, "tenant-a").await;
    let b = TestNamespace::new(&client, "tenant-b").await;
    let (registry_port, marker, _registry) = redirecting_server().await;
    let watch = format!("{},{}", a.name, b.name);
    let _operator = Operator::watching(&a.name, "tenants", watch);
    put_pipeline_secrets(&client, &a.name).await;
    put_pipeline_secrets(&client, &b.name).await;
    put_secret(&client, &b.name, "taken-over", "password", "b-chose-this").await;
    deploy_simulator(&client, &a.name).await;

    // Tenant A: a running pipeline with posts.
    let mut owner = pipeline(&a, "p");
    owner.spec.source.tokens.truncate(1);
    create(&client, &owner).await;
    wait_condition(&client, &a.name, "p", "Ready", "True", None).await;
    let database = owner.spec.mysql.database.clone();
    let topic = owner.spec.kafka.topic.clone();
    let reporting = owner
        .spec
        .mysql
        .reporting_user
        .clone()
        .expect("a reporting user");
    let posts_before = wait_for_stored_posts("tenant A's posts", &database).await;
    let retention_before = topic_config(&topic, "retention.ms")
        .await
        .expect("A's retention");
    let a_topics: Vec<String> = ["", ".checkpoints", ".dlq", ".slots"]
        .iter()
        .map(|suffix| format!("{topic}{suffix}"))
        .collect();

    // Tenant B's manifests: reconciled by the same operator (it serves both namespaces).
    let intruder = |name: &str| {
        let mut tp = pipeline(&b, name);
        label_for_instance(&mut tp, &a.name);
        tp.spec.deletion_policy = tweetpipe_operator::crd::DeletionPolicy::Delete;
        // An allowed API host, so each refusal is the attack's own.
        tp.spec.source.base_url = owner.spec.source.base_url.clone();
        tp
    };
    let names_owner = |message: &str| message.contains(&format!("{}/p", a.name));

    // Refused by the API server before anything runs: wildcard and reserved databases.
    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), &b.name);
    for refused_database in ["_____", "tweetpipe_control"] {
        let mut tp = intruder("refused");
        tp.spec.mysql.database = refused_database.into();
        match api.create(&PostParams::default(), &tp).await {
            Err(kube::Error::Api(status)) => assert!(
                status.code == 422 && status.message.contains("database"),
                "{refused_database}: {status:?}"
            ),
            other => panic!("database {refused_database} was not refused: {other:?}"),
        }
    }

    let mut same_database = intruder("same-database");
    same_database.spec.mysql.database = database.clone();
    let mut same_topic = intruder("same-topic");
    same_topic.spec.kafka.topic = topic.clone();
    same_topic.spec.kafka.retention_hours = 1;
    let mut takeover = intruder("takeover");
    takeover.spec.mysql.reporting_user = Some(tweetpipe_operator::crd::ReportingUser {
        name: reporting.name.clone(),
        password_secret: tweetpipe_operator::crd::SecretKeyRef {
            name: "taken-over".into(),
            key: "password".into(),
        },
    });
    let mut registry = intruder("registry");
    registry.spec.kafka.schema_registry_url = Some(format!("http://127.0.0.1:{registry_port}"));
    let mut image = intruder("image");
    image.spec.extractor.image = Some("docker.io/library/busybox:1.37".into());
    for tp in [&same_database, &same_topic, &takeover, &registry, &image] {
        create(&client, tp).await;
    }

    let refused = b
        .wait_false(
            "same-database",
            "MySQLReady",
            "DatabaseOwnedByAnotherPipeline",
        )
        .await;
    assert!(names_owner(&refused.message), "{}", refused.message);
    let refused = b
        .wait_false("same-topic", "KafkaReady", "TopicOwnedByAnotherPipeline")
        .await;
    assert!(names_owner(&refused.message), "{}", refused.message);
    let refused = b
        .wait_false("takeover", "MySQLReady", "AccountRefused")
        .await;
    assert_message_has(&refused, &reporting.name, "names the account");
    let refused = b
        .wait_false("registry", "SchemaRegistered", "SchemaRegistryRefused")
        .await;
    assert!(
        refused.message.contains("redirect") && !refused.message.contains(marker),
        "the redirect is refused in words and the internal answer is not shown: {}",
        refused.message
    );
    let refused = b
        .wait_false("image", "Ready", "WorkerImageNotAllowed")
        .await;
    assert_message_has(&refused, "busybox", "names the image");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &b.name);
    let with_image = sets
        .list(&Default::default())
        .await
        .expect("statefulsets")
        .items
        .into_iter()
        .filter(|set| format!("{:?}", set.spec).contains("busybox"))
        .count();
    assert_eq!(with_image, 0, "a workload with B's image was created");

    // B deletes everything with deletionPolicy Delete.
    for name in [
        "same-database",
        "same-topic",
        "takeover",
        "registry",
        "image",
    ] {
        api.delete(name, &DeleteParams::foreground())
            .await
            .expect("delete B's pipeline");
    }
    wait_for("tenant B's pipelines to be gone", || async {
        api.list(&Default::default())
            .await
            .ok()
            .filter(|list| list.items.is_empty())
            .map(|_| ())
    })
    .await;

    // A's ledger: nothing lost or changed.
    assert!(database_exists(&database).await, "A's database was dropped");
    assert_eq!(
        existing_topics(&a_topics).len(),
        4,
        "A's topics were deleted: {:?} left",
        existing_topics(&a_topics)
    );
    assert_eq!(
        topic_config(&topic, "retention.ms").await.as_deref(),
        Some(retention_before.as_str()),
        "A's retention was changed"
    );
    assert!(
        mysql_login_works(&reporting.name, "reporting-e2e", &database).await,
        "A's reporting user lost its password"
    );
    assert!(
        !mysql_login_works(&reporting.name, "b-chose-this", &database).await,
        "B's password opens A's reporting account"
    );
    wait_condition(&client, &a.name, "p", "Ready", "True", None).await;
    wait_for("A's pipeline to keep storing posts", || async {
        let count = wait_for_stored_posts("A's posts", &database).await;
        (count > posts_before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn budget_raised_and_lowered_moves_the_extractors() {
    let (client, ns, _operator) = operated_namespace("budget").await;
    let mut tp = pipeline(&ns, "budget");
    tp.spec.source.tokens.truncate(1);
    tp.spec.source.queries = (0..6)
        .map(|i| tweetpipe_operator::crd::QuerySpec {
            name: format!("q{i}"),
            query: format!("covid{i} lang:en"),
            delivery: Default::default(),
            search_recovery: None,
        })
        .collect();
    tp.spec.source.limits.requests_per_window = 60;
    tp.spec.extractor.max_replicas = 10;
    create(&client, &tp).await;

    let cases = [
        // Basic: 60 → 54 after 10%; 54/30 → one replica.
        (60, 1, "RateBudget"),
        // Pro: 450 → 405; 13 affordable, 6 queries bind.
        (450, 6, "Queries"),
        // Lowered to 100 → 90 → three.
        (100, 3, "RateBudget"),
    ];
    for (limit, replicas, reason) in cases {
        patch_spec(
            &client,
            &ns.name,
            "budget",
            serde_json::json!({"source": {"limits": {"requestsPerWindow": limit}}}),
        )
        .await;
        wait_for(
            &format!("{replicas} extractor replicas at {limit} requests per window"),
            || async {
                let tp = get(&client, &ns.name, "budget").await?;
                let status = tp.status?;
                let current = extractor_replicas(&client, &ns.name, "budget").await?;
                (status.observed_generation == tp.metadata.generation
                    && current == replicas
                    && status.extractor.cap_reason == reason)
                    .then_some(())
            },
        )
        .await;
        let rate_limited = condition(&client, &ns.name, "budget", "RateLimited")
            .await
            .expect("condition");
        assert_eq!(rate_limited.status == "True", reason == "RateBudget");
    }
    // The ConfigMap hands each query its share of the token (whichever replica runs it).
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), &ns.name);
    let config =
        maps.get("budget-extractor").await.unwrap().data.unwrap()["extractor.json"].clone();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let shares: Vec<u64> = config["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["requests_per_window"].as_u64().unwrap())
        .collect();
    assert_eq!(shares, vec![15; 6], "90 requests split over six queries");

    // Suspend stops every worker and keeps the data.
    patch_spec(
        &client,
        &ns.name,
        "budget",
        serde_json::json!({"suspend": true}),
    )
    .await;
    wait_condition(&client, &ns.name, "budget", "Suspended", "True", None).await;
    wait_for("extractors at zero", || async {
        (extractor_replicas(&client, &ns.name, "budget").await? == 0).then_some(())
    })
    .await;
    assert!(database_exists(&tp.spec.mysql.database).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_unreachable_degrades_then_recovers() {
    // The platform's Kafka is shared by every test, so "Kafka stopped" is a pipeline whose
    // brokers stop answering: its bootstrap moves to a closed port and back.
    let (client, ns, _operator) = operated_namespace("kafka").await;
    create(&client, &pipeline(&ns, "kafka")).await;
    wait_condition(&client, &ns.name, "kafka", "KafkaReady", "True", None).await;

    let closed = format!("{}:1", platform_node_ip());
    patch_spec(
        &client,
        &ns.name,
        "kafka",
        serde_json::json!({"kafka": {"bootstrapServers": closed}}),
    )
    .await;
    let down = ns
        .wait_false("kafka", "KafkaReady", "KafkaUnreachable")
        .await;
    assert_message_has(&down, ":1", "names the unreachable address");
    ns.wait_false("kafka", "Ready", "KafkaUnreachable").await;
    // MySQL is still checked while Kafka is down.
    wait_condition(&client, &ns.name, "kafka", "MySQLReady", "True", None).await;

    patch_spec(
        &client,
        &ns.name,
        "kafka",
        serde_json::json!({"kafka": {"bootstrapServers": platform().kafka_bootstrap_pod}}),
    )
    .await;
    wait_condition(&client, &ns.name, "kafka", "KafkaReady", "True", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_keeps_or_removes_data_as_the_policy_says() {
    let (client, ns, _operator) = operated_namespace("delete").await;
    let retain = pipeline(&ns, "keep");
    let mut delete = pipeline(&ns, "drop");
    delete.spec.deletion_policy = tweetpipe_operator::crd::DeletionPolicy::Delete;
    create(&client, &retain).await;
    create(&client, &delete).await;
    for name in ["keep", "drop"] {
        wait_condition(&client, &ns.name, name, "KafkaReady", "True", None).await;
        wait_condition(&client, &ns.name, name, "MySQLReady", "True", None).await;
        wait_for("the extractor StatefulSet", || {
            extractor_replicas(&client, &ns.name, name)
        })
        .await;
    }
    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), &ns.name);
    for name in ["keep", "drop"] {
        api.delete(name, &DeleteParams::foreground())
            .await
            .expect("delete");
    }
    for name in ["keep", "drop"] {
        wait_gone(&format!("{name} to be gone"), &client, &ns.name, name).await;
    }
    let topics = |tp: &TweetPipeline| {
        let t = &tp.spec.kafka.topic;
        vec![t.clone(), format!("{t}.checkpoints"), format!("{t}.dlq")]
    };
    assert_eq!(
        existing_topics(&topics(&retain)).len(),
        3,
        "Retain keeps the topics"
    );
    assert!(
        database_exists(&retain.spec.mysql.database).await,
        "Retain keeps the database"
    );
    wait_for("Delete to remove the topics", || async {
        existing_topics(&topics(&delete)).is_empty().then_some(())
    })
    .await;
    assert!(
        !database_exists(&delete.spec.mysql.database).await,
        "Delete drops the database"
    );
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mysql.user WHERE User = ?")
        .bind(&delete.spec.mysql.reporting_user.as_ref().unwrap().name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(users, 0, "Delete drops the reporting user");
    // Workloads always go (owner references, foreground deletion).
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    wait_for("workloads to be collected", || async {
        let left = sets.list(&Default::default()).await.ok()?.items.len()
            + deployments
                .list(&Default::default())
                .await
                .ok()?
                .items
                .len();
        (left == 0).then_some(())
    })
    .await;
    // Clean up what Retain kept.
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{}`",
        retain.spec.mysql.database
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_completes_when_kafka_and_mysql_are_unreachable() {
    let (client, ns, _operator) = operated_namespace("gone").await;
    let mut tp = pipeline(&ns, "gone");
    tp.spec.deletion_policy = tweetpipe_operator::crd::DeletionPolicy::Delete;
    let node_ip = platform_node_ip();
    tp.spec.kafka.bootstrap_servers = format!("{node_ip}:1");
    create(&client, &tp).await;
    wait_finalizer("the finalizer", &client, &ns.name, "gone").await;
    put_secret(
        &client,
        &ns.name,
        "mysql-admin",
        "url",
        &format!("mysql://root:x@{node_ip}:1"),
    )
    .await;
    ns.wait_false("gone", "KafkaReady", "KafkaUnreachable")
        .await;
    Api::<TweetPipeline>::namespaced(client.clone(), &ns.name)
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(
        "deletion despite unreachable Kafka and MySQL",
        &client,
        &ns.name,
        "gone",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_killed_mid_reconcile_converges_after_restart() {
    let (client, ns) = namespace_with_secrets("restart").await;
    let tp = pipeline(&ns, "restart");
    let mut first = Operator::for_namespace(&ns.name);
    create(&client, &tp).await;
    // Kill it as soon as the first reconcile has started (finalizer added), before it finishes.
    wait_finalizer("the first reconcile to start", &client, &ns.name, "restart").await;
    first.kill();
    let _second = Operator::solo(&ns.name, "second", Vec::new());
    wait_condition(&client, &ns.name, "restart", "KafkaReady", "True", None).await;
    wait_condition(&client, &ns.name, "restart", "MySQLReady", "True", None).await;
    assert_eq!(
        wait_for("extractors", || extractor_replicas(
            &client, &ns.name, "restart"
        ))
        .await,
        3
    );
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        services
            .get_opt("restart-extractor")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(topic_partitions(&tp.spec.kafka.topic), Some(2));
    // Growing partitions converges too.
    patch_spec(
        &client,
        &ns.name,
        "restart",
        serde_json::json!({"kafka": {"partitions": 4}}),
    )
    .await;
    wait_for("4 partitions", || async {
        (topic_partitions(&tp.spec.kafka.topic)? == 4).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_elect_one_leader_and_fail_over() {
    let (client, ns) = namespace_with_secrets("leader").await;
    let lease_name = "tweetpipe-operator-e2e";
    let mut a = Operator::candidate(&ns.name, "op-a", lease_name);
    let mut b = Operator::candidate(&ns.name, "op-b", lease_name);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let lease_holder = || async {
        leases
            .get_opt(lease_name)
            .await
            .ok()
            .flatten()?
            .spec?
            .holder_identity
    };
    let holder = wait_for("a Lease holder", lease_holder).await;
    let (leader, standby) = if holder == "op-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    assert_eq!(leader.identity, holder);
    wait_for("the leader gauge", || async {
        leader.is_leader().await.filter(|l| *l)
    })
    .await;
    assert_eq!(standby.is_leader().await, Some(false), "exactly one leader");

    create(&client, &pipeline(&ns, "first")).await;
    wait_condition(&client, &ns.name, "first", "KafkaReady", "True", None).await;

    leader.kill();
    let new_holder = wait_for("the standby to take the Lease", || async {
        let holder = lease_holder().await?;
        (holder == standby.identity).then_some(holder)
    })
    .await;
    assert_eq!(new_holder, standby.identity);
    create(&client, &pipeline(&ns, "second")).await;
    wait_condition(&client, &ns.name, "second", "KafkaReady", "True", None).await;
    assert_eq!(standby.is_leader().await, Some(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_becomes_ready_with_pods_running_and_posts_in_mariadb() {
    let (client, ns, _operator) = operated_namespace("ready").await;
    deploy_simulator(&client, &ns.name).await;
    let mut tp = pipeline(&ns, "covid");
    tp.spec.source.tokens.truncate(1);
    create(&client, &tp).await;

    wait_condition(&client, &ns.name, "covid", "Ready", "True", None).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let running = pods
        .list(&kube::api::ListParams::default().labels("tweetpipe.io/pipeline=covid"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .count();
    assert!(
        running >= 2,
        "extractor and transformer pods run: {running}"
    );
    let database = tp.spec.mysql.database.clone();
    let posts = wait_for_stored_posts("posts in MariaDB", &database).await;
    assert!(posts > 0);
    wait_for("progress in the status", || async {
        let status = get(&client, &ns.name, "covid").await?.status?;
        (status.posts_total > 0).then_some(())
    })
    .await;
}
