//! Freshness benchmark (driven by `bench/freshness.sh`): how long from X publishing a post to its
//! row being queryable in MySQL, for the filtered stream and for recent search on the same query
//! at the same time.
//!
//! A round runs the real processes on this host against the platform's Kafka and MariaDB: the X
//! API simulator (publishing `--posts-per-second` over time), the extractor replicas and
//! transformers the operator would run for `bench/freshness-pipeline.yaml`, with the configs the
//! operator's own code renders from it (`tweetpipe-operator-core`: `plan`, `extractor_config`,
//! `transformer_config`, `desired_topics`), only addresses and file paths replaced.
//!
//! - **Publish instant**: the simulator publishes post `i` at its `created_ms` (ms since the
//!   epoch): search serves it and the stream writes it from that millisecond on. The instant is
//!   in the post itself, to the millisecond: `created_at` (RFC 3339 with milliseconds, stored in
//!   `post_queries.created_at`, `DATETIME(3)`) and the id (a snowflake of that millisecond); the
//!   benchmark checks the two agree for every row.
//! - **Row visible**: a poller reads `post_queries` (one row per post and query, committed with
//!   the post) every `--poll-ms`; a row's visible time is the start of the first poll that
//!   returned it, so a figure is late by at most one poll interval plus the query's time.
//!
//! Posts published during the first `--warmup-s` after both queries stored their first row are
//! left out (the search query's first poll brings up to 100 posts published before it started).
//! After the measured minutes the poller goes on for `--drain-s` so the last posts can land.
//!
//! `freshness_bench [--minutes 5] [--rounds 3] [--posts-per-second 20] [--poll-ms 50]
//! [--warmup-s 20] [--drain-s 30] [--lookback-s 30] [--pipeline bench/freshness-pipeline.yaml]
//! [--flush-interval-ms N]`

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::NaiveDateTime;
use rdkafka::admin::{AdminOptions, NewTopic};
use tweetpipe_common::contract::paths;
use tweetpipe_common::kafka::new_topic;
use tweetpipe_operator_core::build::topics::desired_topics;
use tweetpipe_operator_core::build::worker_config::{extractor_config, transformer_config};
use tweetpipe_operator_core::crd::TweetPipeline;
use tweetpipe_operator_core::decide::conditions::{Check, SchemaState};
use tweetpipe_operator_core::decide::plan::{Observed, Plan, monthly_post_budget, plan};
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::files::{temp_dir, write, write_json};
use tweetpipe_testkit::http::get_text;
use tweetpipe_testkit::kafka::{admin, bootstrap, create_topics};
use tweetpipe_testkit::mysql::TestDb;
use tweetpipe_testkit::names::random_hex;
use tweetpipe_testkit::ports::free_port;
use tweetpipe_testkit::process::{ChildGuard, spawn_logged};

/// X's snowflake epoch: an id's bits above the lowest 22 are milliseconds since it.
const TWITTER_EPOCH_MS: i64 = 1_288_834_974_657;

struct Args {
    minutes: f64,
    rounds: usize,
    posts_per_second: f64,
    poll_ms: u64,
    warmup_s: u64,
    drain_s: u64,
    lookback_s: u64,
    pipeline: PathBuf,
    /// Overrides the pipeline's `transformer.flushIntervalMs`.
    flush_interval_ms: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        minutes: 5.0,
        rounds: 3,
        posts_per_second: 20.0,
        poll_ms: 50,
        warmup_s: 20,
        drain_s: 30,
        lookback_s: 30,
        pipeline: PathBuf::from("bench/freshness-pipeline.yaml"),
        flush_interval_ms: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        let bad = |e: &dyn std::fmt::Display| -> ! { panic!("{} {value}: {e}", pair[0]) };
        match pair[0].as_str() {
            "--minutes" => a.minutes = value.parse().unwrap_or_else(|e| bad(&e)),
            "--rounds" => a.rounds = value.parse().unwrap_or_else(|e| bad(&e)),
            "--posts-per-second" => a.posts_per_second = value.parse().unwrap_or_else(|e| bad(&e)),
            "--poll-ms" => a.poll_ms = value.parse().unwrap_or_else(|e| bad(&e)),
            "--warmup-s" => a.warmup_s = value.parse().unwrap_or_else(|e| bad(&e)),
            "--drain-s" => a.drain_s = value.parse().unwrap_or_else(|e| bad(&e)),
            "--lookback-s" => a.lookback_s = value.parse().unwrap_or_else(|e| bad(&e)),
            "--pipeline" => a.pipeline = PathBuf::from(value),
            "--flush-interval-ms" => {
                a.flush_interval_ms = Some(value.parse().unwrap_or_else(|e| bad(&e)))
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.rounds > 0, "--rounds must be at least 1");
    assert!(a.poll_ms > 0, "--poll-ms must be at least 1");
    a
}

/// How a query's posts arrive, from its `delivery`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Mode {
    Stream,
    Search,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Search => "search",
        }
    }
}

