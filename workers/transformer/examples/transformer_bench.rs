//! Transformer benchmark (driven by `bench/transformer.sh`): posts/s from Kafka into MySQL
//! with 1 and 2 transformer processes, each run beside a fair ceiling: the same rows written
//! into the same MariaDB with the same guarantees by the transformer's own batch write, without
//! Kafka, decoding or transforming, over several connection counts (the best is the ceiling).
//! Every configuration runs `--rounds` times; the report gives medians and ranges, CPU time
//! per post of the transformers and of MariaDB, and peak RSS. Prints a Markdown report.
//!
//! `transformer_bench [--posts N] [--batch-sizes 500] [--partitions P] [--transformers 1,2]
//! [--rounds 3] [--connections 2,4,8] [--ceiling-orders sample,partition,consumer]
//! [--write-concurrency N]`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Timelike};
use futures::StreamExt;
use rdkafka::producer::Producer as _;
use sqlx::mysql::MySqlPoolOptions;
use tweetpipe_common::codec::{decode_post, encode_post};
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_common::post::Post;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::files::{temp_dir, write, write_json};
use tweetpipe_testkit::kafka::{bootstrap, create_post_topic_with_dlq, high_watermarks};
use tweetpipe_testkit::mysql::TestDb;
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::ports::free_port;
use tweetpipe_testkit::records::stage_posts;
use tweetpipe_transformer::rows::StoredPost;
use tweetpipe_transformer::store::{Store, StoreError};
use tweetpipe_transformer::transform::sentiment::POLARITY_THRESHOLD;
use tweetpipe_transformer::transform::transform;

struct Args {
    posts: usize,
    batch_sizes: Vec<usize>,
    partitions: i32,
    transformers: Vec<usize>,
    rounds: usize,
    connections: Vec<usize>,
    /// The transformers' `write_concurrency` (their default when not given).
    write_concurrency: Option<usize>,
    /// How the ceiling composes its transactions.
    orders: Vec<Order>,
}

