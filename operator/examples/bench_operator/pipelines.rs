//! What the bench creates: its names (all derived from one random suffix, so cleanup can find
//! everything by prefix), the two kinds of pipeline, and what "converged" means for each.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::PostParams;
use tweetpipe_operator::crd::{DeletionPolicy, QuerySpec, SecretKeyRef, TweetPipeline};
use tweetpipe_operator::labels::INSTANCE_LABEL;

/// The query every bench pipeline runs (also the checkpoint record key).
pub const QUERY_NAME: &str = "covid";

/// Every name the bench uses.
#[derive(Debug, Clone)]
pub struct Names {
    pub suffix: String,
    /// Operator instance (label value), so no other operator touches these pipelines.
    pub instance: String,
    pub active_namespace: String,
    pub suspended_namespace: String,
    /// Every bench topic starts with this.
    pub topic_prefix: String,
    /// Every bench database starts with this.
    pub database_prefix: String,
    /// The MySQL admin account the operator uses (its connections are counted by this name).
    pub operator_user: String,
}

impl Names {
    pub fn new() -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
        Names {
            instance: format!("bench-{suffix}"),
            active_namespace: format!("bench-op-active-{suffix}"),
            suspended_namespace: format!("bench-op-suspended-{suffix}"),
            topic_prefix: format!("bench.{suffix}."),
            database_prefix: format!("bench_{suffix}_"),
            operator_user: format!("tpbench_{suffix}"),
            suffix,
        }
    }

    pub fn namespaces(&self) -> [&str; 2] {
        [&self.active_namespace, &self.suspended_namespace]
    }

    pub fn active_name(i: usize) -> String {
        format!("a{i:04}")
    }

    pub fn suspended_name(i: usize) -> String {
        format!("s{i:04}")
    }

    /// The topic all suspended pipelines share.
    pub fn shared_topic(&self) -> String {
        format!("{}shared", self.topic_prefix)
    }

    /// The database all suspended pipelines share.
    pub fn shared_database(&self) -> String {
        format!("{}shared", self.database_prefix)
    }
}

/// Settings common to both kinds, from the repository's complete example pipeline.
fn base(names: &Names, namespace: &str, name: &str, kafka_bootstrap_pod: &str) -> TweetPipeline {
    let mut tp: TweetPipeline = serde_yaml::from_str(include_str!("../../fixtures/pipeline.yaml"))
        .unwrap_or_else(|e| panic!("fixtures/pipeline.yaml: {e}"));
    tp.metadata = kube::core::ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some([(INSTANCE_LABEL.to_string(), names.instance.clone())].into()),
        ..Default::default()
    };
    tp.spec.source.tokens = vec![SecretKeyRef {
        name: "x-token".into(),
        key: "token".into(),
    }];
    tp.spec.source.queries = vec![QuerySpec {
        name: QUERY_NAME.into(),
        query: "covid lang:en".into(),
        delivery: Default::default(),
        search_recovery: None,
    }];
    tp.spec.mysql.reporting_user = None;
    tp.spec.kafka.partitions = 1;
    tp.spec.kafka.bootstrap_servers = kafka_bootstrap_pod.to_string();
    tp
}

/// An active pipeline with its own topic and database, dropped on deletion.
pub fn active(names: &Names, i: usize, kafka_bootstrap_pod: &str) -> TweetPipeline {
    let name = Names::active_name(i);
    let mut tp = base(names, &names.active_namespace, &name, kafka_bootstrap_pod);
    tp.spec.suspend = false;
    tp.spec.deletion_policy = DeletionPolicy::Delete;
    tp.spec.kafka.topic = format!("{}{name}", names.topic_prefix);
    tp.spec.mysql.database = format!("{}{name}", names.database_prefix);
    tp
}

/// A suspended pipeline on the shared topic and database, kept on deletion.
pub fn suspended(names: &Names, i: usize, kafka_bootstrap_pod: &str) -> TweetPipeline {
    let name = Names::suspended_name(i);
    let mut tp = base(
        names,
        &names.suspended_namespace,
        &name,
        kafka_bootstrap_pod,
    );
    tp.spec.suspend = true;
    tp.spec.deletion_policy = DeletionPolicy::Retain;
    tp.spec.kafka.topic = names.shared_topic();
    tp.spec.mysql.database = names.shared_database();
    tp
}

/// Creates the pipelines `make(0..count)` in `namespace`, a few requests at a time: when it
/// started (the clock convergence is measured from) and how long the creation took.
pub async fn create_all(
    client: &kube::Client,
    namespace: &str,
    count: usize,
    make: impl Fn(usize) -> TweetPipeline,
) -> kube::Result<(Instant, Duration)> {
    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    let pipelines: Vec<TweetPipeline> = (0..count).map(make).collect();
    futures::stream::iter(pipelines)
        .map(|tp| {
            let api = &api;
            async move { api.create(&PostParams::default(), &tp).await.map(drop) }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await?;
    Ok((started, started.elapsed()))
}

fn condition<'a>(
    tp: &'a TweetPipeline,
    type_: &str,
) -> Option<&'a tweetpipe_operator::crd::Condition> {
    tp.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

fn is_true(tp: &TweetPipeline, type_: &str) -> bool {
    condition(tp, type_).is_some_and(|c| c.status == "True")
}

/// Status written for the current generation, and the dependencies in place.
fn dependencies_converged(tp: &TweetPipeline) -> bool {
    tp.status.as_ref().is_some_and(|s| {
        s.observed_generation.is_some() && s.observed_generation == tp.metadata.generation
    }) && ["KafkaReady", "MySQLReady", "SecretsResolved"]
        .iter()
        .all(|t| is_true(tp, t))
}

/// An active pipeline whose pods cannot start (quota `pods: 0`): converged in everything but pod
/// readiness, so `Ready` may be False only because the workloads are not ready.
pub fn active_converged(tp: &TweetPipeline) -> bool {
    dependencies_converged(tp)
        && condition(tp, "Ready").is_some_and(|c| {
            c.status == "True" || (c.status == "False" && c.reason == "WorkloadsNotReady")
        })
}

/// A suspended pipeline: its status current and its dependencies in place — or, since they all
/// name one topic and one database, refused as another pipeline's (the first to claim them owns
/// them; the others are told so, which is the converged state of a shared name).
pub fn suspended_converged(tp: &TweetPipeline) -> bool {
    let current = tp.status.as_ref().is_some_and(|s| {
        s.observed_generation.is_some() && s.observed_generation == tp.metadata.generation
    });
    let in_place_or_owned = |type_: &str, owned_reason: &str| {
        condition(tp, type_).is_some_and(|c| c.status == "True" || c.reason == owned_reason)
    };
    current
        && is_true(tp, "SecretsResolved")
        && in_place_or_owned("KafkaReady", "TopicOwnedByAnotherPipeline")
        && in_place_or_owned("MySQLReady", "DatabaseOwnedByAnotherPipeline")
}