/// Publish → row, in milliseconds, of one mode in one round.
#[derive(Clone, Debug, Default, PartialEq)]
struct Stats {
    posts: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

/// Nearest-rank percentiles of `values` (ms).
fn stats(values: &mut [i64]) -> Stats {
    values.sort_unstable();
    let n = values.len();
    if n == 0 {
        return Stats::default();
    }
    let rank = |p: f64| values[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1] as f64;
    Stats {
        posts: n,
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: values[n - 1] as f64,
        mean: values.iter().sum::<i64>() as f64 / n as f64,
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One round's measurements.
struct Round {
    modes: BTreeMap<Mode, Stats>,
    /// Mean receive → commit per mode (the transformer's `freshness_seconds`), ms.
    receive_to_commit_ms: BTreeMap<Mode, f64>,
    /// The search query's requests per window, and the interval they make.
    search_share: u32,
    search_interval_s: f64,
    /// Search requests actually sent per second over the measured window, inverted.
    measured_search_interval_s: f64,
    /// Posts published in the measured window that one mode stored and the other did not.
    only_one_mode: usize,
    /// Rows in the window the poller never saw (landed after `--lookback-s`; must be 0).
    missed_by_poller: usize,
    /// Rows whose `created_at` differs from their id's snowflake time (must be 0).
    created_at_mismatches: usize,
    stream_reconnects: f64,
    polls: usize,
    failed_polls: usize,
    poll_mean_ms: f64,
    poll_max_ms: f64,
    extractors: i32,
    transformers: i32,
    load_start: String,
    load_end: String,
}

#[tokio::main]
async fn main() {
    let args = args();
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka().require_mysql();
    let yaml = std::fs::read_to_string(&args.pipeline)
        .unwrap_or_else(|e| panic!("{}: {e}", args.pipeline.display()));
    let mut template: TweetPipeline =
        serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{}: {e}", args.pipeline.display()));
    if let Some(ms) = args.flush_interval_ms {
        template.spec.transformer.flush_interval_ms = ms;
    }
    let bins = binaries();

    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        eprintln!("round {} of {}", round + 1, args.rounds);
        rounds.push(run_round(&args, &template, &bins, round).await);
        // The rounds so far, should a later one fail.
        eprint!("{}", report(&args, &template, &rounds));
    }
    print!("{}", report(&args, &template, &rounds));
}

/// `target/<profile>/examples/freshness_bench` → the workers' binaries in `target/<profile>/`.
fn binaries() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("no profile directory above {}", exe.display()))
        .to_path_buf();
    for bin in [
        "xapi-simulator",
        "tweetpipe-extractor",
        "tweetpipe-transformer",
    ] {
        assert!(
            dir.join(bin).exists(),
            "{} missing: cargo build --release -p xapi-simulator -p tweetpipe-extractor -p tweetpipe-transformer --bins",
            dir.join(bin).display()
        );
    }
    dir
}