fn args() -> Args {
    let mut a = Args {
        posts: 100_000,
        batch_sizes: vec![500],
        partitions: 4,
        transformers: vec![1, 2],
        rounds: 3,
        connections: vec![2, 4, 8],
        write_concurrency: None,
        orders: vec![Order::Sample, Order::Partition, Order::Consumer],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        let bad = |e: &dyn std::fmt::Display| -> ! { panic!("{} {value}: {e}", pair[0]) };
        let list = || -> Vec<usize> {
            value
                .split(',')
                .map(|v| v.parse().unwrap_or_else(|e| bad(&e)))
                .collect()
        };
        match pair[0].as_str() {
            "--posts" => a.posts = value.parse().unwrap_or_else(|e| bad(&e)),
            "--batch-sizes" => a.batch_sizes = list(),
            "--partitions" => a.partitions = value.parse().unwrap_or_else(|e| bad(&e)),
            "--transformers" => a.transformers = list(),
            "--rounds" => a.rounds = value.parse().unwrap_or_else(|e| bad(&e)),
            "--connections" => a.connections = list(),
            "--ceiling-orders" => {
                a.orders = value
                    .split(',')
                    .map(|order| match order {
                        "sample" => Order::Sample,
                        "partition" => Order::Partition,
                        "consumer" => Order::Consumer,
                        other => bad(&format!(
                            "unknown order {other} (sample, partition, consumer)"
                        )),
                    })
                    .collect()
            }
            "--write-concurrency" => {
                a.write_concurrency = Some(value.parse().unwrap_or_else(|e| bad(&e)))
            }
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.rounds > 0, "--rounds must be at least 1");
    a
}

/// One round of one configuration: the transformers' run and the ceiling beside it.
struct Round {
    run: Run,
    ceiling: Vec<Measured>,
}

impl Round {
    fn best(&self) -> &Measured {
        self.ceiling
            .iter()
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
            .unwrap_or_else(|| panic!("no ceiling method ran"))
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let mut report = String::new();
    let platform = tweetpipe_testkit::platform();
    platform.require_kafka().require_mysql();

    let posts = sample_posts(args.posts, 1_900_000_000_000_000_000);
    let started = Instant::now();
    let stored: Vec<StoredPost> = posts
        .iter()
        .map(|p| transform(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let transform_us = started.elapsed().as_secs_f64() * 1e6 / args.posts as f64;
    let records: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| encode_post(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let started = Instant::now();
    for record in &records {
        decode_post(record).unwrap_or_else(|e| panic!("{e}"));
    }
    let decode_us = started.elapsed().as_secs_f64() * 1e6 / args.posts as f64;
    drop(records);
    let rows = row_count(&stored);
    eprintln!(
        "{} posts = {rows} rows; decode {decode_us:.1} µs/post, transform {transform_us:.1} µs/post",
        args.posts
    );
    let partitioned = by_partition(&stored, args.partitions);
    let probe = TestDb::create("tp_bench_probe", &MIGRATOR).await;
    // Kept to the end: the server's status counters are read through its pool.
    let server = Server::inspect(&probe).await;

    let binary = transformer_binary();
    let mut configurations = Vec::new();
    // The machine is shared, so its speed drifts: each run is paired with a ceiling measured
    // just before it on the same server, and the ratio is taken within the pair.
    for &batch_size in &args.batch_sizes {
        for &count in &args.transformers {
            let mut rounds = Vec::new();
            let per_consumer = by_consumer(&stored, args.partitions, count);
            let streams = Streams {
                partitions: &partitioned,
                consumers: &per_consumer,
            };
            for round in 1..=args.rounds {
                let ceiling = fair_ceiling(
                    &stored,
                    streams,
                    batch_size,
                    &args.connections,
                    &args.orders,
                    &server,
                )
                .await;
                let db = TestDb::create("tp_bench_run", &MIGRATOR).await;
                let run = run_transformers(
                    &binary,
                    &db,
                    Shape {
                        count,
                        partitions: args.partitions,
                        batch_size,
                        write_concurrency: args.write_concurrency,
                    },
                    Input {
                        posts: &posts,
                        partitioned: &partitioned,
                    },
                    &server,
                )
                .await;
                db.drop().await;
                let this = Round { run, ceiling };
                eprintln!(
                    "{count} transformer(s), batch {batch_size}, round {round}: {:.0} posts/s; ceiling {:.0} ({}); MariaDB per 1,000 posts: run {}; ceiling {}",
                    this.run.rate,
                    this.best().rate,
                    this.best().method,
                    this.run.work.show(args.posts),
                    this.best().work.show(args.posts)
                );
                rounds.push(this);
            }
            configurations.push((count, batch_size, rounds));
        }
    }

    probe.drop().await;
    let _ = writeln!(report, "Server: {}.\n", server.settings);
    let _ = writeln!(
        report,
        "| run | Kafka → MySQL posts/s | fair ceiling posts/s | ratio to the ceiling | CPU-µs per post: transformers / MariaDB | peak RSS per transformer |\n|---|---:|---:|---:|---:|---|"
    );
    for (count, batch_size, rounds) in &configurations {
        let rates = summary(rounds.iter().map(|r| r.run.rate));
        let ceilings = summary(rounds.iter().map(|r| r.best().rate));
        let ratios = summary(rounds.iter().map(|r| 100.0 * r.run.rate / r.best().rate));
        let cpu = median(rounds.iter().map(|r| r.run.cpu_us));
        let server_cpu = median(rounds.iter().map(|r| r.run.server_cpu_us));
        let rss: Vec<String> = (0..*count)
            .map(|i| {
                format!(
                    "{:.0} MiB",
                    median(
                        rounds
                            .iter()
                            .map(|r| r.run.rss_mib.get(i).copied().unwrap_or(0.0))
                    )
                )
            })
            .collect();
        let _ = writeln!(
            report,
            "| {count} transformer(s), batch {batch_size} | {} | {} | **{:.0}%** ({:.0}–{:.0}) | {cpu:.0} / {server_cpu:.0} | {} |",
            rates.show(),
            ceilings.show(),
            ratios.median,
            ratios.low,
            ratios.high,
            rss.join(", ")
        );
    }
    let _ = writeln!(
        report,
        "\nThe ceiling's methods (the transformer's batch write of the same rows, without Kafka), median of the rounds beside each configuration:\n\n| beside | method | posts/s | CPU-µs per post: writer / MariaDB | retried transactions |\n|---|---|---:|---:|---:|"
    );
    for (count, batch_size, rounds) in &configurations {
        for (i, measured) in rounds[0].ceiling.iter().enumerate() {
            let rates = summary(rounds.iter().map(|r| r.ceiling[i].rate));
            let cpu = median(rounds.iter().map(|r| r.ceiling[i].server_cpu_us));
            let client_cpu = median(rounds.iter().map(|r| r.ceiling[i].client_cpu_us));
            let retries: usize = rounds.iter().map(|r| r.ceiling[i].retries).sum();
            let _ = writeln!(
                report,
                "| {count} transformer(s), batch {batch_size} | {} | {} | {client_cpu:.0} / {cpu:.0} | {retries} |",
                measured.method,
                rates.show()
            );
        }
    }
    let _ = writeln!(
        report,
        "\nMariaDB's work per 1,000 posts in the first round (its global status counters), the run beside the best ceiling method:\n"
    );
    for (count, batch_size, rounds) in &configurations {
        let _ = writeln!(
            report,
            "- {count} transformer(s), batch {batch_size}: run {}; ceiling {}",
            rounds[0].run.work.show(args.posts),
            rounds[0].best().work.show(args.posts)
        );
    }
    let _ = writeln!(
        report,
        "\n{} posts ({rows} rows in 11 tables: {:.1} rows/post), {} partitions, {} round(s) per configuration (median, range in brackets); in this process, one at a time: Avro decoding {decode_us:.1} µs/post, transform {transform_us:.1} µs/post.",
        args.posts,
        rows as f64 / args.posts as f64,
        args.partitions,
        args.rounds
    );
    print!("{report}");
    let _ = std::io::stdout().flush();
}

/// Median and range of a few figures.
struct Summary {
    median: f64,
    low: f64,
    high: f64,
}

impl Summary {
    fn show(&self) -> String {
        format!("{:.0} ({:.0}–{:.0})", self.median, self.low, self.high)
    }
}

fn summary(values: impl Iterator<Item = f64>) -> Summary {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    Summary {
        median: median_of_sorted(&v),
        low: v.first().copied().unwrap_or(0.0),
        high: v.last().copied().unwrap_or(0.0),
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    summary(values).median
}

fn median_of_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn row_count(stored: &[StoredPost]) -> usize {
    let users: std::collections::BTreeSet<u64> = stored
        .iter()
        .filter_map(|s| s.author.as_ref().map(|a| a.id))
        .collect();
    users.len()
        + stored
            .iter()
            .map(|s| {
                2 + s.hashtags.len()
                    + s.mentions.len()
                    + s.urls.len()
                    + s.references.len()
                    + s.cashtags.len()
                    + s.context_annotations.len()
            })
            .sum::<usize>()
        + hourly(stored).len()
        + daily_tags(stored).len()
}

fn transformer_binary() -> PathBuf {
    // target/<profile>/examples/transformer_bench → target/<profile>/tweetpipe-transformer
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("no profile directory above {}", exe.display()));
    let binary = dir.join("tweetpipe-transformer");
    assert!(
        binary.exists(),
        "{} missing: cargo build --release -p tweetpipe-transformer",
        binary.display()
    );
    binary
}

/// How the transformers of one run are set up.
#[derive(Clone, Copy)]
struct Shape {
    count: usize,
    partitions: i32,
    batch_size: usize,
    write_concurrency: Option<usize>,
}

struct Run {
    rate: f64,
    rss_mib: Vec<f64>,
    /// The transformers' CPU time per post, start-up included.
    cpu_us: f64,
    /// MariaDB's CPU time per post while they ran.
    server_cpu_us: f64,
    work: Work,
}

/// The transformers' `kafka` section: the platform's plaintext listener, or with
/// `BENCH_KAFKA=sasl_ssl` its SASL_SSL one (SCRAM-SHA-512 over TLS, hostname verified), so the
/// two figures differ only in the transport.
fn kafka_section(topic: &str) -> serde_json::Value {
    let mut kafka = match std::env::var("BENCH_KAFKA").as_deref() {
        Ok("sasl_ssl") => tweetpipe_testkit::platform()
            .require_secure_kafka()
            .worker_settings_json(topic),
        Ok("plaintext") | Err(_) => serde_json::json!({
            "bootstrap_servers": bootstrap(), "topic": topic, "security_protocol": "plaintext"
        }),
        Ok(other) => panic!("BENCH_KAFKA={other}: use plaintext or sasl_ssl"),
    };
    kafka["group_id"] = unique("tp-bench-group").into();
    kafka
}

/// The posts a run is fed, and how the bench expects Kafka to partition them.
struct Input<'a> {
    posts: &'a [Post],
    partitioned: &'a [Vec<StoredPost>],
}

/// Stages `input` on a fresh topic once every transformer holds partitions, and times the
/// transformers from the staging transaction's commit to the last post stored.
async fn run_transformers(
    binary: &Path,
    db: &TestDb,
    shape: Shape,
    input: Input<'_>,
    server: &Server,
) -> Run {
    let total = input.posts.len();
    let Shape {
        count,
        partitions,
        batch_size,
        write_concurrency,
    } = shape;
    let topic = &unique("tp-bench");
    create_post_topic_with_dlq(&bootstrap(), topic, partitions).await;
    let dir = temp_dir("tp-bench");
    let url_file = write(&dir, "mysql-url", &db.url);
    let mut config = serde_json::json!({
        "pipeline": "bench/transformer",
        "kafka": kafka_section(topic),
        "mysql": {"url_file": url_file},
        "batch_size": batch_size, "flush_interval_ms": 1000,
        "ops_addr": "127.0.0.1:0"
    });
    if let Some(concurrency) = write_concurrency {
        config["write_concurrency"] = concurrency.into();
        config["mysql"]["pool_size"] = (concurrency + 1).into();
    }
    let server_cpu_before = server.cpu_seconds();
    let work_before = server.work().await;
    // Each process serves its metrics on a port of its own, so the bench can see when the
    // group's assignment has settled.
    let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
    let mut children: Vec<Child> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            config["ops_addr"] = format!("127.0.0.1:{port}").into();
            let config_path = write_json(&dir, &format!("transformer-{i}.json"), &config);
            let log = std::fs::File::create(dir.join(format!("transformer-{i}.log")))
                .unwrap_or_else(|e| panic!("{e}"));
            Command::new(binary)
                .env("TRANSFORMER_CONFIG", &config_path)
                .env("RUST_LOG", "warn")
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()))
        })
        .collect();

    // Every process joins the group and holds partitions before there is anything to consume,
    // so each starts with its share of the work (the platform's broker starts a group without
    // waiting for more members: a process that joined late would take over partitions the
    // first had half worked through, and idle at the end while the other finishes).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held: Vec<i64> = ports.iter().map(|port| partitions_held(*port)).collect();
        if held.iter().all(|h| *h > 0) && held.iter().sum::<i64>() == i64::from(partitions) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the transformers' assignment did not settle within 120 s: partitions held {held:?} of {partitions}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The posts go in as one Kafka transaction, committed once all are written: the
    // transformers (read-committed, as in a pipeline) see none of them before the commit and
    // all of them at once after it. So the bench's producer, which an extractor on other
    // machines stands for, has finished before the clock starts instead of sharing the cores
    // with the run's first seconds.
    let staging = Instant::now();
    let producer = stage_posts(&bootstrap(), topic, input.posts).await;
    let staged = staging.elapsed().as_secs_f64();
    // The per-partition ceiling stands for what the consumers receive only if its partitions
    // are Kafka's: each partition must hold exactly the posts the bench placed there.
    let placed: Vec<i64> = input.partitioned.iter().map(|p| p.len() as i64).collect();
    assert_eq!(
        records_written(topic, partitions),
        placed,
        "the posts per partition of {topic} differ from the partitioner the bench assumes"
    );
    let start = Instant::now();
    producer
        .commit_transaction(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("committing the staged posts of {topic} within 30 s: {e}"));
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut rss = vec![0.0; count];
    let end = loop {
        // The hourly roll-up is committed with the posts and has a few hundred rows; counting
        // the posts table itself every few milliseconds would load MariaDB more than the run.
        let n = db
            .count("SELECT CAST(COALESCE(SUM(posts), 0) AS SIGNED) FROM posts_hourly")
            .await;
        let now = Instant::now();
        for (i, child) in children.iter().enumerate() {
            rss[i] = peak_rss_mib(child.id());
        }
        if n >= total as i64 {
            break now;
        }
        assert!(
            now < deadline,
            "benchmark stalled at {n} of {total} posts (staged in {staged:.1} s, committed at once)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cpu: f64 = children.iter().map(|c| cpu_seconds(c.id())).sum();
    let server_cpu = server.cpu_seconds() - server_cpu_before;
    let work = server.work().await.since(work_before);
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, total as i64);
    for child in &children {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    // Each round has its own topic: gone with the round, so repeated benches do not fill the
    // platform's broker.
    let dlq = tweetpipe_common::contract::topics::dlq_topic(topic);
    let options = rdkafka::admin::AdminOptions::new();
    let deleted = tweetpipe_testkit::kafka::admin(&bootstrap())
        .delete_topics(&[topic.as_str(), dlq.as_str()], &options)
        .await;
    if let Err(e) = deleted {
        eprintln!("could not delete {topic} and {dlq}: {e}");
    }
    let seconds = end.duration_since(start).as_secs_f64().max(1e-3);
    Run {
        rate: total as f64 / seconds,
        rss_mib: rss,
        cpu_us: cpu * 1e6 / total as f64,
        server_cpu_us: server_cpu * 1e6 / total as f64,
        work,
    }
}

/// Partitions a transformer holds now (assigned minus revoked, from its metrics); 0 while it
/// does not answer.
fn partitions_held(port: u16) -> i64 {
    use std::io::Read as _;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut body = String::new();
    if stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .and_then(|()| stream.read_to_string(&mut body))
        .is_err()
    {
        return 0;
    }
    let count = |reason: &str| -> i64 {
        let series =
            format!("tweetpipe_transformer_rebalance_partitions_total{{reason=\"{reason}\"}}");
        body.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as i64)
    };
    count("assigned") - count("revoked")
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

type HourKey = (NaiveDateTime, String, String);

#[derive(Default, Clone)]
struct HourRow {
    topic: String,
    posts: u64,
    kinds: [u64; 4],
    sentiment: f64,
    positive: u64,
    negative: u64,
}

fn hourly(stored: &[StoredPost]) -> BTreeMap<HourKey, HourRow> {
    let mut out: BTreeMap<HourKey, HourRow> = BTreeMap::new();
    for s in stored {
        let p = &s.post;
        let hour = p
            .created_at
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(p.created_at);
        let row = out
            .entry((hour, p.query_name.clone(), p.lang.clone()))
            .or_default();
        row.topic.clone_from(&p.topic);
        row.posts += 1;
        row.kinds[p.kind as usize] += 1;
        row.sentiment += f64::from(p.sentiment);
        row.positive += u64::from(p.sentiment > POLARITY_THRESHOLD);
        row.negative += u64::from(p.sentiment < -POLARITY_THRESHOLD);
    }
    out
}

fn daily_tags(stored: &[StoredPost]) -> BTreeMap<(chrono::NaiveDate, String), u64> {
    let mut out = BTreeMap::new();
    for s in stored {
        for h in &s.hashtags {
            *out.entry((s.post.created_at.date(), h.tag.clone()))
                .or_default() += 1;
        }
    }
    out
}

/// One way of writing the rows with the transformer's guarantees.
#[derive(Clone, Copy, PartialEq)]
struct Method {
    batch_size: usize,
    connections: usize,
    order: Order,
}

/// Which posts a transaction takes.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// Consecutive posts of the sample.
    Sample,
    /// Consecutive posts of one Kafka partition, as a consumer receives them.
    Partition,
    /// Consecutive posts of the partitions one consumer of the run holds (range assignment),
    /// merged in the sample's order: what a consumer could batch at best.
    Consumer,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch {}, {} connection(s){}",
            self.batch_size,
            self.connections,
            match self.order {
                Order::Sample => "",
                Order::Partition => ", per partition",
                Order::Consumer => ", per consumer",
            }
        )
    }
}

