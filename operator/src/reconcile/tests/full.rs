//! A whole reconcile of a pipeline whose Secrets exist, on the mock API server, with the scripted
//! topic admin, schema owner and progress reader of [`crate::test_support::fakes`] standing in
//! for Kafka and MySQL: the finalizer, the dependencies, observe, the server-side applies in
//! their order, the status and the events, each request asserted. Then the same world again:
//! nothing changed, so nothing is sent but the workload reads. And a dependency that fails: its
//! condition and its Warning.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStatus, StatefulSet, StatefulSetSpec, StatefulSetStatus,
};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{Posted, condition, expect_condition_events, not_ready};
use crate::crd::{FINALIZER, TweetPipeline, TweetPipelineStatus};
use crate::decide::plan::Checkpoint;
use crate::labels::writer_account_name;
use crate::settings::Settings;
use crate::test_support::fakes::{
    Answer, ScriptedProgress, ScriptedSchema, ScriptedTopics, TopicsAnswer,
};
use crate::test_support::mock_api::{
    EXTRACTOR_PATH, MockApi, PipelineBuilder, TRANSFORMER_PATH, World, data_secret, verified,
    verify,
};

/// The MySQL admin URL in the pipeline's Secret: nothing listens there, the scripted schema
/// owner never uses the (lazy) pools.
const ADMIN_URL: &str = "mysql://root:s3cret@127.0.0.1:1/mysql";

/// The writer's password, as the operator's own Secret keeps it from an earlier reconcile (so the
/// Secret the reconcile applies is known in advance).
const WRITER_PASSWORD: &str = "KeptWriterPassword0123456789abcd";

/// What pods mount, and the Services: applied first, concurrently; (path, kind).
const MOUNTED: [(&str, &str); 5] = [
    (
        "/api/v1/namespaces/tweets/configmaps/covid19-extractor",
        "ConfigMap",
    ),
    (
        "/api/v1/namespaces/tweets/configmaps/covid19-transformer",
        "ConfigMap",
    ),
    (
        "/api/v1/namespaces/tweets/secrets/covid19-transformer-mysql",
        "Secret",
    ),
    (
        "/api/v1/namespaces/tweets/services/covid19-extractor",
        "Service",
    ),
    (
        "/api/v1/namespaces/tweets/services/covid19-transformer",
        "Service",
    ),
];

/// Then the workloads, concurrently; (path, kind).
const WORKLOADS: [(&str, &str); 2] = [
    (EXTRACTOR_PATH, "StatefulSet"),
    (TRANSFORMER_PATH, "Deployment"),
];

/// The topics the scripted admin reports created.
const CREATED: [&str; 2] = ["tweets.covid19", "tweets.covid19.checkpoints"];

/// The transformers' lag the scripted reader reports.
const LAG: i64 = 12_000;

/// Extractors the decision gives the fixture (three queries on two tokens' budget).
const EXTRACTORS: i32 = 3;
/// Transformers for [`LAG`] at 5000 per replica.
const TRANSFORMERS: i32 = 3;

/// The checkpoints the scripted reader reports: posts of an earlier month, so this month's count
/// (and with it the monthly forecast) does not move with the clock between two reconciles.
fn checkpoints() -> Vec<Checkpoint> {
    [
        ("covid-en", 1200, "1850000000000000001"),
        ("covid-pt", 34, "1850000000000000002"),
    ]
    .into_iter()
    .map(|(query, posts, newest)| Checkpoint {
        query: query.into(),
        newest_id: Some(newest.into()),
        posts_total: posts,
        month: "2020-01".into(),
        month_posts: posts,
        ..Checkpoint::default()
    })
    .collect()
}

/// The fakes a world runs with.
struct Fakes {
    topics: Arc<ScriptedTopics>,
    schema: Arc<ScriptedSchema>,
    progress: Arc<ScriptedProgress>,
}

