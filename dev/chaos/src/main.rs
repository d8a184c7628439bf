//! `make chaos`: a seeded system run on the local platform, through the operator.
//!
//! Installs the operator chart and the X API simulator in a namespace of its own, creates a
//! pipeline (5 queries, 3 of them on the filtered stream, 2 tokens), then for `CHAOS_MINUTES`
//! follows a schedule drawn from `CHAOS_SEED`: pod kills, budget and `maxReplicas` changes,
//! suspensions, Kafka and MariaDB restarts, search API faults and stream faults. Then it lets
//! the pipeline drain and compares the simulator's ledger with MySQL, the roll-ups with a
//! recount, and the checkpoints' `month_posts` with the ledger.
//! The report goes to stdout and `target/chaos/report.md`; the exit status is 1 on any failure.

mod cluster;
mod error;
mod observe;
mod pipeline;
mod schedule;
mod settings;
mod sim;
mod verdict;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use tweetpipe_common::contract::names;
use tweetpipe_common::contract::topics::checkpoint_topic;

use cluster::Cluster;
use error::ChaosError;
use schedule::{Action, ActiveFaults, Step};
use settings::Settings;
use sim::Simulator;

fn log(message: impl std::fmt::Display) {
    println!(
        "{} [chaos] {message}",
        chrono::Utc::now().format("%H:%M:%S")
    );
}

#[tokio::main]
async fn main() {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    log(format!(
        "seed {} (replay with CHAOS_SEED={}), {:.1} min of faults, Kafka/MariaDB restarts {}",
        settings.seed,
        settings.seed,
        settings.chaos.as_secs_f64() / 60.0,
        if settings.restart_services {
            "on"
        } else {
            "off"
        }
    ));
    match run(&settings).await {
        Ok(true) => log("PASS"),
        Ok(false) => {
            log("FAIL");
            std::process::exit(1);
        }
        Err(e) => {
            log(format!("run aborted: {e}"));
            std::process::exit(1);
        }
    }
}

/// Sets up, runs and judges; cleans up (unless kept) whatever the outcome.
async fn run(settings: &Settings) -> Result<bool, ChaosError> {
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka().require_mysql();
    let client = platform.kube_client().await;
    // As a user of the previous release wrote it: the only version its CRD serves.
    let pipeline_version = if settings.upgrade_from.is_some() {
        "v1alpha1"
    } else {
        "v1beta1"
    };
    let cluster = Cluster::new(
        client,
        &settings.namespace,
        &platform.kubeconfig,
        pipeline_version,
        &settings.image_tag,
        &settings.simulator_image,
    );
    let run_id = format!(
        "s{}_{}",
        settings.seed,
        chrono::Utc::now().timestamp() % 100_000
    );
    let names = pipeline::Names::for_run(&run_id);
    let outcome = chaos_and_verdict(settings, platform, &cluster, &names).await;
    if settings.keep {
        log(format!(
            "CHAOS_KEEP=1: namespace {}, topic {}, database {} left in place",
            settings.namespace, names.topic, names.database
        ));
    } else {
        log("cleaning up (pipeline with deletionPolicy Delete, chart, namespace)");
        if let Err(e) = cluster.clean_up().await {
            log(format!("cleanup incomplete: {e}"));
        }
    }
    outcome
}