/// The partition librdkafka's default partitioner (`consistent_random`) gives a keyed record:
/// CRC-32 of the key modulo the partition count.
fn partition_of(key: &str, partitions: i32) -> usize {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(key.as_bytes());
    (crc % partitions.unsigned_abs()) as usize
}

/// What one ceiling method did.
struct Measured {
    method: Method,
    rate: f64,
    /// MariaDB's CPU time per post while this method ran.
    server_cpu_us: f64,
    /// This process's CPU time per post meanwhile (building and sending the statements).
    client_cpu_us: f64,
    /// Transactions retried after a transient error (a deadlock between connections).
    retries: usize,
    work: Work,
}

/// Each partition's high watermark: the records written to it, committed or not (the topic
/// being fresh and its transaction still open, so no marker yet).
fn records_written(topic: &str, partitions: i32) -> Vec<i64> {
    let reader: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap_or_else(|e| panic!("consumer: {e}"));
    high_watermarks(&reader, topic, partitions, Duration::from_secs(10))
}

/// The sample's posts grouped by the Kafka partition their key goes to, each in sample order.
fn by_partition(stored: &[StoredPost], partitions: i32) -> Vec<Vec<StoredPost>> {
    grouped(
        stored,
        partitions,
        partitions.unsigned_abs() as usize,
        |p| p,
    )
}