impl Fakes {
    /// Kafka and MySQL in shape: the topics created on the first call, the schema work done, the
    /// progress read.
    fn healthy() -> Self {
        Fakes {
            topics: ScriptedTopics::new(TopicsAnswer::Created(
                CREATED.iter().map(ToString::to_string).collect(),
            )),
            schema: Arc::new(ScriptedSchema::healthy()),
            progress: ScriptedProgress::new(Some(checkpoints()), Some(LAG)),
        }
    }

    /// A world where every Secret the fixture names exists (and the operator's own, with the
    /// writer's password), with these fakes.
    fn world(&self) -> World {
        World::new()
            .secret(data_secret("x-token-a", &[("token", "AAA")]))
            .secret(data_secret("x-token-b", &[("bearer", "BBB")]))
            .secret(data_secret("mysql-admin", &[("url", ADMIN_URL)]))
            .secret(data_secret("mysql-reporting", &[("password", "reader")]))
            .secret(data_secret(
                "covid19-transformer-mysql",
                &[("password", WRITER_PASSWORD)],
            ))
            .topics(self.topics.clone())
            .schema(self.schema.clone())
            .progress(self.progress.clone())
    }

    /// The calls each fake received since the last look: (topics, schema, progress).
    fn calls(&self) -> [Vec<&'static str>; 3] {
        [
            self.topics.calls(),
            self.schema.calls(),
            self.progress.calls(),
        ]
    }
}

/// What one pass of the reconcile sent: the objects applied (by path), the status, the events.
struct Pass {
    applied: BTreeMap<String, Value>,
    status: TweetPipelineStatus,
    posted: Posted,
}

impl Pass {
    /// The object applied at `path`, as its type.
    fn object<K: serde::de::DeserializeOwned>(&self, path: &str) -> K {
        serde_json::from_value(self.applied[path].clone()).expect("an applied object of its kind")
    }

    /// The applied workload at `path` as the API server shows it later: with `ready` pods ready
    /// (`None`: no status yet).
    fn workload(&self, path: &str, ready: Option<i32>) -> Value {
        let mut object = self.applied[path].clone();
        if let Some(ready) = ready {
            object["status"] = json!({"replicas": ready, "readyReplicas": ready});
        }
        object
    }
}

