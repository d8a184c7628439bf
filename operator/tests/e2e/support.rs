//! Harness of the end-to-end tests: the real local platform (Kubernetes, Kafka, MariaDB from
//! `make platform-up`), the operator binary as a child process watching one test namespace,
//! and helpers that wait for a state with a generous liveness bound (never a performance claim).

#![allow(dead_code)] // shared by several test binaries, each using a part

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use sqlx::Connection;
use tweetpipe_operator::crd::{FINALIZER, TweetPipeline};
use tweetpipe_operator::labels::INSTANCE_LABEL;
use tweetpipe_testkit::Platform;
use tweetpipe_testkit::diagnostics::{self, Registration};
use tweetpipe_testkit::kafka::admin;
use tweetpipe_testkit::names::random_hex;
use tweetpipe_testkit::ports::free_port;

/// Upper bound for a state to be reached; generous because CPU is shared.
pub const SETTLE: Duration = Duration::from_secs(180);

pub fn platform() -> &'static Platform {
    tweetpipe_testkit::platform()
}

/// A client, with the CRD installed and established.
pub async fn client() -> Client {
    let p = platform();
    p.require_kafka().require_mysql();
    let client = p.kube_client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "tweetpipelines.tweetpipe.io",
        &PatchParams::apply("tweetpipe-e2e").force(),
        &Patch::Apply(tweetpipe_operator::crd::definition()),
    )
    .await
    .expect("installing the CRD");
    wait_for("the CRD to be established", || {
        let crds = crds.clone();
        async move {
            let crd = crds.get("tweetpipelines.tweetpipe.io").await.ok()?;
            let conditions = crd.status?.conditions?;
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        }
    })
    .await;
    client
}

/// Polls `check` until it yields `Some`, failing the test after [`SETTLE`] with a diagnostics
/// report (see [`tweetpipe_testkit::diagnostics`]).
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_until(what, || {
        let next = check();
        async move { next.await.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

/// Polls `check` until it yields `Ok`; `Err` says what it saw instead. After [`SETTLE`] the test
/// fails with the last thing seen and a diagnostics report of its namespaces and operators.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let last_seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            let report = tweetpipe_testkit::diagnostics::report(what, SETTLE, &last_seen);
            panic!("{report}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the pipeline's database on the platform MariaDB holds posts; their count.
pub async fn wait_for_stored_posts(what: &str, database: &str) -> i64 {
    wait_for(what, || async move {
        use sqlx::Connection;
        let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
            .await
            .ok()?;
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM `{database}`.posts"
        )))
        .fetch_one(&mut conn)
        .await
        .ok()?;
        (count > 0).then_some(count)
    })
    .await
}

/// A namespace for one test, deleted (best effort) when dropped.
pub struct TestNamespace {
    pub name: String,
    client: Client,
    _diagnostics: Registration,
}

impl TestNamespace {
    pub async fn new(client: &Client, test: &str) -> Self {
        Self::with_prefix(client, &format!("e2e-{test}")).await
    }

    /// A namespace named `<prefix>-<random>`.
    pub async fn with_prefix(client: &Client, prefix: &str) -> Self {
        let name = format!("{prefix}-{}", random_hex(6));
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("creating the test namespace");
        TestNamespace {
            _diagnostics: diagnostics::watch_namespace(&name),
            name,
            client: client.clone(),
        }
    }

    /// Waits for condition `type_` of pipeline `name` in this namespace to be `False` for
    /// `reason` (see [`wait_condition`]); returns it, for its message.
    pub async fn wait_false(
        &self,
        name: &str,
        type_: &str,
        reason: &str,
    ) -> tweetpipe_operator::crd::Condition {
        wait_condition(&self.client, &self.name, name, type_, "False", Some(reason)).await
    }

    /// Identifier safe for topics and databases.
    pub fn ident(&self) -> String {
        self.name.replace('-', "_")
    }
}

/// What most tests start from: a client, a namespace of the test's own holding the pipeline
/// Secrets, and an operator for it. Bind all three to the end of the test (the operator as
/// `_operator`): dropped in reverse, the operator stops before its namespace is deleted.
pub async fn operated_namespace(test: &str) -> (Client, TestNamespace, Operator) {
    let client = client().await;
    let ns = TestNamespace::new(&client, test).await;
    let operator = Operator::for_namespace(&ns.name);
    put_pipeline_secrets(&client, &ns.name).await;
    (client, ns, operator)
}

/// A client and a namespace of the test's own holding the pipeline Secrets, for a test that
/// starts its operators itself.
pub async fn namespace_with_secrets(test: &str) -> (Client, TestNamespace) {
    let client = client().await;
    let ns = TestNamespace::new(&client, test).await;
    put_pipeline_secrets(&client, &ns.name).await;
    (client, ns)
}

/// Runs best-effort async cleanup from a `Drop`, on a thread of its own (the test's runtime may
/// be shutting down or be the one dropping).
pub fn cleanup_in_drop<F>(cleanup: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(cleanup);
        }
    })
    .join();
}