/// The posts of each of the run's consumers (range assignment of the partitions, as
/// librdkafka's default assignor gives), in sample order.
fn by_consumer(stored: &[StoredPost], partitions: i32, consumers: usize) -> Vec<Vec<StoredPost>> {
    let held = partitions.unsigned_abs() as usize;
    let consumers = consumers.clamp(1, held);
    grouped(stored, partitions, consumers, |p| p * consumers / held)
}

/// The sample's posts in `groups` groups, each in sample order: `group_of` the post's partition.
fn grouped(
    stored: &[StoredPost],
    partitions: i32,
    groups: usize,
    group_of: impl Fn(usize) -> usize,
) -> Vec<Vec<StoredPost>> {
    let mut out = vec![Vec::new(); groups];
    for post in stored {
        out[group_of(partition_of(&post.post.id.to_string(), partitions))].push(post.clone());
    }
    out
}

/// The sample split as Kafka and the run's consumers see it.
#[derive(Clone, Copy)]
struct Streams<'a> {
    partitions: &'a [Vec<StoredPost>],
    consumers: &'a [Vec<StoredPost>],
}

/// The transactions of `order`: consecutive chunks of the sample, or of each partition (or each
/// consumer's partitions), taken round-robin as consumers working side by side would.
fn batches<'a>(
    stored: &'a [StoredPost],
    streams: Streams<'a>,
    batch_size: usize,
    order: Order,
) -> Vec<&'a [StoredPost]> {
    let split = match order {
        Order::Sample => return stored.chunks(batch_size).collect(),
        Order::Partition => streams.partitions,
        Order::Consumer => streams.consumers,
    };
    let mut chunks: Vec<_> = split.iter().map(|p| p.chunks(batch_size)).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        out.extend(chunks.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            return out;
        }
    }
}