/// Workloads that already run with every pod ready: the StatefulSet and the Deployment at the
/// sizes the decision gives, as a previous operator left them.
fn running_workloads() -> (Value, Value) {
    let meta = |name: &str| kube::core::ObjectMeta {
        name: Some(name.into()),
        namespace: Some("tweets".into()),
        ..Default::default()
    };
    let extractor = StatefulSet {
        metadata: meta("covid19-extractor"),
        spec: Some(StatefulSetSpec {
            replicas: Some(EXTRACTORS),
            ..StatefulSetSpec::default()
        }),
        status: Some(StatefulSetStatus {
            replicas: EXTRACTORS,
            ready_replicas: Some(EXTRACTORS),
            ..StatefulSetStatus::default()
        }),
    };
    let transformer = Deployment {
        metadata: meta("covid19-transformer"),
        spec: Some(DeploymentSpec {
            replicas: Some(TRANSFORMERS),
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus {
            replicas: Some(TRANSFORMERS),
            ready_replicas: Some(TRANSFORMERS),
            ..DeploymentStatus::default()
        }),
    };
    (
        serde_json::to_value(extractor).expect("serialises"),
        serde_json::to_value(transformer).expect("serialises"),
    )
}

/// The apply step: what pods mount and the Services first (concurrently), then both workloads
/// (concurrently); each object the pipeline's own, of the kind its path names.
async fn expect_apply(api: &mut MockApi) -> BTreeMap<String, Value> {
    let mut applied = BTreeMap::new();
    for (round, what) in [
        (
            &MOUNTED[..],
            "the ConfigMaps, the MySQL Secret and the Services",
        ),
        (&WORKLOADS[..], "the StatefulSet and the Deployment"),
    ] {
        let paths: Vec<&str> = round.iter().map(|(path, _)| *path).collect();
        let objects = api.expect_applies(&paths, what).await;
        for (path, kind) in round {
            let object = &objects[*path];
            assert_eq!(object["kind"], json!(kind), "{path}");
            assert_eq!(object["metadata"]["namespace"], json!("tweets"), "{path}");
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            assert!(path.ends_with(&format!("/{name}")), "{path}: {name}");
            let owner = &object["metadata"]["ownerReferences"][0];
            assert_eq!(
                (&owner["kind"], &owner["name"], &owner["controller"]),
                (&json!("TweetPipeline"), &json!("covid19"), &json!(true)),
                "{path}"
            );
        }
        applied.extend(objects);
    }
    applied
}

/// One pass of a reconcile past the finalizer: the workload reads (answered with `workloads`),
/// the applies, the status patch (answered with `tp` carrying it), then the events: a
/// `TopicsCreated` when `created` names topics, and those of the new conditions.
async fn expect_pass(
    api: &mut MockApi,
    tp: &TweetPipeline,
    workloads: (Option<&Value>, Option<&Value>),
    created: &[&str],
) -> Pass {
    api.expect_workload_reads(workloads.0, workloads.1).await;
    let applied = expect_apply(api).await;
    let status = api.expect_status_patch(tp).await;
    if !created.is_empty() {
        let event = api.expect_event("the TopicsCreated event").await;
        assert_eq!(
            (&event["type"], &event["reason"]),
            (&json!("Normal"), &json!("TopicsCreated")),
            "{event}"
        );
        assert_eq!(
            event["note"],
            json!(format!("Kafka topics created: {}", created.join(", ")))
        );
    }
    let posted = expect_condition_events(api, &status).await;
    Pass {
        applied,
        status,
        posted,
    }
}

/// Requeued as settled (ready, or only waiting for pods).
fn settled(settings: &Settings) -> Action {
    Action::requeue(settings.requeue_ready)
}

/// The status of a pass where every dependency is in shape, with `ready` the Ready condition's
/// (status, reason); and the applied objects agreeing with it.
fn assert_healthy(pass: &Pass, ready: (&str, &str)) {
    let status = &pass.status;
    assert_eq!(status.observed_generation, Some(3));
    let expected = [
        ("Ready", ready.0, ready.1),
        ("SecretsResolved", "True", "SecretsFound"),
        ("KafkaReady", "True", "TopicsReady"),
        ("MySQLReady", "True", "SchemaReady"),
        ("SchemaRegistered", "True", "RegistryNotUsed"),
        ("RateLimited", "False", "WithinRateBudget"),
        ("MonthlyCap", "False", "WithinCap"),
        ("QueriesValid", "True", "QueriesParse"),
        ("Suspended", "False", "Running"),
    ];
    assert_eq!(
        status.conditions.len(),
        expected.len(),
        "{:?}",
        status.conditions
    );
    for (type_, state, reason) in expected {
        let c = condition(status, type_);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.observed_generation),
            (state, reason, Some(3)),
            "{type_}: {c:?}"
        );
    }
    // No Warning: every condition is good news (or, not ready yet, progress).
    assert!(
        pass.posted.keys().all(|(type_, _)| *type_ == "Normal"),
        "{:?}",
        pass.posted.keys()
    );
    // The progress read reaches the status; the sizes decided are those applied.
    assert_eq!(status.transformer.lag, LAG);
    assert_eq!(status.transformer.partitions, 6);
    let progress: Vec<(&str, u64, Option<&str>)> = status
        .queries
        .iter()
        .map(|q| (q.name.as_str(), q.posts_total, q.newest_id.as_deref()))
        .collect();
    assert_eq!(
        progress,
        [
            ("covid-en", 1200, Some("1850000000000000001")),
            ("covid-pt", 34, Some("1850000000000000002")),
            ("quarantine-en", 0, None),
        ]
    );
    assert_eq!(status.posts_total, 1234);
    let extractor: StatefulSet = pass.object(EXTRACTOR_PATH);
    let transformer: Deployment = pass.object(TRANSFORMER_PATH);
    let replicas = (
        extractor.spec.and_then(|s| s.replicas),
        transformer.spec.and_then(|s| s.replicas),
    );
    assert_eq!(replicas, (Some(EXTRACTORS), Some(TRANSFORMERS)));
    assert_eq!(
        (status.extractor.replicas, status.transformer.replicas),
        (EXTRACTORS, TRANSFORMERS)
    );
    // The transformers' Secret: the writer on the pipeline's database, its password kept.
    let secret: Secret = pass.object(MOUNTED[2].0);
    let data = secret.data.unwrap_or_default();
    let value = |key: &str| String::from_utf8(data[key].0.clone()).expect("UTF-8");
    assert_eq!(value("password"), WRITER_PASSWORD);
    let writer = writer_account_name(&PipelineBuilder::new().build());
    assert_eq!(
        value("url"),
        format!("mysql://{writer}:{WRITER_PASSWORD}@127.0.0.1:1/tweets_covid19")
    );
}