async fn chaos_and_verdict(
    settings: &Settings,
    platform: &tweetpipe_testkit::Platform,
    cluster: &Cluster,
    names: &pipeline::Names,
) -> Result<bool, ChaosError> {
    let started_at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let previous_chart = settings
        .upgrade_from
        .as_ref()
        .map(|dir| dir.join("chart").display().to_string());
    let release = match &previous_chart {
        Some(chart) => {
            if !std::path::Path::new(chart).join("Chart.yaml").exists() {
                return Err(ChaosError::Invalid(format!(
                    "CHAOS_UPGRADE_FROM: no chart at {chart}; build the previous release with dev/upgrade/previous.sh images"
                )));
            }
            cluster::Release {
                chart: chart.clone(),
                tag: PREVIOUS_TAG.to_string(),
            }
        }
        None => cluster.current(),
    };
    log(format!(
        "operator chart {} (images :{}) → namespace {}",
        release.chart, release.tag, settings.namespace
    ));
    cluster.install_operator(&release).await?;
    cluster.put_secrets(&platform.mysql_url_pod).await?;
    // Publication runs through the chaos phase plus set-up time, then stops so the drain ends.
    let max_posts = pipeline::max_posts(settings.chaos.as_secs(), 120);
    let address = cluster
        .deploy_simulator(&pipeline::simulator_config(settings.seed, max_posts))
        .await?;
    let sim = Simulator::new(&address)?;
    cluster::wait(
        "the simulator's admin API",
        Duration::from_secs(60),
        || async { sim.ready().await.then_some(()) },
    )
    .await?;
    log(format!(
        "simulator at {address} ({max_posts} posts to publish)"
    ));
    // On the previous release (no stream) every query starts as search; the stream queries
    // move to the stream once the upgrade is done.
    let mut manifest = pipeline::manifest(
        &settings.namespace,
        &cluster.release,
        names,
        &platform.kafka_bootstrap_pod,
        settings.upgrade_from.is_none(),
    );
    manifest["apiVersion"] = json!(format!("tweetpipe.io/{}", cluster.pipeline_version()));
    cluster.create_pipeline(&manifest).await?;
    cluster.wait_ready(Duration::from_secs(300)).await?;
    log(format!(
        "pipeline Ready (topic {}, database {})",
        names.topic, names.database
    ));

    let (faults, upgrade) = run_schedule(settings, cluster, &sim).await;

    log(
        "faults stop: API and stream faults cleared, pipeline resumed at full budget and 4 replicas",
    );
    sim.put_faults(&json!({})).await?;
    cluster
        .patch_spec(json!({"suspend": false,
            "source": {"limits": {"requestsPerWindow": pipeline::SIM_REQUESTS_PER_WINDOW}},
            "extractor": {"maxReplicas": 4}}))
        .await?;
    let drain = drain(settings, platform, cluster, &sim, names, max_posts).await;
    match &drain {
        Ok(s) => log(format!("drained in {s} s")),
        Err(e) => log(format!("drain did not finish: {e}")),
    }

    let ledger = sim.ledger().await?;
    let stats = sim.stats().await?;
    let mut published = BTreeMap::new();
    for q in pipeline::QUERIES {
        published.insert(
            q.name.to_string(),
            sim.matching(q.query)
                .await?
                .into_iter()
                .collect::<HashSet<_>>(),
        );
    }
    let mut db = observe::Database::connect(&platform.mysql_url, &names.database).await?;
    let stored = db.stored().await?;
    let rollups = db.check_rollups().await?;
    let (committed, checkpoints, stream_starts) =
        read_kafka(&platform.kafka_bootstrap, &names.topic).await?;
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let verdict = verdict::judge(&verdict::Observed {
        seed: settings.seed,
        minutes: settings.chaos.as_secs_f64() / 60.0,
        restart_services: settings.restart_services,
        started_at,
        faults: &faults,
        queries: &pipeline::QUERIES,
        pipeline: &names::pipeline_id(&settings.namespace, pipeline::PIPELINE),
        ledger: &ledger,
        stats: &stats,
        published: &published,
        stored: &stored,
        copies: &committed.copies,
        rollups: &rollups,
        checkpoints: &checkpoints,
        stream_starts: &stream_starts,
        month: &month,
        drain: drain.map_err(|e| e.to_string()),
        upgrade: upgrade.as_ref(),
    });
    println!("\n{}", verdict.report);
    if let Some(dir) = settings.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&settings.report, &verdict.report)?;
    log(format!(
        "report written to {}: {} missing, {} duplicated, {} rate-limit 429s",
        settings.report.display(),
        verdict
            .queries
            .iter()
            .map(|q| q.missing + q.uncollected)
            .sum::<usize>(),
        verdict.queries.iter().map(|q| q.duplicated).sum::<usize>(),
        verdict.rate_limited
    ));
    Ok(verdict.failures.is_empty())
}