/// Removes every finalizer from the objects of `api` that have one (no operator runs any more).
async fn clear_finalizers<K>(api: &Api<K>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Ok(list) = api.list(&Default::default()).await else {
        return;
    };
    for object in list {
        if object
            .meta()
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
        {
            let name = object.meta().name.clone().unwrap_or_default();
            let _ = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let client = self.client.clone();
        let name = self.name.clone();
        // Finalizers are gone once the operator processed deletions; leftovers (pipelines, and
        // the Secrets our finalizer keeps for Delete pipelines) are cleared, then the namespace goes.
        cleanup_in_drop(async move {
            clear_finalizers(&Api::<TweetPipeline>::namespaced(client.clone(), &name)).await;
            clear_finalizers(&Api::<Secret>::namespaced(client.clone(), &name)).await;
            let namespaces: Api<Namespace> = Api::all(client);
            let _ = namespaces.delete(&name, &DeleteParams::background()).await;
        });
    }
}

/// The operator binary as a child process, killed when dropped.
pub struct Operator {
    pub child: Child,
    pub ops_port: u16,
    pub identity: String,
    pub log: PathBuf,
    _diagnostics: Registration,
}

pub struct OperatorOptions<'a> {
    pub namespace: &'a str,
    pub identity: &'a str,
    pub leader_election: bool,
    pub lease_name: &'a str,
    /// Extra environment, overriding the test defaults (e.g. production requeue intervals).
    pub env: Vec<(&'static str, String)>,
}

impl Operator {
    pub fn start(options: OperatorOptions<'_>) -> Self {
        let p = platform();
        let ops_port = free_port();
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log = log_dir.join(format!("{}-{}.log", options.namespace, options.identity));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let image =
            |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_string());
        let child = Command::new(env!("CARGO_BIN_EXE_tweetpipe-operator"))
            .env("KUBECONFIG", &p.kubeconfig)
            .env("RUST_LOG", "info,tweetpipe_operator=debug")
            .env("TWEETPIPE_WATCH_NAMESPACE", options.namespace)
            // Only this test's pipelines, even if an operator is installed in the cluster too.
            .env("TWEETPIPE_INSTANCE", options.namespace)
            .env("POD_NAMESPACE", options.namespace)
            .env("POD_NAME", options.identity)
            .env("TWEETPIPE_OPS_ADDR", format!("127.0.0.1:{ops_port}"))
            .env(
                "TWEETPIPE_LEADER_ELECTION",
                options.leader_election.to_string(),
            )
            .env("TWEETPIPE_LEASE_NAME", options.lease_name)
            .env("TWEETPIPE_LEASE_SECONDS", "6")
            .env("TWEETPIPE_REQUEUE_SECONDS", "3")
            .env("TWEETPIPE_REQUEUE_NOT_READY_SECONDS", "2")
            .env("TWEETPIPE_KAFKA_TIMEOUT_SECONDS", "4")
            .env("TWEETPIPE_MYSQL_TIMEOUT_SECONDS", "4")
            .env(
                "TWEETPIPE_EXTRACTOR_IMAGE",
                image("E2E_EXTRACTOR_IMAGE", "docker.io/tweetpipe/extractor:dev"),
            )
            .env(
                "TWEETPIPE_TRANSFORMER_IMAGE",
                image(
                    "E2E_TRANSFORMER_IMAGE",
                    "docker.io/tweetpipe/transformer:dev",
                ),
            )
            .env("TWEETPIPE_IMAGE_PULL_POLICY", "Never")
            .env("TWEETPIPE_CLEANUP_DEADLINE_SECONDS", "30")
            .env("TWEETPIPE_SCALE_DOWN_WINDOW_SECONDS", "10")
            // `pipeline()` reads the test namespace's simulator Service; tokens may go there.
            .env(
                "TWEETPIPE_ALLOWED_API_HOSTS",
                allowed_api_hosts(options.namespace),
            )
            // e2e.rs's valid near miss names this repository's image (a format test).
            .env(
                "TWEETPIPE_ALLOWED_WORKER_IMAGES",
                "registry.local:5000/team/extractor:*",
            )
            .envs(options.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting the operator binary");
        Self::adopt(child, ops_port, options.identity, log)
    }

    /// An operator process started by the caller, shown in timeout diagnostics while it lives.
    pub fn adopt(child: Child, ops_port: u16, identity: &str, log: PathBuf) -> Self {
        Operator {
            _diagnostics: diagnostics::watch_process(
                &format!("operator {identity}"),
                child.id(),
                &log,
                Some(ops_port),
            ),
            child,
            ops_port,
            identity: identity.to_string(),
            log,
        }
    }

    /// One operator for a namespace, without leader election.
    pub fn for_namespace(namespace: &str) -> Self {
        Self::solo(namespace, "solo", Vec::new())
    }

    /// One operator for a namespace, without leader election, named `identity`, with `env` on
    /// top of the test defaults.
    pub fn solo(namespace: &str, identity: &str, env: Vec<(&'static str, String)>) -> Self {
        Self::start(OperatorOptions {
            namespace,
            identity,
            leader_election: false,
            lease_name: "unused",
            env,
        })
    }

    /// One operator, without leader election, for the namespaces `watch` lists (comma-separated,
    /// as the chart's `watchNamespaces`); the instance of `namespace`, the first of them.
    pub fn watching(namespace: &str, identity: &str, watch: String) -> Self {
        Self::solo(
            namespace,
            identity,
            vec![("TWEETPIPE_WATCH_NAMESPACE", watch)],
        )
    }

    /// One of the operators for a namespace that elect their leader through Lease `lease_name`.
    pub fn candidate(namespace: &str, identity: &str, lease_name: &str) -> Self {
        Self::start(OperatorOptions {
            namespace,
            identity,
            leader_election: true,
            lease_name,
            env: Vec::new(),
        })
    }

    /// SIGKILL: no cleanup, no Lease release.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The operator's `/metrics` text, if it answers.
    pub async fn metrics(&self) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.ops_port))
            .await
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await.ok()?;
        Some(body)
    }

    /// Value of the `tweetpipe_operator_leader` gauge.
    pub async fn is_leader(&self) -> Option<bool> {
        let text = self.metrics().await?;
        let line = text
            .lines()
            .find(|l| l.starts_with("tweetpipe_operator_leader "))?;
        Some(line.trim_end().ends_with(" 1"))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("operator {} log: {}", self.identity, self.log.display());
        }
    }
}