/// A full reconcile, then the same world again. A new pipeline gets its finalizer first and its
/// workloads made (Ready waits for the pods); one whose workloads already run is Ready at once.
/// Both times the reconcile applies everything in order, writes the status with the conditions
/// as decided and posts their events; the second reconcile, with that status on the object and
/// the workloads as applied, reads the workloads and sends nothing else (no apply: nothing
/// changed; no status patch: status only when changed; no event).
#[tokio::test]
async fn a_pipeline_whose_secrets_exist_is_reconciled_whole_then_left_alone() {
    struct Row {
        name: &'static str,
        /// The operator's finalizer already on the pipeline.
        finalized: bool,
        /// The workloads run with every pod ready (else: none yet, then none ready).
        running: bool,
        /// The Ready condition's status and reason.
        ready: (&'static str, &'static str),
    }
    let rows = [
        Row {
            name: "a new pipeline",
            finalized: false,
            running: false,
            ready: ("False", "WorkloadsNotReady"),
        },
        Row {
            name: "a pipeline whose workloads run",
            finalized: true,
            running: true,
            ready: ("True", "PipelineReady"),
        },
    ];
    for row in rows {
        let fakes = Fakes::healthy();
        let (world, api) = fakes.world().start();
        let tp = if row.finalized {
            PipelineBuilder::new().finalized().build()
        } else {
            PipelineBuilder::new().build()
        };
        // What the API server answers the finalizer and status patches with.
        let answer = PipelineBuilder::new().finalized().build();
        let (written_tx, written_rx) = tokio::sync::oneshot::channel();
        let (running, ready) = (row.running, row.ready);
        let verifier = verify(api, move |mut api| async move {
            if !row.finalized {
                let patch = api.expect_pipeline_finalizer_patch(&answer).await;
                assert_eq!(
                    patch,
                    json!({"metadata": {"resourceVersion": "41", "finalizers": [FINALIZER]}})
                );
            }
            let before = running.then(running_workloads);
            let workloads = before.as_ref().map(|(e, t)| (e, t)).unzip();
            let pass = expect_pass(&mut api, &answer, workloads, &CREATED).await;
            assert_healthy(&pass, ready);
            let _ = written_tx.send(pass.status.clone());
            // The second reconcile: the workloads as applied (their pods as ready as before),
            // and then nothing.
            let (extractor, transformer) = (
                pass.workload(EXTRACTOR_PATH, running.then_some(EXTRACTORS)),
                pass.workload(TRANSFORMER_PATH, running.then_some(TRANSFORMERS)),
            );
            api.expect_workload_reads(Some(&extractor), Some(&transformer))
                .await;
            api.expect_no_more().await;
        });
        let first = world.reconcile(&tp).await;
        let expected = settled(&world.shared.ctx.settings);
        assert_eq!(first.ok(), Some(expected.clone()), "{}", row.name);
        let full_work = [
            "connect",
            "claim_database",
            "migrate",
            "ensure_account",
            "ensure_account",
        ];
        assert_eq!(
            fakes.calls(),
            [
                vec!["clients", "ensure_topics"],
                full_work.to_vec(),
                vec!["read_checkpoints", "consumer_lag"],
            ],
            "{}: the first reconcile's Kafka and MySQL calls",
            row.name
        );
        let second = world.reconcile_with_written_status(written_rx).await;
        assert_eq!(
            fakes.calls(),
            [
                vec!["clients", "ensure_topics"],
                vec!["connect", "is_current"],
                vec!["read_checkpoints", "consumer_lag"],
            ],
            "{}: the second reconcile's (the schema work remembered as done)",
            row.name
        );
        drop(world);
        verified(verifier).await;
        assert_eq!(second.ok(), Some(expected), "{}", row.name);
    }
}