/// Tag of the previous release's images (`dev/upgrade/previous.sh images`).
const PREVIOUS_TAG: &str = "previous";
/// Bound on the workers' roll to the new images after the upgrade.
const UPGRADE_ROLL_BOUND: Duration = Duration::from_secs(300);

/// Upgrades the operator to this tree, waits until every worker runs its images, then moves the
/// stream queries to `delivery: Stream`: what was done, or why it failed.
async fn upgrade(cluster: &Cluster) -> Result<String, String> {
    let started = tokio::time::Instant::now();
    cluster
        .upgrade_operator()
        .await
        .map_err(|e| format!("CRD apply or helm upgrade failed: {e}"))?;
    let operator_seconds = started.elapsed().as_secs();
    let mut last = Vec::new();
    while started.elapsed() < UPGRADE_ROLL_BOUND {
        match cluster.workers_not_on(&cluster.image_tag).await {
            Ok(stale) if stale.is_empty() => {
                let rolled = started.elapsed().as_secs();
                // What a user does next: adopt the stream for some queries (a config change
                // the extractors roll for, under the same faults).
                cluster
                    .patch_spec(pipeline::stream_patch())
                    .await
                    .map_err(|e| format!("moving queries to the stream failed: {e}"))?;
                return Ok(format!(
                    "CRD applied and operator upgraded in {operator_seconds} s; every worker on :{} after {rolled} s; then {} queries moved to delivery Stream",
                    cluster.image_tag,
                    pipeline::QUERIES
                        .iter()
                        .filter(|q| q.delivery == pipeline::Delivery::Stream)
                        .count()
                ));
            }
            Ok(stale) => last = stale,
            Err(e) => last = vec![format!("listing the workers failed: {e}")],
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Err(format!(
        "workers still not on :{} {} s after the upgrade: {}",
        cluster.image_tag,
        UPGRADE_ROLL_BOUND.as_secs(),
        last.join("; ")
    ))
}

/// Follows the schedule, with the upgrade halfway when the run starts from the previous
/// release; returns per kind of fault (done, skipped or failed), and the upgrade's outcome.
async fn run_schedule(
    settings: &Settings,
    cluster: &Cluster,
    sim: &Simulator,
) -> (
    BTreeMap<&'static str, (u32, u32)>,
    Option<Result<String, String>>,
) {
    let steps = schedule::draw(settings.seed, settings.chaos);
    log(format!(
        "{} steps over {} s",
        steps.len(),
        settings.chaos.as_secs()
    ));
    // Which pod a kill picks is seeded too (from the pods running at that moment).
    let mut pods_rng = StdRng::seed_from_u64(settings.seed ^ 0x5eed_5eed);
    let start = tokio::time::Instant::now();
    let mut counts: BTreeMap<&'static str, (u32, u32)> = BTreeMap::new();
    let halfway = settings.chaos / 2;
    let mut pending_upgrade = settings.upgrade_from.is_some();
    let mut upgraded = None;
    let mut active = ActiveFaults::default();
    let upgrade_now = || async {
        tokio::time::sleep_until(start + halfway).await;
        log(format!(
            "t+{:>4}s upgrade: this tree's CRD, then helm upgrade to its chart and images",
            halfway.as_secs()
        ));
        let outcome = upgrade(cluster).await;
        match &outcome {
            Ok(detail) => log(format!("upgrade: {detail}")),
            Err(why) => log(format!("upgrade FAILED: {why}")),
        }
        outcome
    };
    for Step { at, action } in steps {
        if pending_upgrade && at >= halfway {
            pending_upgrade = false;
            upgraded = Some(upgrade_now().await);
        }
        tokio::time::sleep_until(start + at).await;
        let outcome = perform(settings, cluster, sim, &action, &mut pods_rng, &mut active).await;
        let entry = counts.entry(action.kind()).or_default();
        match outcome {
            Ok(Some(detail)) => {
                entry.0 += 1;
                log(format!(
                    "t+{:>4}s {}: {detail}",
                    at.as_secs(),
                    action.kind()
                ));
            }
            Ok(None) => {
                entry.1 += 1;
                log(format!("t+{:>4}s {}: skipped", at.as_secs(), action.kind()));
            }
            Err(e) => {
                entry.1 += 1;
                log(format!(
                    "t+{:>4}s {}: failed: {e}",
                    at.as_secs(),
                    action.kind()
                ));
            }
        }
    }
    if pending_upgrade {
        upgraded = Some(upgrade_now().await);
    }
    tokio::time::sleep_until(start + settings.chaos).await;
    (counts, upgraded)
}

/// Carries out one step: `Some(what was done)`, or `None` when skipped. `active` is the fault
/// configuration in force (the simulator takes it whole: an API and a stream fault together).
async fn perform(
    settings: &Settings,
    cluster: &Cluster,
    sim: &Simulator,
    action: &Action,
    pods_rng: &mut StdRng,
    active: &mut ActiveFaults,
) -> Result<Option<String>, ChaosError> {
    match action {
        Action::KillPod(role) => cluster.kill_pod(*role, pods_rng).await,
        Action::SetBudget(requests) => {
            cluster
                .patch_spec(json!({"source": {"limits": {"requestsPerWindow": requests}}}))
                .await?;
            Ok(Some(format!("requestsPerWindow={requests}")))
        }
        Action::SetMaxReplicas(n) => {
            cluster
                .patch_spec(json!({"extractor": {"maxReplicas": n}}))
                .await?;
            Ok(Some(format!("maxReplicas={n}")))
        }
        Action::Suspend | Action::Resume => {
            let suspend = *action == Action::Suspend;
            cluster.patch_spec(json!({"suspend": suspend})).await?;
            Ok(Some(format!("suspend={suspend}")))
        }
        Action::RestartKafka | Action::RestartMariaDb if !settings.restart_services => Ok(None),
        Action::RestartKafka => restart_service("kafka").await,
        Action::RestartMariaDb => restart_service("mariadb").await,
        Action::InjectApiFault(fault) => {
            let next = ActiveFaults {
                api: Some(fault.clone()),
                ..active.clone()
            };
            put_faults(sim, active, next).await
        }
        Action::ClearApiFaults => {
            let next = ActiveFaults {
                api: None,
                ..active.clone()
            };
            put_faults(sim, active, next).await
        }
        Action::InjectStreamFault(fault) => {
            let next = ActiveFaults {
                stream: Some(fault.clone()),
                ..active.clone()
            };
            put_faults(sim, active, next).await
        }
        Action::ClearStreamFaults => {
            let next = ActiveFaults {
                stream: None,
                ..active.clone()
            };
            put_faults(sim, active, next).await
        }
    }
}

/// Sends `next` as the simulator's whole fault configuration; `active` follows what the
/// simulator holds.
async fn put_faults(
    sim: &Simulator,
    active: &mut ActiveFaults,
    next: ActiveFaults,
) -> Result<Option<String>, ChaosError> {
    let body = next.to_json();
    sim.put_faults(&body).await?;
    *active = next;
    Ok(Some(body.to_string()))
}

/// Restarts one of the platform's processes (`dev/platform/<name>.sh restart`).
async fn restart_service(name: &str) -> Result<Option<String>, ChaosError> {
    let script = format!("dev/platform/{name}.sh");
    let started = tokio::time::Instant::now();
    cluster::run("bash", &[&script, "restart"]).await?;
    Ok(Some(format!(
        "restarted in {} s",
        started.elapsed().as_secs()
    )))
}

/// A query's name, `since_id` and posts collected: what moves while work remains.
type QueryProgress = (String, Option<String>, u64);

/// Waits until the pipeline is Ready again, publication has stopped, every stream query's
/// `stored_until` is past its newest published post, the checkpoints no longer move and the
/// transformers' lag is 0 — twice in a row, 15 s apart. Returns the seconds taken.
///
/// The stream condition matters: a stream connection backing off after 429s (minutes) moves no
/// checkpoint, so "unchanged" alone would call a pipeline drained that has a gap left to fill.
async fn drain(
    settings: &Settings,
    platform: &tweetpipe_testkit::Platform,
    cluster: &Cluster,
    sim: &Simulator,
    names: &pipeline::Names,
    max_posts: u64,
) -> Result<u64, ChaosError> {
    let started = tokio::time::Instant::now();
    let deadline = started + settings.drain_bound;
    let group =
        names::transformer_group_id(&names::pipeline_id(&settings.namespace, pipeline::PIPELINE));
    let mut previous: Option<(u64, Vec<QueryProgress>)> = None;
    let mut last_state = String::from("not observed yet");
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let ready = cluster.ready_condition().await;
        let visible = sim.stats().await.map(|s| s.visible_posts).unwrap_or(0);
        let Ok((committed, checkpoints, _)) =
            read_kafka(&platform.kafka_bootstrap, &names.topic).await
        else {
            continue;
        };
        let bootstrap = platform.kafka_bootstrap.clone();
        let (topic, group_id, ends) = (names.topic.clone(), group.clone(), committed.ends.clone());
        let lag =
            tokio::task::spawn_blocking(move || observe::lag(&bootstrap, &group_id, &topic, &ends))
                .await
                .map_err(|e| ChaosError::Invalid(format!("lag reader: {e}")))??;
        let progress: Vec<_> = checkpoints
            .values()
            .map(|cp| (cp.query.clone(), cp.since_id.clone(), cp.posts_total))
            .collect();
        let posts: u64 = progress.iter().map(|p| p.2).sum();
        // Publication over: which stream queries have not stored up to their newest post yet.
        let mut behind = vec!["publication not over".to_string()];
        if visible >= max_posts {
            let mut newest = BTreeMap::new();
            for q in pipeline::QUERIES
                .iter()
                .filter(|q| q.delivery == pipeline::Delivery::Stream)
            {
                if let Ok(id) = sim.newest_matching(q.query).await {
                    newest.insert(q.name, id);
                }
            }
            behind = verdict::streams_behind(&pipeline::QUERIES, &newest, &checkpoints);
        }
        last_state = format!(
            "Ready {ready:?}, published {visible}, checkpoints {posts} posts, lag {lag}, streams behind: {}",
            if behind.is_empty() {
                "none".to_string()
            } else {
                behind.join(", ")
            }
        );
        log(format!("drain: {last_state}"));
        let current = (visible, progress);
        let ready_true = ready.as_ref().is_some_and(|(s, _)| s == "True");
        if ready_true && lag == 0 && behind.is_empty() && previous.as_ref() == Some(&current) {
            return Ok(started.elapsed().as_secs());
        }
        previous = Some(current);
    }
    Err(ChaosError::Timeout {
        what: format!("the drain (last: {last_state})"),
        seconds: settings.drain_bound.as_secs(),
    })
}

/// The committed post records and the newest checkpoints (blocking reads, off the runtime).
/// The committed post records, the newest checkpoints and the stream queries' starts
/// ([`observe::checkpoint_history`]).
type KafkaView = (
    observe::Committed,
    BTreeMap<String, tweetpipe_common::contract::checkpoint::Checkpoint>,
    BTreeMap<String, i64>,
);

async fn read_kafka(bootstrap: &str, topic: &str) -> Result<KafkaView, ChaosError> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let committed = observe::committed(&bootstrap, &topic)?;
        let (checkpoints, starts) =
            observe::checkpoint_history(&bootstrap, &checkpoint_topic(&topic))?;
        Ok((committed, checkpoints, starts))
    })
    .await
    .map_err(|e| ChaosError::Invalid(format!("Kafka reader: {e}")))?
}