/// Creates or replaces an Opaque Secret.
pub async fn put_secret(client: &Client, namespace: &str, name: &str, key: &str, value: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {key: value}
    }))
    .unwrap();
    secrets
        .patch(
            name,
            &PatchParams::apply("tweetpipe-e2e").force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("secret");
}

/// The Secrets a test pipeline references.
pub async fn put_pipeline_secrets(client: &Client, namespace: &str) {
    put_secret(client, namespace, "x-token-a", "token", "dev-token").await;
    put_secret(client, namespace, "x-token-b", "bearer", "dev-token").await;
    put_secret(
        client,
        namespace,
        "mysql-admin",
        "url",
        &platform().mysql_url_pod,
    )
    .await;
    put_secret(
        client,
        namespace,
        "mysql-reporting",
        "password",
        "reporting-e2e",
    )
    .await;
}

/// The operator's allow-list in tests: the X API and `namespace`'s simulator Service, as
/// `pipeline()` names it (the chart's `allowedApiServices` spells the same three names).
pub fn allowed_api_hosts(namespace: &str) -> String {
    format!(
        "https://api.x.com,https://api.twitter.com,x-api-simulator.{namespace},x-api-simulator.{namespace}.svc,x-api-simulator.{namespace}.svc.cluster.local"
    )
}