/// What the operator observes of a healthy pipeline that has not run yet.
fn healthy(stream_apps: bool) -> Observed {
    Observed {
        now: chrono::Utc::now(),
        secrets: Check::Ok,
        kafka: Check::Ok,
        mysql: Check::Ok,
        schema: SchemaState::NotUsed,
        checkpoints: Vec::new(),
        lag: None,
        partitions: None,
        extractor_ready: 0,
        transformer_ready: 0,
        transformer_current: None,
        extractor_current: None,
        transformer_history: Vec::new(),
        scale_down_window: chrono::TimeDelta::minutes(5),
        invalid_queries: Vec::new(),
        api_host_refusal: None,
        image_refusal: None,
        stream_apps: stream_apps.then_some(Check::Ok),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sum of the samples of `metric` whose labels include every `labels` pair.
fn metric_sum(text: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        // A float sum of nothing is -0.
        .fold(0.0, |a, b| a + b)
}

async fn metrics_of(ports: &[u16]) -> Vec<String> {
    let mut texts = Vec::new();
    for port in ports {
        texts.push(get_text(&format!("http://127.0.0.1:{port}/metrics")).await);
    }
    texts
}

fn sum_over(texts: &[String], metric: &str, labels: &[(&str, &str)]) -> f64 {
    texts.iter().map(|t| metric_sum(t, metric, labels)).sum()
}

/// The processes of a round; killed when dropped, whatever happens.
struct Processes {
    children: Vec<ChildGuard>,
}

impl Processes {
    fn spawn(&mut self, command: Command, log: &Path) {
        self.children.push(ChildGuard(spawn_logged(command, log)));
    }

    /// SIGTERM to all, then wait: the workers finish their transaction in flight and leave.
    fn stop(&mut self) {
        for child in &self.children {
            child.signal("TERM");
        }
        for ChildGuard(child) in &mut self.children {
            let _ = Child::wait(child);
        }
    }
}

async fn wait_until_ready(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Connect first: the bounded GET panics on a refused connection while the process starts.
        let last = match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(url.trim_start_matches("http://")),
        )
        .await
        {
            Ok(Ok(_)) => {
                match tweetpipe_testkit::http::get_status(&format!("{url}/readyz")).await {
                    200 => return,
                    status => format!("/readyz answered {status}"),
                }
            }
            Ok(Err(e)) => format!("connect: {e}"),
            Err(_) => "connect timed out after 5 s".into(),
        };
        assert!(
            Instant::now() < deadline,
            "timed out after 120 s waiting for {what} at {url} to be ready; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The round's pipeline: the template with this round's simulator, topic and database.
fn round_pipeline(template: &TweetPipeline, sim_port: u16, topic: &str, db: &str) -> TweetPipeline {
    let mut tp = template.clone();
    // A name of its own per round: the extractors' transactional ids, slot group and rule tags
    // and the transformers' group derive from it.
    tp.metadata.name = Some(format!(
        "{}-{}",
        tp.metadata.name.as_deref().unwrap_or("freshness"),
        random_hex(8)
    ));
    tp.spec.source.base_url = format!("http://127.0.0.1:{sim_port}");
    tp.spec.kafka.bootstrap_servers = bootstrap();
    tp.spec.kafka.topic = topic.to_string();
    tp.spec.mysql.database = db.to_string();
    tp
}

async fn create_pipeline_topics(tp: &TweetPipeline) {
    let specs = desired_topics(&tp.spec.kafka, tp.spec.source.queries.len());
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|t| new_topic(&t.name, t.partitions, t.replication_factor, &t.configs))
        .collect();
    create_topics(&bootstrap(), &topics).await;
}

async fn delete_pipeline_topics(tp: &TweetPipeline) {
    let names: Vec<String> = desired_topics(&tp.spec.kafka, tp.spec.source.queries.len())
        .into_iter()
        .map(|t| t.name)
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // Best effort: a topic left behind is only disk on the shared platform.
    let _ = admin(&bootstrap())
        .delete_topics(
            &refs,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        )
        .await;
}

fn simulator_config(
    tp: &TweetPipeline,
    args: &Args,
    port: u16,
    tokens: &[String],
    seed: u64,
) -> serde_json::Value {
    let limits = &tp.spec.source.limits;
    let tokens: Vec<serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            serde_json::json!({
                "name": format!("app-{i}"), "token": token,
                "requests_per_window": limits.requests_per_window,
                "window_seconds": limits.window_seconds,
                "monthly_post_cap": 1_000_000_000u64
            })
        })
        .collect();
    serde_json::json!({
        "listen": format!("127.0.0.1:{port}"),
        "seed": seed,
        "access_level": serde_json::to_value(tp.spec.source.access_level).unwrap_or_default(),
        "tokens": tokens,
        // Nothing published before the start: a new search query pages back through every
        // post of the last 7 days before it polls from `since_id`, and posts published during
        // that catch-up come late once; that is start-up, not the freshness of a running query.
        "corpus": {"posts_per_second": args.posts_per_second, "backfill_posts": 0}
    })
}

