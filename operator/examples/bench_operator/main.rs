//! Operator benchmark (`bench/operator.sh`, issue 8): the operator at scale and at rest.
//!
//! - ACTIVE (100) active pipelines in one namespace, each with its own topic and database
//!   (`deletionPolicy: Delete`). A `pods: 0` ResourceQuota keeps their pods from ever being
//!   created (2 × ACTIVE pods do not fit a 2-core node, and pod start-up would measure the
//!   kubelet): the StatefulSets and Deployments exist, nothing runs. So "converged" is all but pod
//!   readiness: status for the current generation, KafkaReady, MySQLReady and SecretsResolved
//!   True, and Ready False only for `WorkloadsNotReady`. Once a pipeline's topics exist the bench
//!   writes one checkpoint record per second to its `<topic>.checkpoints`, as its extractor would.
//! - SUSPENDED (1000) suspended pipelines in a second namespace, sharing one topic and one
//!   database (`deletionPolicy: Retain`, no reporting user) to keep Kafka and MariaDB sane. Since
//!   topics and databases are owned, the first to claim them owns them and the others are refused
//!   (`TopicOwnedByAnotherPipeline`, `DatabaseOwnedByAnotherPipeline`), which is their converged
//!   state; each of their reconciles reads the ownership records again (refusals are not cached).
//! - Then REST_SECONDS (120) at rest, after SETTLE_SECONDS (10): reconciles per pipeline per
//!   minute, reconcile p50/p99 and phase p99s over the window only (histogram differences),
//!   errors, RSS, and the MySQL connections the operator holds (it gets an admin account of its
//!   own, so they are counted by user name). Then the active pipelines are deleted and the time
//!   until they are gone (topics, databases and accounts dropped by the operator) reported.
//!
//! The operator is the real binary (OPERATOR_BIN, default `target/release/tweetpipe-operator`)
//! as a child process with production defaults; only its instance, namespace, ops address and
//! leader election (off) are set. Its log goes to `target/bench/operator-<suffix>.log`.
//! Everything created is removed at the end, also after a failure or Ctrl-C.

mod checkpoints;
mod cleanup;
mod metrics;
mod pipelines;
mod report;
mod setup;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::DeleteParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;
use tokio::process::{Child, Command};
use tweetpipe_operator::crd::TweetPipeline;
use tweetpipe_operator::labels::{INSTANCE_LABEL, writer_account_name};
use tweetpipe_testkit::Platform;

use crate::checkpoints::Feeder;
use crate::pipelines::Names;
use crate::report::{Params, PhaseSummary, Results};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Watch events (status writes, mostly) seen per namespace.
#[derive(Debug, Default)]
struct Writes {
    active: AtomicU64,
    suspended: AtomicU64,
}