/// A dependency that fails is its condition and the Ready reason, posted once as a Warning
/// (the recorder folds Ready's into it); the rest of the reconcile still runs: the workloads are
/// applied, the other dependency is checked, and the reconcile comes back sooner.
#[tokio::test]
async fn a_failing_dependency_is_a_condition_and_a_warning() {
    struct Row {
        fakes: Fakes,
        /// The condition of the failing dependency, and the reason it gives Ready too.
        failed: (&'static str, &'static str),
        /// What its message says.
        says: &'static str,
        /// The topics reported created (a TopicsCreated event), if the topics were in shape.
        created: &'static [&'static str],
        /// The calls each fake received: (topics, schema, progress).
        calls: [&'static [&'static str]; 3],
    }
    let rows = [
        Row {
            fakes: Fakes {
                schema: Arc::new(ScriptedSchema {
                    migrate: Answer::Failed,
                    ..ScriptedSchema::healthy()
                }),
                ..Fakes::healthy()
            },
            failed: ("MySQLReady", "MigrationFailed"),
            says: "schema migration failed",
            created: &CREATED,
            calls: [
                &["clients", "ensure_topics"],
                &["connect", "claim_database", "migrate"],
                &["read_checkpoints", "consumer_lag"],
            ],
        },
        Row {
            fakes: Fakes {
                topics: ScriptedTopics::new(TopicsAnswer::Owned),
                ..Fakes::healthy()
            },
            failed: ("KafkaReady", "TopicOwnedByAnotherPipeline"),
            says: "tweets/other",
            created: &[],
            // No clients, so no progress read: the status keeps the last known progress.
            calls: [
                &["clients", "ensure_topics"],
                &[
                    "connect",
                    "claim_database",
                    "migrate",
                    "ensure_account",
                    "ensure_account",
                ],
                &[],
            ],
        },
    ];
    for row in rows {
        let (world, api) = row.fakes.world().start();
        let tp = PipelineBuilder::new().finalized().build();
        let answer = tp.clone();
        let (type_, reason) = row.failed;
        let (says, created) = (row.says, row.created);
        let verifier = verify(api, move |mut api| async move {
            let pass = expect_pass(&mut api, &answer, (None, None), created).await;
            for type_ in [type_, "Ready"] {
                let c = condition(&pass.status, type_);
                assert_eq!(
                    (c.status.as_str(), c.reason.as_str()),
                    ("False", reason),
                    "{type_}: {c:?}"
                );
                assert!(c.message.contains(says), "{type_}: {}", c.message);
            }
            let (_, note, count) = pass
                .posted
                .get(&("Warning", reason.to_string()))
                .unwrap_or_else(|| panic!("a {reason} Warning was posted"));
            let note = note.as_str().unwrap_or_default();
            assert!(note.contains(says), "{note}");
            assert_eq!(
                *count, 2,
                "{reason}: the condition's and Ready's, one event"
            );
            api.expect_no_more().await;
        });
        let result = world.reconcile(&tp).await;
        let expected = not_ready(&world.shared.ctx.settings);
        let calls = row.fakes.calls();
        drop(world);
        verified(verifier).await;
        assert_eq!(result.ok(), Some(expected), "{reason}");
        assert_eq!(calls, row.calls.map(<[&str]>::to_vec), "{reason}");
    }
}