/// Worker `tweetpipe-<kind>` number `i`, its config written to `<kind>-<i>.json` and named by
/// `config_env`.
fn worker(
    dir: &Path,
    bins: &Path,
    kind: &str,
    i: usize,
    config_env: &str,
    config: Result<serde_json::Value, serde_json::Error>,
) -> Command {
    let json = config.unwrap_or_else(|e| panic!("{kind} config: {e}"));
    let path = write_json(dir, &format!("{kind}-{i}.json"), &json);
    let mut command = Command::new(bins.join(format!("tweetpipe-{kind}")));
    command.env(config_env, path).env("RUST_LOG", "warn");
    command
}

/// Rows seen by the poller: (post id, query) → (visible at, created_at), ms since the epoch.
type Seen = HashMap<(u64, String), (i64, i64)>;

async fn run_round(args: &Args, template: &TweetPipeline, bins: &Path, round: usize) -> Round {
    let load_start = load_average();
    let dir = temp_dir("tp-freshness");
    let sim_port = free_port();
    let db = TestDb::create("bench_fresh", &MIGRATOR).await;
    let topic = format!("bench-fresh-{}", random_hex(12));
    let tp = round_pipeline(template, sim_port, &topic, &db.name);
    let mode_of: HashMap<String, Mode> = tp
        .spec
        .source
        .queries
        .iter()
        .map(|q| {
            let mode = if q.delivery_mode().is_stream() {
                Mode::Stream
            } else {
                Mode::Search
            };
            (q.name.clone(), mode)
        })
        .collect();
    let streams = mode_of.values().any(|m| *m == Mode::Stream);
    let decided: Plan = plan(&tp, &healthy(streams));
    create_pipeline_topics(&tp).await;

    let mut processes = Processes {
        children: Vec::new(),
    };
    // The simulator, with one app per token of the pipeline.
    let tokens: Vec<String> = tp
        .spec
        .source
        .tokens
        .iter()
        .map(|_| format!("bench-{}", random_hex(16)))
        .collect();
    let sim_config = write_json(
        &dir,
        "simulator.json",
        &simulator_config(&tp, args, sim_port, &tokens, 7 + round as u64),
    );
    let mut sim = Command::new(bins.join("xapi-simulator"));
    sim.arg("--config").arg(&sim_config).env("RUST_LOG", "warn");
    processes.spawn(sim, &dir.join("simulator.log"));

    // The extractors: the operator's config, token files and ops ports replaced.
    let mut extractor = extractor_config(&tp, &decided.query_shares, monthly_post_budget(&tp));
    let token_files: Vec<PathBuf> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| write(&dir, &format!("token-{i}"), token))
        .collect();
    for query in &mut extractor.queries {
        let index = (0..tokens.len())
            .find(|i| query.token_file == paths::token_file(*i))
            .unwrap_or_else(|| panic!("no token for {}", query.token_file.display()));
        query.token_file = token_files[index].clone();
    }
    let extractor_ports: Vec<u16> = (0..decided.scaling.replicas).map(|_| free_port()).collect();
    for (i, port) in extractor_ports.iter().enumerate() {
        extractor.tuning.ops_listen = format!("127.0.0.1:{port}");
        let mut command = worker(
            &dir,
            bins,
            "extractor",
            i,
            "EXTRACTOR_CONFIG",
            serde_json::to_value(&extractor),
        );
        command.env("REPLICA_INDEX", i.to_string());
        processes.spawn(command, &dir.join(format!("extractor-{i}.log")));
    }

    // The transformers: the operator's config, the MySQL URL file and ops ports replaced.
    let mut transformer = transformer_config(&tp);
    transformer.mysql.url_file = write(&dir, "mysql-url", &db.url);
    let transformer_ports: Vec<u16> = (0..decided.transformer_replicas)
        .map(|_| free_port())
        .collect();
    for (i, port) in transformer_ports.iter().enumerate() {
        transformer.ops_addr = ([127, 0, 0, 1], *port).into();
        let command = worker(
            &dir,
            bins,
            "transformer",
            i,
            "TRANSFORMER_CONFIG",
            serde_json::to_value(&transformer),
        );
        processes.spawn(command, &dir.join(format!("transformer-{i}.log")));
    }
    for port in extractor_ports.iter().chain(&transformer_ports) {
        wait_until_ready(&format!("http://127.0.0.1:{port}"), "a worker").await;
    }

    // Warm-up: until every query has stored a row, then `warmup_s` more.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let queries: Vec<(String, i64)> =
            sqlx::query_as("SELECT query_name, COUNT(*) FROM post_queries GROUP BY query_name")
                .fetch_all(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("reading post_queries: {e}"));
        if queries.len() == mode_of.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after 180 s waiting for every query of {:?} to store a row; stored so far: {queries:?} (logs in {})",
            mode_of.keys().collect::<Vec<_>>(),
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let t0 = now_ms() + args.warmup_s as i64 * 1000;
    let t1 = t0 + (args.minutes * 60_000.0) as i64;
    let end = t1 + args.drain_s as i64 * 1000;

    let search_names: Vec<&String> = mode_of
        .iter()
        .filter(|(_, m)| **m == Mode::Search)
        .map(|(n, _)| n)
        .collect();
    let search_requests = |texts: &[String]| -> f64 {
        search_names
            .iter()
            .map(|q| sum_over(texts, "tweetpipe_extractor_requests_total", &[("query", q)]))
            .sum()
    };
    let mut requests_at_t0 = None;
    let mut requests_at_t1 = None;

    // The poller.
    let mut seen: Seen = HashMap::new();
    let mut poll_ms_total = 0.0;
    let mut poll_max_ms: f64 = 0.0;
    let mut polls = 0usize;
    let mut failed_polls = 0usize;
    let interval = Duration::from_millis(args.poll_ms);
    let mut next = Instant::now();
    loop {
        let started = now_ms();
        if started >= end {
            break;
        }
        if requests_at_t0.is_none() && started >= t0 {
            requests_at_t0 = Some((
                started,
                search_requests(&metrics_of(&extractor_ports).await),
            ));
        }
        if requests_at_t1.is_none() && started >= t1 {
            requests_at_t1 = Some((
                started,
                search_requests(&metrics_of(&extractor_ports).await),
            ));
        }
        let clock = Instant::now();
        // Posts are ids of their publish millisecond: the range of the last `lookback_s` on the
        // primary key, so a poll reads only recent rows.
        let lowest =
            ((started - args.lookback_s as i64 * 1000 - TWITTER_EPOCH_MS).max(0) as u64) << 22;
        let rows: Vec<(u64, String, NaiveDateTime)> = match sqlx::query_as(
            "SELECT post_id, query_name, created_at FROM post_queries WHERE post_id >= ?",
        )
        .bind(lowest)
        .fetch_all(&db.pool)
        .await
        {
            Ok(rows) => rows,
            // The platform's MariaDB is shared (another test may restart it): a failed poll
            // only makes the rows it would have seen later, and is counted in the report.
            Err(e) => {
                eprintln!("poll failed: {e}");
                failed_polls += 1;
                Vec::new()
            }
        };
        let took = clock.elapsed().as_secs_f64() * 1000.0;
        poll_ms_total += took;
        poll_max_ms = poll_max_ms.max(took);
        polls += 1;
        for (id, query, created_at) in rows {
            seen.entry((id, query))
                .or_insert((started, created_at.and_utc().timestamp_millis()));
        }
        next += interval;
        let now = Instant::now();
        if next > now {
            tokio::time::sleep(next - now).await;
        } else {
            next = now;
        }
    }

    let extractor_metrics = metrics_of(&extractor_ports).await;
    let transformer_metrics = metrics_of(&transformer_ports).await;
    let stream_reconnects = sum_over(
        &extractor_metrics,
        "tweetpipe_extractor_stream_reconnects_total",
        &[],
    );
    let mut receive_to_commit_ms = BTreeMap::new();
    for (query, mode) in &mode_of {
        let labels = [("query", query.as_str())];
        let sum = sum_over(
            &transformer_metrics,
            "tweetpipe_transformer_freshness_seconds_sum",
            &labels,
        );
        let count = sum_over(
            &transformer_metrics,
            "tweetpipe_transformer_freshness_seconds_count",
            &labels,
        );
        if count > 0.0 {
            receive_to_commit_ms.insert(*mode, sum / count * 1000.0);
        }
    }
    processes.stop();
    // The logs stay for a look; the admin URL (a credential) does not.
    let _ = std::fs::remove_file(&transformer.mysql.url_file);

    // Every row of a post published in [t0, t1): seen by the poller, and published when its id
    // says.
    let window_start = ((t0 - TWITTER_EPOCH_MS) as u64) << 22;
    let window_end = ((t1 - TWITTER_EPOCH_MS) as u64) << 22;
    let stored: Vec<(u64, String, NaiveDateTime)> = sqlx::query_as(
        "SELECT post_id, query_name, created_at FROM post_queries WHERE post_id >= ? AND post_id < ?",
    )
    .bind(window_start)
    .bind(window_end)
    .fetch_all(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("reading post_queries: {e}"));
    let mut latencies: BTreeMap<Mode, Vec<i64>> = BTreeMap::new();
    let mut per_post: HashMap<u64, Vec<Mode>> = HashMap::new();
    let mut missed_by_poller = 0;
    let mut created_at_mismatches = 0;
    for (id, query, created_at) in stored {
        let created_ms = created_at.and_utc().timestamp_millis();
        if created_ms != (id >> 22) as i64 + TWITTER_EPOCH_MS {
            created_at_mismatches += 1;
        }
        let Some(mode) = mode_of.get(&query).copied() else {
            continue;
        };
        per_post.entry(id).or_default().push(mode);
        match seen.get(&(id, query)) {
            Some((visible, published)) => {
                latencies.entry(mode).or_default().push(visible - published)
            }
            None => missed_by_poller += 1,
        }
    }
    let modes_present = mode_of
        .values()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let only_one_mode = per_post
        .values()
        .filter(|m| m.len() < modes_present)
        .count();
    db.drop().await;
    delete_pipeline_topics(&tp).await;

    let search_share = decided
        .query_shares
        .iter()
        .find(|s| {
            tp.spec
                .source
                .queries
                .get(s.query)
                .is_some_and(|q| !q.delivery_mode().is_stream())
        })
        .map_or(0, |s| s.requests_per_window);
    let window = f64::from(tp.spec.source.limits.window_seconds);
    let measured_search_interval_s = match (requests_at_t0, requests_at_t1) {
        (Some((a, ra)), Some((b, rb))) if rb > ra => (b - a) as f64 / 1000.0 / (rb - ra),
        _ => f64::NAN,
    };
    eprintln!("round {}: configs and logs in {}", round + 1, dir.display());
    Round {
        modes: latencies
            .into_iter()
            .map(|(mode, mut v)| (mode, stats(&mut v)))
            .collect(),
        receive_to_commit_ms,
        search_share,
        search_interval_s: if search_share > 0 {
            window / f64::from(search_share)
        } else {
            f64::NAN
        },
        measured_search_interval_s,
        only_one_mode,
        missed_by_poller,
        created_at_mismatches,
        stream_reconnects,
        polls,
        failed_polls,
        poll_mean_ms: poll_ms_total / polls.max(1) as f64,
        poll_max_ms,
        extractors: decided.scaling.replicas,
        transformers: decided.transformer_replicas,
        load_start,
        load_end: load_average(),
    }
}