/// The fair ceiling: the same rows written straight into a fresh database of the same server
/// with the same guarantees as the transformer (its own batch write: idempotent multi-row
/// upserts with unique checks on, the created-rows read and the roll-ups in the same
/// transaction, one transaction per batch), over several connection counts; the best is the
/// ceiling. Only Kafka, decoding and transforming are left out.
async fn fair_ceiling(
    stored: &[StoredPost],
    streams: Streams<'_>,
    batch_size: usize,
    connections: &[usize],
    orders: &[Order],
    server: &Server,
) -> Vec<Measured> {
    let mut out = Vec::new();
    let methods = orders.iter().flat_map(|&order| {
        connections.iter().map(move |&connections| Method {
            batch_size,
            connections,
            order,
        })
    });
    for method in methods {
        let connections = method.connections;
        let db = TestDb::create("tp_bench_ceiling", &MIGRATOR).await;
        let pool = MySqlPoolOptions::new()
            .max_connections(u32::try_from(connections).unwrap_or(u32::MAX))
            .connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.name));
        let store = Store::new(pool.clone());
        let retries = AtomicUsize::new(0);
        let cpu_before = server.cpu_seconds();
        let work_before = server.work().await;
        let client_cpu_before = cpu_seconds(std::process::id());
        let started = Instant::now();
        futures::stream::iter(batches(stored, streams, batch_size, method.order))
            .for_each_concurrent(connections, |batch| {
                let (store, retries) = (&store, &retries);
                async move {
                    // As the transformer does: a transient error (a deadlock between two
                    // connections' roll-up rows) retries the batch; anything else is a bug here.
                    for attempt in 1.. {
                        match store.write_batch(batch).await {
                            Ok(_) => return,
                            Err(StoreError::Unavailable(e)) if attempt < 10 => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                eprintln!("ceiling {method}: retrying a batch after: {e}");
                            }
                            Err(e) => panic!("ceiling {method}: batch failed: {e}"),
                        }
                    }
                }
            })
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let server_cpu = server.cpu_seconds() - cpu_before;
        let work = server.work().await.since(work_before);
        let client_cpu = cpu_seconds(std::process::id()) - client_cpu_before;
        pool.close().await;
        // Same outcome as the transformer's runs, or the figure does not count.
        assert_eq!(
            db.count("SELECT COUNT(*) FROM posts").await,
            stored.len() as i64
        );
        assert_eq!(
            db.count("SELECT CAST(COALESCE(SUM(posts), 0) AS SIGNED) FROM posts_hourly")
                .await,
            stored.len() as i64
        );
        db.drop().await;
        let n = stored.len() as f64;
        out.push(Measured {
            method,
            rate: n / seconds,
            server_cpu_us: server_cpu * 1e6 / n,
            client_cpu_us: client_cpu * 1e6 / n,
            retries: retries.into_inner(),
            work,
        });
    }
    out
}