/// A pipeline streaming on an app another pipeline streams on too (their token Secrets hold
/// the same token): `StreamAppsAvailable` is False with `StreamAppShared`, Ready says so, the
/// message names the other pipeline and never the token; the workloads are applied all the same
/// and the status shows each query's delivery.
#[tokio::test]
async fn a_stream_pipeline_on_a_shared_app_says_so() {
    use crate::crd::QueryDelivery;
    use crate::reconcile::finalizers::SECRET_FINALIZER;

    let fakes = Fakes::healthy();
    let stream =
        |tp: &mut TweetPipeline| tp.spec.source.queries[0].delivery = QueryDelivery::Stream;
    let tp = PipelineBuilder::new().finalized().edit(stream).build();
    let other = PipelineBuilder::new()
        .finalized()
        .edit(|tp| {
            stream(tp);
            tp.metadata.name = Some("other".into());
            tp.spec.source.tokens.truncate(1);
        })
        .build();
    // The tokens already carry the finalizer a stream pipeline's cleanup needs.
    let kept = |mut secret: Secret| {
        secret.metadata.finalizers = Some(vec![SECRET_FINALIZER.into()]);
        secret
    };
    let (world, api) = fakes
        .world()
        .secret(kept(data_secret("x-token-a", &[("token", "AAA")])))
        .secret(kept(data_secret("x-token-b", &[("bearer", "BBB")])))
        .pipeline(&tp)
        .pipeline(&other)
        .start();
    let answer = tp.clone();
    let verifier = verify(api, move |mut api| async move {
        let pass = expect_pass(&mut api, &answer, (None, None), &CREATED).await;
        let status = &pass.status;
        let shared = condition(status, "StreamAppsAvailable");
        assert_eq!(
            (shared.status.as_str(), shared.reason.as_str()),
            ("False", "StreamAppShared")
        );
        assert!(
            shared.message.contains("pipeline tweets/other (token 0)"),
            "{}",
            shared.message
        );
        assert!(!shared.message.contains("AAA"), "{}", shared.message);
        let ready = condition(status, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "StreamAppShared")
        );
        let deliveries: Vec<&str> = status.queries.iter().map(|q| q.delivery.as_str()).collect();
        assert_eq!(deliveries, ["StreamWithSearchRecovery", "Search", "Search"]);
        let connections = &status.stream.as_ref().expect("a stream block").connections;
        assert_eq!(connections.len(), 1);
        assert_eq!(
            (connections[0].token, connections[0].state.as_str()),
            (0, "NotStarted")
        );
        // The extractor's config names the query's delivery and rule tag.
        let config: Value = serde_json::from_str(
            pass.applied[MOUNTED[0].0]["data"]["extractor.json"]
                .as_str()
                .expect("the extractor's config"),
        )
        .expect("JSON");
        assert_eq!(
            config["queries"][0]["delivery"],
            json!("stream_with_search_recovery")
        );
        assert_eq!(
            config["queries"][0]["rule_tag"],
            json!("tweetpipe:tweets/covid19:covid-en")
        );
        assert!(config["queries"][1].get("delivery").is_none());
        api.expect_no_more().await;
    });
    let action = world.reconcile(&tp).await;
    let not_settled = Action::requeue(world.shared.ctx.settings.requeue_not_ready);
    drop(world);
    verified(verifier).await;
    assert_eq!(
        action.ok(),
        Some(not_settled),
        "not settled: the spec must change"
    );
}