/// The fixture pipeline, renamed into `ns` with its own topic and database.
pub fn pipeline(ns: &TestNamespace, name: &str) -> TweetPipeline {
    let mut tp: TweetPipeline =
        serde_yaml::from_str(include_str!("../../fixtures/pipeline.yaml")).expect("fixture");
    tp.metadata = kube::core::ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.name.clone()),
        labels: Some([(INSTANCE_LABEL.to_string(), ns.name.clone())].into()),
        ..Default::default()
    };
    tp.spec.kafka.bootstrap_servers = platform().kafka_bootstrap_pod.clone();
    tp.spec.kafka.topic = format!("e2e.{}.{name}", ns.name);
    tp.spec.kafka.partitions = 2;
    tp.spec.mysql.database = format!("{}_{}", ns.ident(), name.replace('-', "_"));
    // MySQL users are server-wide: one per pipeline.
    tp.spec
        .mysql
        .reporting_user
        .as_mut()
        .expect("fixture has one")
        .name = format!("r_{}", random_hex(10));
    tp.spec.source.base_url = format!("http://x-api-simulator.{}.svc:8080", ns.name);
    tp
}

/// MySQL over TLS only, verifying the server's identity against the CA in Secret `mysql-ca`
/// (key `ca.crt`).
pub fn verify_mysql_identity(tp: &mut TweetPipeline) {
    use tweetpipe_operator::crd::{MySqlTls, MySqlTlsMode, SecretKeyRef};
    tp.spec.mysql.tls = Some(MySqlTls {
        ca_secret: Some(SecretKeyRef {
            name: "mysql-ca".into(),
            key: "ca.crt".into(),
        }),
        mode: MySqlTlsMode::VerifyIdentity,
    });
}

pub async fn create(client: &Client, tp: &TweetPipeline) {
    let api: Api<TweetPipeline> =
        Api::namespaced(client.clone(), tp.metadata.namespace.as_deref().unwrap());
    api.create(&PostParams::default(), tp)
        .await
        .expect("creating the pipeline");
}

pub async fn patch_spec(client: &Client, ns: &str, name: &str, spec: serde_json::Value) {
    let api: Api<TweetPipeline> = Api::namespaced(client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "spec": spec })),
    )
    .await
    .expect("patching the pipeline");
}

pub async fn get(client: &Client, ns: &str, name: &str) -> Option<TweetPipeline> {
    Api::<TweetPipeline>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .ok()
        .flatten()
}

/// The condition `type_` of the pipeline, when the status has it for the current generation.
pub async fn condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
) -> Option<tweetpipe_operator::crd::Condition> {
    let tp = get(client, ns, name).await?;
    let status = tp.status?;
    if status.observed_generation != tp.metadata.generation {
        return None;
    }
    status.conditions.into_iter().find(|c| c.type_ == type_)
}

/// Waits for condition `type_` to have `status` (and `reason`, when given); returns it. On timeout
/// the failure shows the condition as last seen.
pub async fn wait_condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
) -> tweetpipe_operator::crd::Condition {
    wait_until(
        &format!("{ns}/{name} {type_}={status} {reason:?}"),
        || async {
            let Some(tp) = get(client, ns, name).await else {
                return Err(format!("no pipeline {ns}/{name}"));
            };
            let Some(status_now) = tp.status else {
                return Err("no status yet".into());
            };
            if status_now.observed_generation != tp.metadata.generation {
                return Err(format!(
                    "status of generation {:?}, the spec is at {:?}",
                    status_now.observed_generation, tp.metadata.generation
                ));
            }
            let found = status_now.conditions.into_iter().find(|c| c.type_ == type_);
            match found {
                Some(c) if c.status == status && reason.is_none_or(|r| c.reason == r) => Ok(c),
                Some(c) => Err(format!(
                    "{type_}={} reason {} ({}), last transition {}",
                    c.status, c.reason, c.message, c.last_transition_time
                )),
                None => Err(format!("no {type_} condition")),
            }
        },
    )
    .await
}

/// Asserts that `condition`'s message contains `phrase`; a failure says `why` and shows the
/// message.
pub fn assert_message_has(condition: &tweetpipe_operator::crd::Condition, phrase: &str, why: &str) {
    assert!(
        condition.message.contains(phrase),
        "{why}: {}",
        condition.message
    );
}

/// Waits for pipeline `ns/name` to be gone (its deletion done); `what` names the wait.
pub async fn wait_gone(what: &str, client: &Client, ns: &str, name: &str) {
    wait_for(what, || async {
        get(client, ns, name).await.is_none().then_some(())
    })
    .await;
}