/// The MariaDB server the bench measures: how it is configured, and its CPU time.
struct Server {
    pid: u32,
    settings: String,
    pool: sqlx::MySqlPool,
}

/// What MariaDB did, from its global status counters (every client's, so the bench's own
/// probes are included: a handful of statements per phase).
#[derive(Clone, Copy, Default)]
struct Work {
    statements: f64,
    /// Statements parsed and planned (`Com_stmt_prepare`): sqlx prepares each statement text
    /// once per connection and keeps it in a cache, so these are the cache's misses.
    prepares: f64,
    commits: f64,
    row_lock_waits: f64,
    row_lock_ms: f64,
}

impl Work {
    fn since(self, before: Work) -> Work {
        Work {
            statements: self.statements - before.statements,
            prepares: self.prepares - before.prepares,
            commits: self.commits - before.commits,
            row_lock_waits: self.row_lock_waits - before.row_lock_waits,
            row_lock_ms: self.row_lock_ms - before.row_lock_ms,
        }
    }

    /// Per 1,000 posts.
    fn show(self, posts: usize) -> String {
        let per = |v: f64| v * 1000.0 / posts.max(1) as f64;
        format!(
            "{:.0} statements ({:.1} prepared anew), {:.1} commits, {:.1} row-lock waits ({:.0} ms waited)",
            per(self.statements),
            per(self.prepares),
            per(self.commits),
            per(self.row_lock_waits),
            per(self.row_lock_ms)
        )
    }
}