fn seconds(ms: f64) -> String {
    format!("{:.2}", ms / 1000.0)
}

fn report(args: &Args, template: &TweetPipeline, rounds: &[Round]) -> String {
    let mut out = String::new();
    let spec = &template.spec;
    let first = &rounds[0];
    let _ = writeln!(
        out,
        "Pipeline `{}` (CRD defaults otherwise): queries {}; transformer `batchSize` {}, `flushIntervalMs` {}; \
         rendered by the operator's code: {} extractor replica(s), {} transformer(s).",
        args.pipeline.display(),
        spec.source
            .queries
            .iter()
            .map(|q| format!("`{}` ({:?})", q.name, q.delivery_mode()))
            .collect::<Vec<_>>()
            .join(", "),
        spec.transformer.batch_size,
        spec.transformer.flush_interval_ms,
        first.extractors,
        first.transformers,
    );
    let _ = writeln!(
        out,
        "Search: {} requests per {} s window per token, {}% safety margin; the search query's share {} \
         requests per window = one poll every {:.2} s (measured: {}).",
        spec.source.limits.requests_per_window,
        spec.source.limits.window_seconds,
        spec.source.safety_margin_percent,
        first.search_share,
        first.search_interval_s,
        rounds
            .iter()
            .map(|r| format!("{:.2} s", r.measured_search_interval_s))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let _ = writeln!(
        out,
        "Simulator: {} posts/s published over time; measured {} min per round after {} s of warm-up, \
         then {} s to drain; MySQL polled every {} ms (a figure is late by at most that plus the poll's own time).",
        args.posts_per_second, args.minutes, args.warmup_s, args.drain_s, args.poll_ms,
    );
    out.push('\n');
    out.push_str(
        "| round | mode | posts | p50 s | p90 s | p99 s | max s | mean s | receive → commit mean s | load average start → end |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (i, r) in rounds.iter().enumerate() {
        for (mode, s) in &r.modes {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} → {} |",
                i + 1,
                mode.name(),
                s.posts,
                seconds(s.p50),
                seconds(s.p90),
                seconds(s.p99),
                seconds(s.max),
                seconds(s.mean),
                r.receive_to_commit_ms
                    .get(mode)
                    .map_or("–".into(), |ms| seconds(*ms)),
                r.load_start,
                r.load_end,
            );
        }
    }
    for mode in [Mode::Stream, Mode::Search] {
        let of =
            |f: fn(&Stats) -> f64| median(rounds.iter().filter_map(|r| r.modes.get(&mode)).map(f));
        if rounds.iter().all(|r| !r.modes.contains_key(&mode)) {
            continue;
        }
        let _ = writeln!(
            out,
            "| **median of {}** | **{}** | {:.0} | **{}** | {} | **{}** | {} | {} | {} | |",
            rounds.len(),
            mode.name(),
            of(|s| s.posts as f64),
            seconds(of(|s| s.p50)),
            seconds(of(|s| s.p90)),
            seconds(of(|s| s.p99)),
            seconds(of(|s| s.max)),
            seconds(of(|s| s.mean)),
            seconds(median(
                rounds
                    .iter()
                    .filter_map(|r| r.receive_to_commit_ms.get(&mode).copied())
            )),
        );
    }
    out.push('\n');
    for (i, r) in rounds.iter().enumerate() {
        let _ = writeln!(
            out,
            "- round {}: {} polls (mean {:.1} ms, max {:.1} ms, {} failed); posts stored by one mode only: {}; \
             rows the poller missed: {}; created_at ≠ id's time: {}; stream reconnects: {}",
            i + 1,
            r.polls,
            r.poll_mean_ms,
            r.poll_max_ms,
            r.failed_polls,
            r.only_one_mode,
            r.missed_by_poller,
            r.created_at_mismatches,
            r.stream_reconnects,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<i64> = (1..=200).rev().collect();
        let s = stats(&mut v);
        assert_eq!(s.posts, 200);
        assert_eq!((s.p50, s.p90, s.p99, s.max), (100.0, 180.0, 198.0, 200.0));
        assert_eq!(s.mean, 100.5);
        assert_eq!(stats(&mut []), Stats::default());
    }

    #[test]
    fn metric_sums_filter_by_name_and_labels() {
        let text = "# HELP x\n\
            tweetpipe_x_total{query=\"a\",outcome=\"ok\"} 3\n\
            tweetpipe_x_total{query=\"b\",outcome=\"ok\"} 4\n\
            tweetpipe_x_total_other{query=\"a\"} 100\n\
            tweetpipe_x_total 1\n";
        assert_eq!(
            metric_sum(text, "tweetpipe_x_total", &[("query", "a")]),
            3.0
        );
        assert_eq!(metric_sum(text, "tweetpipe_x_total", &[]), 8.0);
    }
}