/// Waits for pipeline `ns/name` to carry the operator's finalizer (its first reconcile has
/// started); `what` names the wait.
pub async fn wait_finalizer(what: &str, client: &Client, ns: &str, name: &str) {
    wait_for(what, || async {
        get(client, ns, name)
            .await?
            .finalizers()
            .contains(&FINALIZER.to_string())
            .then_some(())
    })
    .await;
}

/// The platform node's address (`TWEETPIPE_NODE_IP`; 127.0.0.1 when the env file has none).
pub fn platform_node_ip() -> String {
    platform()
        .vars
        .get("TWEETPIPE_NODE_IP")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// Labels `tp` for operator `instance` (an operator watching several namespaces is the instance
/// of the first, whose name it takes).
pub fn label_for_instance(tp: &mut TweetPipeline, instance: &str) {
    tp.metadata.labels = Some([(INSTANCE_LABEL.to_string(), instance.to_string())].into());
}

/// The pods of pipeline `ns/name`'s `component` (`extractor`, `transformer`).
pub async fn component_pods(client: &Client, ns: &str, name: &str, component: &str) -> Vec<Pod> {
    let selector = format!("tweetpipe.io/pipeline={name},app.kubernetes.io/component={component}");
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap_or_else(|e| panic!("the pods of {ns}/{name}'s {component}: {e}"))
        .items
}

/// Topics that exist on the platform's Kafka, among `names`.
pub fn existing_topics(names: &[String]) -> Vec<String> {
    let metadata = admin(&platform().kafka_bootstrap)
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("Kafka metadata");
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && names.contains(&t.name().to_string()))
        .map(|t| t.name().to_string())
        .collect()
}

/// A topic config's value as the platform's Kafka reports it.
pub async fn topic_config(topic: &str, key: &str) -> Option<String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let described = admin(&platform().kafka_bootstrap)
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .ok()?;
    let resource = described.into_iter().next()?.ok()?;
    resource.get(key).and_then(|entry| entry.value.clone())
}

/// Whether `user` logs in to the platform's MariaDB with `password` (database `database`).
pub async fn mysql_login_works(user: &str, password: &str, database: &str) -> bool {
    use std::str::FromStr;
    let options = sqlx::mysql::MySqlConnectOptions::from_str(&platform().mysql_url)
        .expect("platform MySQL URL")
        .username(user)
        .password(password)
        .database(database);
    match sqlx::mysql::MySqlConnection::connect_with(&options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            true
        }
        Err(_) => false,
    }
}

/// Partitions of a topic.
pub fn topic_partitions(name: &str) -> Option<usize> {
    let metadata = admin(&platform().kafka_bootstrap)
        .inner()
        .fetch_metadata(Some(name), Duration::from_secs(10))
        .ok()?;
    metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().len())
}

/// Whether the database exists on the platform's MariaDB.
pub async fn database_exists(database: &str) -> bool {
    let mut conn = sqlx::mysql::MySqlConnection::connect(&platform().mysql_url)
        .await
        .expect("MariaDB");
    let found: Option<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(database)
    .fetch_optional(&mut conn)
    .await
    .expect("query");
    found.is_some()
}

/// The X API simulator as a Deployment and Service `x-api-simulator` in the test namespace.
pub async fn deploy_simulator(client: &kube::Client, ns: &str) {
    let image = std::env::var("E2E_SIMULATOR_IMAGE")
        .unwrap_or_else(|_| "docker.io/tweetpipe/xapi-simulator:dev".into());
    let labels = serde_json::json!({"app": "x-api-simulator"});
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x-api-simulator", "namespace": ns},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    // Scraped like the chart's pods (dev/platform/observe.sh).
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": "8080",
                        "prometheus.io/path": "/metrics"
                    }
                },
                "spec": {
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
                    "containers": [{
                        "name": "simulator", "image": image, "imagePullPolicy": "Never",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
                    }]
                }
            }
        }
    }))
    .unwrap();
    let service: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "x-api-simulator", "namespace": ns},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}
    }))
    .unwrap();
    let params = PatchParams::apply("tweetpipe-e2e").force();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .patch("x-api-simulator", &params, &Patch::Apply(&deployment))
        .await
        .expect("simulator");
    Api::<Service>::namespaced(client.clone(), ns)
        .patch("x-api-simulator", &params, &Patch::Apply(&service))
        .await
        .expect("simulator");
}