impl Server {
    async fn inspect(db: &TestDb) -> Self {
        let row: (String, String, i64, i64, i64, i64, i64, String) = sqlx::query_as(
            "SELECT @@version, @@pid_file, CAST(@@innodb_buffer_pool_size AS SIGNED), \
             CAST(@@innodb_log_file_size AS SIGNED), CAST(@@innodb_flush_log_at_trx_commit AS SIGNED), \
             CAST(@@log_bin AS SIGNED), CAST(@@sync_binlog AS SIGNED), @@innodb_flush_method",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("reading the server's settings: {e}"));
        let (version, pid_file, pool, log, flush, log_bin, sync_binlog, flush_method) = row;
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| {
                panic!(
                    "{pid_file} (the server's pid file; the bench must run beside the server): {e}"
                )
            })
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{pid_file}: {e}"));
        let binlog = if log_bin == 0 {
            "binary log off".to_string()
        } else {
            format!("binary log on, sync_binlog {sync_binlog}")
        };
        Server {
            pid,
            pool: db.pool.clone(),
            settings: format!(
                "MariaDB {version}: innodb_buffer_pool_size {} MiB, innodb_log_file_size {} MiB, \
                 innodb_flush_log_at_trx_commit {flush}, innodb_flush_method {flush_method}, {binlog}",
                pool >> 20,
                log >> 20
            ),
        }
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    async fn work(&self) -> Work {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SHOW GLOBAL STATUS WHERE Variable_name IN \
             ('Questions', 'Com_stmt_prepare', 'Com_commit', 'Innodb_row_lock_waits', 'Innodb_row_lock_time')",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_else(|e| panic!("reading the server's status counters: {e}"));
        let value = |name: &str| {
            rows.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("status counter {name} missing: {rows:?}"))
        };
        Work {
            statements: value("Questions"),
            prepares: value("Com_stmt_prepare"),
            commits: value("Com_commit"),
            row_lock_waits: value("Innodb_row_lock_waits"),
            row_lock_ms: value("Innodb_row_lock_time"),
        }
    }
}

/// User + system CPU time of a process so far (its threads included).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