/// The bench's own cache of its pipelines, fed by one watch.
fn watch_pipelines(client: &Client, names: &Names) -> (Store<TweetPipeline>, Arc<Writes>) {
    let (reader, writer) = reflector::store();
    let writes = Arc::new(Writes::default());
    let config = watcher::Config::default().labels(&format!("{INSTANCE_LABEL}={}", names.instance));
    let stream = watcher(Api::<TweetPipeline>::all(client.clone()), config)
        .default_backoff()
        .modify(|tp| tp.managed_fields_mut().clear())
        .reflect(writer);
    let counts = writes.clone();
    let active_namespace = names.active_namespace.clone();
    tokio::spawn(stream.for_each(move |event| {
        // Only changes after the initial list: Apply, not InitApply.
        if let Ok(watcher::Event::Apply(tp)) = &event {
            let counter = if tp.namespace().as_deref() == Some(active_namespace.as_str()) {
                &counts.active
            } else {
                &counts.suspended
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        async {}
    }));
    (reader, writes)
}

fn in_namespace(store: &Store<TweetPipeline>, namespace: &str) -> Vec<Arc<TweetPipeline>> {
    store
        .state()
        .into_iter()
        .filter(|tp| tp.namespace().as_deref() == Some(namespace))
        .collect()
}

/// Waits until `count` pipelines of `namespace` satisfy `converged`; returns when each first did
/// (relative to `started`). `on_each` sees every pipeline at every poll.
async fn wait_converged(
    store: &Store<TweetPipeline>,
    namespace: &str,
    count: usize,
    started: Instant,
    limit: Duration,
    converged: fn(&TweetPipeline) -> bool,
    on_each: impl Fn(&TweetPipeline),
) -> anyhow::Result<Vec<Duration>> {
    let mut first_seen: BTreeMap<String, Duration> = BTreeMap::new();
    loop {
        for tp in in_namespace(store, namespace) {
            on_each(&tp);
            if converged(&tp) {
                first_seen
                    .entry(tp.name_any())
                    .or_insert_with(|| started.elapsed());
            }
        }
        if first_seen.len() >= count {
            let mut times: Vec<Duration> = first_seen.into_values().collect();
            times.sort();
            return Ok(times);
        }
        if started.elapsed() > limit {
            // What the stragglers showed last, so the failure names its cause.
            let stragglers: Vec<String> = in_namespace(store, namespace)
                .into_iter()
                .filter(|tp| !first_seen.contains_key(&tp.name_any()))
                .take(5)
                .map(|tp| {
                    let conditions: Vec<String> = tp
                        .status
                        .iter()
                        .flat_map(|s| &s.conditions)
                        .filter(|c| c.status != "True")
                        .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
                        .collect();
                    format!("{} [{}]", tp.name_any(), conditions.join("; "))
                })
                .collect();
            anyhow::bail!(
                "only {}/{count} pipelines in {namespace} converged within {} s; not converged (first 5, conditions not True): {}",
                first_seen.len(),
                limit.as_secs(),
                stragglers.join(" | ")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Operator {
    child: Child,
    pid: u32,
    ops_port: u16,
    log: PathBuf,
    binary: String,
}

async fn start_operator(platform: &Platform, names: &Names) -> anyhow::Result<Operator> {
    let root = workspace_root();
    let binary = std::env::var("OPERATOR_BIN").unwrap_or_else(|_| {
        root.join("target/release/tweetpipe-operator")
            .display()
            .to_string()
    });
    let log = root.join(format!("target/bench/operator-{}.log", names.suffix));
    std::fs::create_dir_all(root.join("target/bench"))?;
    let out = std::fs::File::create(&log)?;
    let ops_port = 18_000 + (std::process::id() % 1000) as u16;
    let mut command = Command::new(&binary);
    command
        .env("KUBECONFIG", &platform.kubeconfig)
        .env("TWEETPIPE_INSTANCE", &names.instance)
        .env("POD_NAMESPACE", &names.active_namespace)
        .env("TWEETPIPE_LEADER_ELECTION", "false")
        .env("TWEETPIPE_OPS_ADDR", format!("127.0.0.1:{ops_port}"))
        // The fixture's baseUrl (its pods never start, but a refused host would not converge).
        .env(
            "TWEETPIPE_ALLOWED_API_HOSTS",
            "x-api-simulator.tweetpipe-system:8080",
        )
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .kill_on_drop(true);
    if let Ok(filter) = std::env::var("OPERATOR_LOG") {
        command.env("RUST_LOG", filter);
    }
    let child = command.spawn().map_err(|e| {
        anyhow::anyhow!("starting {binary}: {e} (bench/operator.sh builds it; or set OPERATOR_BIN)")
    })?;
    let pid = child.id().unwrap_or(0);
    let mut operator = Operator {
        child,
        pid,
        ops_port,
        log,
        binary,
    };
    for _ in 0..60 {
        if let Ok(Some(status)) = operator.child.try_wait() {
            anyhow::bail!(
                "the operator exited at start ({status}); see {}",
                operator.log.display()
            );
        }
        if metrics::scrape(ops_port)
            .await
            .sum(metrics::RECONCILES, &[])
            >= 0.0
            && tokio::net::TcpStream::connect(("127.0.0.1", ops_port))
                .await
                .is_ok()
        {
            return Ok(operator);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("the operator's ops address 127.0.0.1:{ops_port} did not answer within 30 s")
}

/// Every writer account and database a bench pipeline may have caused.
fn bench_accounts_and_databases(
    names: &Names,
    params: &Params,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut accounts = BTreeSet::new();
    let mut databases = BTreeSet::from([names.shared_database()]);
    for i in 0..params.active {
        let tp = pipelines::active(names, i, "");
        accounts.insert(writer_account_name(&tp));
        databases.insert(tp.spec.mysql.database.clone());
    }
    for i in 0..params.suspended {
        accounts.insert(writer_account_name(&pipelines::suspended(names, i, "")));
    }
    (accounts, databases)
}

/// What the operator left of the active pipelines after deleting them.
async fn left_behind(
    platform: &Platform,
    admin: &MySqlPool,
    names: &Names,
    params: &Params,
) -> String {
    let active_topics = format!("{}a", names.topic_prefix);
    let active_databases = format!("{}a", names.database_prefix);
    let topics = cleanup::topics_with_prefix(&platform.kafka_bootstrap, &active_topics)
        .await
        .map_or_else(|e| format!("? ({e})"), |t| t.len().to_string());
    let databases = cleanup::databases_with_prefix(admin, &active_databases)
        .await
        .map_or_else(|e| format!("? ({e})"), |d| d.len().to_string());
    let active_accounts: BTreeSet<String> = (0..params.active)
        .map(|i| writer_account_name(&pipelines::active(names, i, "")))
        .collect();
    let accounts = cleanup::existing_accounts(admin, &active_accounts)
        .await
        .map_or_else(|e| format!("? ({e})"), |a| a.len().to_string());
    format!("{topics} topics, {databases} databases, {accounts} writer accounts")
}

async fn run(
    params: &Params,
    platform: &Platform,
    client: &Client,
    admin: &MySqlPool,
    names: &Names,
    operator_slot: &mut Option<Operator>,
) -> anyhow::Result<Results> {
    let mut results = Results::default();
    setup::apply_crd(client).await?;
    let operator_url =
        setup::create_operator_account(admin, &names.operator_user, &platform.mysql_url_pod)
            .await?;
    for namespace in names.namespaces() {
        setup::create_namespace(client, namespace).await?;
        setup::create_secrets(client, namespace, &operator_url).await?;
    }
    setup::forbid_pods(client, &names.active_namespace).await?;

    let (store, writes) = watch_pipelines(client, names);
    store.wait_until_ready().await?;
    let operator = operator_slot.insert(start_operator(platform, names).await?);
    let (pid, ops_port) = (operator.pid, operator.ops_port);
    println!(
        "operator {} (pid {pid}), log {}",
        operator.binary,
        operator.log.display()
    );
    results.rss_idle_kib = kib(pid, "VmRSS:");

    let feeder = Arc::new(Feeder::default());
    let feeding = tokio::spawn(checkpoints::run(
        feeder.clone(),
        platform.kafka_bootstrap.clone(),
    ));
    let result = async {
        // Active pipelines.
        let converge_before = metrics::scrape(ops_port).await;
        let (started, created) =
            pipelines::create_all(client, &names.active_namespace, params.active, |i| {
                pipelines::active(names, i, &platform.kafka_bootstrap_pod)
            })
            .await?;
        results.active_created = created;
        let feed = |tp: &TweetPipeline| {
            let kafka_ready = tp.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "KafkaReady" && c.status == "True")
            });
            if kafka_ready {
                feeder.add(&tp.spec.kafka.topic);
            }
        };
        let times = wait_converged(
            &store,
            &names.active_namespace,
            params.active,
            started,
            params.converge_timeout,
            pipelines::active_converged,
            feed,
        )
        .await?;
        let converge_after = metrics::scrape(ops_port).await;
        results.converge_reconciles = converge_after.sum(metrics::RECONCILES, &[])
            - converge_before.sum(metrics::RECONCILES, &[]);
        results.converge_phases = phase_summaries(&converge_before, &converge_after);
        results.active_converged = times.last().copied().unwrap_or_default();
        results.active_converged_p50 = times.get(times.len() / 2).copied().unwrap_or_default();
        println!(
            "{} active converged (all but pod readiness) after {:.1} s",
            params.active,
            results.active_converged.as_secs_f64()
        );

        // Suspended pipelines.
        let (started, created) =
            pipelines::create_all(client, &names.suspended_namespace, params.suspended, |i| {
                pipelines::suspended(names, i, &platform.kafka_bootstrap_pod)
            })
            .await?;
        results.suspended_created = created;
        let times = wait_converged(
            &store,
            &names.suspended_namespace,
            params.suspended,
            started,
            params.converge_timeout,
            pipelines::suspended_converged,
            |_| {},
        )
        .await?;
        results.suspended_converged = times.last().copied().unwrap_or_default();
        println!(
            "{} suspended converged after {:.1} s; settling {} s, then {} s at rest",
            params.suspended,
            results.suspended_converged.as_secs_f64(),
            params.settle.as_secs(),
            params.rest.as_secs()
        );
        tokio::time::sleep(params.settle).await;

        // At rest.
        let before = metrics::scrape(ops_port).await;
        let writes_before = (
            writes.active.load(Ordering::Relaxed),
            writes.suspended.load(Ordering::Relaxed),
        );
        let written_before = feeder.written.load(Ordering::Relaxed);
        let window_started = Instant::now();
        while window_started.elapsed() < params.rest {
            let connections = setup::connections_of(admin, &names.operator_user).await?;
            results.mysql_connections_max = results.mysql_connections_max.max(connections);
            let left = params.rest.saturating_sub(window_started.elapsed());
            tokio::time::sleep(left.min(Duration::from_secs(5))).await;
        }
        let after = metrics::scrape(ops_port).await;
        results.window = window_started.elapsed();
        results.mysql_connections_last = setup::connections_of(admin, &names.operator_user).await?;
        results.mysql_connections_max = results
            .mysql_connections_max
            .max(results.mysql_connections_last);
        results.rss_kib = kib(pid, "VmRSS:");
        results.hwm_kib = kib(pid, "VmHWM:");
        summarize_window(params, &before, &after, &mut results);
        let minutes = results.window.as_secs_f64() / 60.0;
        let per_minute =
            |writes: u64, pipelines: usize| writes as f64 / pipelines.max(1) as f64 / minutes;
        results.status_writes_active_per_minute = per_minute(
            writes.active.load(Ordering::Relaxed) - writes_before.0,
            params.active,
        );
        results.status_writes_suspended_per_minute = per_minute(
            writes.suspended.load(Ordering::Relaxed) - writes_before.1,
            params.suspended,
        );
        results.checkpoints_written = feeder.written.load(Ordering::Relaxed) - written_before;
        results.checkpoints_failed = feeder.failed.load(Ordering::Relaxed);
        println!(
            "rest window done: {} checkpoint topics fed, {} records in the window",
            feeder.len(),
            results.checkpoints_written
        );

        // Deletion of the active pipelines (the operator drops their topics, databases, accounts).
        let api: Api<TweetPipeline> = Api::namespaced(client.clone(), &names.active_namespace);
        let deleting = Instant::now();
        futures::stream::iter(0..params.active)
            .map(|i| {
                let api = api.clone();
                async move {
                    api.delete(&Names::active_name(i), &DeleteParams::default())
                        .await
                        .map(drop)
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<kube::Result<()>>()?;
        while !in_namespace(&store, &names.active_namespace).is_empty() {
            if deleting.elapsed() > params.converge_timeout {
                anyhow::bail!(
                    "{} active pipelines still there {} s after their deletion",
                    in_namespace(&store, &names.active_namespace).len(),
                    params.converge_timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        results.active_deleted = deleting.elapsed();
        results.left_after_delete = left_behind(platform, admin, names, params).await;
        anyhow::Ok(())
    }
    .await;
    feeding.abort();
    result.map(|()| results)
}

fn summarize_window(
    params: &Params,
    before: &metrics::Scrape,
    after: &metrics::Scrape,
    results: &mut Results,
) {
    use metrics::{DURATION, ERRORS, RECONCILES, quantile, window};
    results.reconciles = after.sum(RECONCILES, &[]) - before.sum(RECONCILES, &[]);
    let minutes = results.window.as_secs_f64() / 60.0;
    results.reconciles_per_pipeline_minute =
        results.reconciles / params.pipelines().max(1) as f64 / minutes;
    let durations = window(
        &before.buckets(DURATION, &[]),
        &after.buckets(DURATION, &[]),
    );
    results.p50 = quantile(&durations, 0.5);
    results.p99 = quantile(&durations, 0.99);
    results.phases = phase_summaries(before, after);
    results.errors = after
        .label_values(ERRORS, "reason")
        .into_iter()
        .filter_map(|reason| {
            let filter = [("reason", reason.as_str())];
            let delta = after.sum(ERRORS, &filter) - before.sum(ERRORS, &filter);
            (delta > 0.0).then_some((reason, delta))
        })
        .collect();
}

/// Each reconcile phase between two scrapes: p50, p99 and the seconds spent in it.
fn phase_summaries(before: &metrics::Scrape, after: &metrics::Scrape) -> Vec<PhaseSummary> {
    use metrics::{PHASES, quantile, window};
    after
        .label_values(PHASES, "phase")
        .into_iter()
        .map(|phase| {
            let filter = [("phase", phase.as_str())];
            let buckets = window(
                &before.buckets(PHASES, &filter),
                &after.buckets(PHASES, &filter),
            );
            PhaseSummary {
                p50: quantile(&buckets, 0.5),
                p99: quantile(&buckets, 0.99),
                total_seconds: after.total(PHASES, &filter) - before.total(PHASES, &filter),
                phase,
            }
        })
        .collect()
}

/// Warnings and errors in the operator's JSON log, by message.
fn log_summary(log: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return vec![format!("operator log {} unreadable", log.display())];
    };
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            if !line.trim().is_empty() {
                *counts
                    .entry(("RAW".into(), line.chars().take(160).collect()))
                    .or_default() += 1;
            }
            continue;
        };
        let level = value["level"].as_str().unwrap_or_default();
        if level == "WARN" || level == "ERROR" {
            let message = value["message"].as_str().unwrap_or_default();
            let error = value["error"].as_str().unwrap_or_default();
            // Digits become '#', so repeats that differ only by offsets or ids group together.
            let detail: String =
                format!("{message} {}", error.chars().take(160).collect::<String>())
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect();
            *counts.entry((level.to_string(), detail)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|((level, message), n)| format!("{n:>6} × {level} {message}"))
        .collect()
}

async fn stop(operator: Option<Operator>) -> Option<PathBuf> {
    let mut operator = operator?;
    let _ = operator.child.kill().await;
    Some(operator.log)
}

async fn clean_up(
    client: &Client,
    platform: &Platform,
    admin: &MySqlPool,
    names: &Names,
    params: &Params,
) {
    println!(
        "cleaning up (namespaces, topics, databases, accounts of {})",
        names.suffix
    );
    let mut problems = cleanup::Problems::new();
    cleanup::namespaces(client, names, &mut problems).await;
    cleanup::topics(&platform.kafka_bootstrap, names, &mut problems).await;
    let (accounts, databases) = bench_accounts_and_databases(names, params);
    cleanup::mysql(admin, names, &databases, &accounts, &mut problems).await;
    cleanup::wait_for_namespaces(client, names, Duration::from_secs(300), &mut problems).await;
    if problems.is_empty() {
        println!("cleanup complete");
    }
    for problem in problems {
        eprintln!("cleanup: {problem}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let params = Params::from_env();
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka().require_mysql();
    let client = platform.kube_client().await;
    let admin = MySqlPoolOptions::new()
        .max_connections(2)
        .connect(&platform.mysql_url)
        .await?;
    let names = Names::new();
    println!(
        "operator bench {}: ACTIVE={} SUSPENDED={} REST_SECONDS={}",
        names.suffix,
        params.active,
        params.suspended,
        params.rest.as_secs()
    );
    let mut operator = None;
    let outcome = tokio::select! {
        outcome = run(&params, platform, &client, &admin, &names, &mut operator) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let binary = operator
        .as_ref()
        .map(|o| o.binary.clone())
        .unwrap_or_default();
    let log = stop(operator).await;
    clean_up(&client, platform, &admin, &names, &params).await;
    if let Some(log) = &log {
        let summary = log_summary(log);
        println!(
            "operator log {}: {} kinds of warning/error",
            log.display(),
            summary.len()
        );
        for line in summary.iter().take(15) {
            println!("{line}");
        }
    }
    let results = outcome?;
    report::print(&params, &results);
    let path = std::env::var("BENCH_REPORT").map_or_else(
        |_| workspace_root().join("target/bench/operator.md"),
        PathBuf::from,
    );
    report::append_markdown(&path, &params, &results, &binary)?;
    println!("\nappended to {}", path.display());
    Ok(())
}
