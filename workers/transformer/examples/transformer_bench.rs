//! Transformer benchmark (driven by `bench/transformer.sh`): posts/s from Kafka into MySQL
//! with 1 and 2 transformer processes, next to the ceiling, i.e. the same rows loaded straight
//! into the same MariaDB by multi-row INSERTs and by LOAD DATA. Prints a Markdown report.
//!
//! `transformer_bench [--posts N] [--batch-sizes 500,2000] [--partitions P] [--transformers 1,2]`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Timelike};
use sqlx::{MySql, QueryBuilder};
use tweetpipe_common::fixtures::sample_posts;
use tweetpipe_schema::MIGRATOR;
use tweetpipe_testkit::files::{temp_dir, write, write_json};
use tweetpipe_testkit::kafka::{bootstrap, create_post_topic_with_dlq};
use tweetpipe_testkit::mysql::TestDb;
use tweetpipe_testkit::names::unique;
use tweetpipe_testkit::records::produce_posts;
use tweetpipe_transformer::rows::{StoredPost, reference_kind_sql};
use tweetpipe_transformer::store::{POST_COLUMNS, posts_insert};
use tweetpipe_transformer::transform::sentiment::POLARITY_THRESHOLD;
use tweetpipe_transformer::transform::transform;

struct Args {
    posts: usize,
    batch_sizes: Vec<usize>,
    partitions: i32,
    transformers: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args {
        posts: 100_000,
        batch_sizes: vec![500, 2000],
        partitions: 4,
        transformers: vec![1, 2],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        let bad = |e: &dyn std::fmt::Display| -> ! { panic!("{} {value}: {e}", pair[0]) };
        match pair[0].as_str() {
            "--posts" => a.posts = value.parse().unwrap_or_else(|e| bad(&e)),
            "--batch-sizes" => {
                a.batch_sizes = value
                    .split(',')
                    .map(|v| v.parse().unwrap_or_else(|e| bad(&e)))
                    .collect()
            }
            "--partitions" => a.partitions = value.parse().unwrap_or_else(|e| bad(&e)),
            "--transformers" => {
                a.transformers = value
                    .split(',')
                    .map(|v| v.parse().unwrap_or_else(|e| bad(&e)))
                    .collect()
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
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
    let rows = row_count(&stored);
    eprintln!(
        "{} posts = {rows} rows; transform {transform_us:.1} µs/post",
        args.posts
    );

    // Kafka → MySQL.
    let topic = unique("tp-bench");
    create_post_topic_with_dlq(&bootstrap(), &topic, args.partitions).await;
    let started = Instant::now();
    produce_posts(&bootstrap(), &topic, &posts).await;
    eprintln!(
        "produced {} records in {:.1}s",
        args.posts,
        started.elapsed().as_secs_f64()
    );
    let binary = transformer_binary();
    let mut runs = Vec::new();
    // The machine is shared, so its speed drifts: each run is paired with ceilings measured
    // just before it, and the ratio is taken within the pair.
    for &batch_size in &args.batch_sizes {
        for &count in &args.transformers {
            let ceiling = ceilings(&stored).await;
            let db = TestDb::create("tp_bench_run", &MIGRATOR).await;
            let run = run_transformers(&binary, &topic, &db, count, batch_size, args.posts).await;
            eprintln!(
                "{count} transformer(s), batch {batch_size}: {:.0} posts/s, peak RSS {:?} MiB; ceilings {ceiling:?}",
                run.rate, run.rss_mib
            );
            runs.push((count, batch_size, run, ceiling));
            db.drop().await;
        }
    }

    let _ = writeln!(
        report,
        "| run | Kafka → MySQL posts/s | ceiling posts/s: INSERT / LOAD DATA | ratio to the better ceiling | peak RSS per transformer |\n|---|---:|---:|---:|---|"
    );
    for (count, batch_size, run, (insert, load)) in &runs {
        let rss: Vec<String> = run.rss_mib.iter().map(|m| format!("{m:.0} MiB")).collect();
        let _ = writeln!(
            report,
            "| {count} transformer(s), batch {batch_size} | {:.0} | {insert:.0} / {load:.0} | **{:.0}%** | {} |",
            run.rate,
            100.0 * run.rate / insert.max(*load),
            rss.join(", ")
        );
    }
    let _ = writeln!(
        report,
        "\n{} posts ({rows} rows in 11 tables: {:.1} rows/post), {} partitions; transform alone {transform_us:.1} µs/post.",
        args.posts,
        rows as f64 / args.posts as f64,
        args.partitions
    );
    print!("{report}");
    let _ = std::io::stdout().flush();
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

struct Run {
    rate: f64,
    rss_mib: Vec<f64>,
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

async fn run_transformers(
    binary: &Path,
    topic: &str,
    db: &TestDb,
    count: usize,
    batch_size: usize,
    total: usize,
) -> Run {
    let dir = temp_dir("tp-bench");
    let url_file = write(&dir, "mysql-url", &db.url);
    let config = serde_json::json!({
        "pipeline": "bench/transformer",
        "kafka": kafka_section(topic),
        "mysql": {"url_file": url_file},
        "batch_size": batch_size, "flush_interval_ms": 1000,
        "ops_addr": "127.0.0.1:0"
    });
    let config_path = write_json(&dir, "transformer.json", &config);
    let mut children: Vec<Child> = (0..count)
        .map(|i| {
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

    // Throughput from the first stored batch to the last post, so group start-up is excluded.
    let mut first: Option<(Instant, i64)> = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut rss = vec![0.0; count];
    let end = loop {
        // The hourly roll-up is committed with the posts and has a few hundred rows; counting
        // the posts table itself every few milliseconds would load MariaDB more than the run.
        let n = db
            .count("SELECT CAST(COALESCE(SUM(posts), 0) AS SIGNED) FROM posts_hourly")
            .await;
        let now = Instant::now();
        if n > 0 && first.is_none() {
            first = Some((now, n));
        }
        for (i, child) in children.iter().enumerate() {
            rss[i] = peak_rss_mib(child.id());
        }
        if n >= total as i64 {
            break now;
        }
        assert!(now < deadline, "benchmark stalled at {n} of {total} posts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(db.count("SELECT COUNT(*) FROM posts").await, total as i64);
    for child in &children {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
    let (start, at_start) = first.unwrap_or((end, 0));
    let seconds = end.duration_since(start).as_secs_f64().max(1e-3);
    Run {
        rate: (total as i64 - at_start) as f64 / seconds,
        rss_mib: rss,
    }
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

fn users(stored: &[StoredPost]) -> Vec<&tweetpipe_transformer::rows::UserRow> {
    let mut by_id = BTreeMap::new();
    for s in stored {
        if let Some(u) = &s.author {
            by_id.insert(u.id, u);
        }
    }
    by_id.into_values().collect()
}

/// Posts/s of both ceilings, each into a fresh database.
async fn ceilings(stored: &[StoredPost]) -> (f64, f64) {
    let n = stored.len() as f64;
    let db = TestDb::create("tp_bench_insert", &MIGRATOR).await;
    let insert = n / insert_ceiling(&db, stored).await.as_secs_f64();
    db.drop().await;
    let db = TestDb::create("tp_bench_load", &MIGRATOR).await;
    let load = n / load_data_ceiling(&db, stored).await.as_secs_f64();
    db.drop().await;
    (insert, load)
}

/// The same rows through plain multi-row INSERTs (no upsert, no roll-up queries).
async fn insert_ceiling(db: &TestDb, stored: &[StoredPost]) -> Duration {
    let hourly = hourly(stored);
    let tags = daily_tags(stored);
    let users = users(stored);
    let started = Instant::now();
    let mut tx = db.pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
    for chunk in users.chunks(1000) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO users (id, username, name, verified, created_at, location, followers_count, following_count, tweet_count, observed_at) ",
        );
        q.push_values(chunk, |mut r, u| {
            r.push_bind(u.id)
                .push_bind(&u.username)
                .push_bind(&u.name)
                .push_bind(u.verified)
                .push_bind(u.created_at)
                .push_bind(&u.location)
                .push_bind(u.followers_count)
                .push_bind(u.following_count)
                .push_bind(u.tweet_count)
                .push_bind(u.observed_at);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for (n, chunk) in stored.chunks(1000).enumerate() {
        // The transformer's own statement, without its upsert clause.
        let mut q = posts_insert(chunk, 1);
        q.build()
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO post_queries (post_id, query_name, topic, created_at, lang, load_id) ",
        );
        q.push_values(chunk, |mut r, s| {
            let p = &s.post;
            r.push_bind(p.id)
                .push_bind(&p.query_name)
                .push_bind(&p.topic)
                .push_bind(p.created_at)
                .push_bind(&p.lang)
                .push_bind(1_u64);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let tags: Vec<_> = chunk
            .iter()
            .flat_map(|s| s.hashtags.iter().map(move |h| (s, h)))
            .collect();
        if !tags.is_empty() {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_hashtags (post_id, tag, display, created_at) ",
            );
            q.push_values(&tags, |mut r, (s, h)| {
                r.push_bind(s.post.id)
                    .push_bind(&h.tag)
                    .push_bind(&h.display)
                    .push_bind(s.post.created_at);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mentions: Vec<_> = chunk
            .iter()
            .flat_map(|s| s.mentions.iter().map(move |m| (s, m)))
            .collect();
        if !mentions.is_empty() {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_mentions (post_id, username, user_id, created_at) ",
            );
            q.push_values(&mentions, |mut r, (s, m)| {
                r.push_bind(s.post.id)
                    .push_bind(&m.username)
                    .push_bind(m.user_id)
                    .push_bind(s.post.created_at);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let urls: Vec<_> = chunk
            .iter()
            .flat_map(|s| s.urls.iter().map(move |u| (s, u)))
            .collect();
        if !urls.is_empty() {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_urls (post_id, position, url, expanded_url, display_url, domain, created_at) ",
            );
            q.push_values(&urls, |mut r, (s, u)| {
                r.push_bind(s.post.id)
                    .push_bind(u.position)
                    .push_bind(&u.url)
                    .push_bind(&u.expanded_url)
                    .push_bind(&u.display_url)
                    .push_bind(&u.domain)
                    .push_bind(s.post.created_at);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let refs: Vec<_> = chunk
            .iter()
            .flat_map(|s| s.references.iter().map(move |r| (s, r)))
            .collect();
        if !refs.is_empty() {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_references (post_id, kind, referenced_id, referenced_author_id) ",
            );
            q.push_values(&refs, |mut r, (s, x)| {
                r.push_bind(s.post.id)
                    .push_bind(reference_kind_sql(x.kind))
                    .push_bind(x.referenced_id)
                    .push_bind(x.referenced_author_id);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let cashtags: Vec<_> = chunk
            .iter()
            .flat_map(|s| s.cashtags.iter().map(move |c| (s, c)))
            .collect();
        if !cashtags.is_empty() {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_cashtags (post_id, tag, display, created_at) ",
            );
            q.push_values(&cashtags, |mut r, (s, c)| {
                r.push_bind(s.post.id)
                    .push_bind(&c.tag)
                    .push_bind(&c.display)
                    .push_bind(s.post.created_at);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let annotations: Vec<_> = chunk
            .iter()
            .flat_map(|s| s.context_annotations.iter().map(move |c| (s, c)))
            .collect();
        if !annotations.is_empty() {
            let mut q = QueryBuilder::<MySql>::new(
                "INSERT INTO post_context_annotations \
                 (post_id, domain_id, entity_id, domain_name, entity_name, created_at) ",
            );
            q.push_values(&annotations, |mut r, (s, c)| {
                r.push_bind(s.post.id)
                    .push_bind(c.domain_id)
                    .push_bind(c.entity_id)
                    .push_bind(&c.domain_name)
                    .push_bind(&c.entity_name)
                    .push_bind(s.post.created_at);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        if n % 10 == 9 {
            tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
            tx = db.pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let hourly: Vec<_> = hourly.into_iter().collect();
    for chunk in hourly.chunks(1000) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO posts_hourly (hour, query_name, lang, topic, posts, originals, retweets, replies, quotes, sentiment_sum, positive, negative) ",
        );
        q.push_values(chunk, |mut r, ((hour, query, lang), row)| {
            r.push_bind(*hour)
                .push_bind(query)
                .push_bind(lang)
                .push_bind(&row.topic)
                .push_bind(row.posts)
                .push_bind(row.kinds[0])
                .push_bind(row.kinds[1])
                .push_bind(row.kinds[2])
                .push_bind(row.kinds[3])
                .push_bind(row.sentiment)
                .push_bind(row.positive)
                .push_bind(row.negative);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let tags: Vec<_> = tags.into_iter().collect();
    for chunk in tags.chunks(1000) {
        let mut q = QueryBuilder::<MySql>::new("INSERT INTO hashtags_daily (day, tag, posts) ");
        q.push_values(chunk, |mut r, ((day, tag), n)| {
            r.push_bind(*day).push_bind(tag).push_bind(*n);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
    let elapsed = started.elapsed();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM posts").await,
        stored.len() as i64
    );
    elapsed
}

/// A LOAD DATA field: `\N` for NULL, the default escapes otherwise.
fn field(value: Option<&str>) -> String {
    let Some(v) = value else { return "\\N".into() };
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out
}

fn opt<T: ToString>(v: Option<T>) -> String {
    field(v.map(|x| x.to_string()).as_deref())
}

fn ts(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// The same rows as tab-separated files, loaded with LOAD DATA LOCAL INFILE by the
/// `mariadb` client in one session and transaction. File writing is not timed.
async fn load_data_ceiling(db: &TestDb, stored: &[StoredPost]) -> Duration {
    let dir = temp_dir("tp-bench-load");
    let mut files: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    let mut add = |table: &'static str, columns: &'static str, line: String| {
        let entry = files
            .entry(table)
            .or_insert_with(|| (String::new(), columns));
        entry.0.push_str(&line);
        entry.0.push('\n');
    };
    for u in users(stored) {
        add(
            "users",
            "id, username, name, verified, created_at, location, followers_count, following_count, tweet_count, observed_at",
            [
                u.id.to_string(),
                field(Some(&u.username)),
                field(Some(&u.name)),
                u8::from(u.verified).to_string(),
                opt(u.created_at.map(ts)),
                field(u.location.as_deref()),
                opt(u.followers_count),
                opt(u.following_count),
                opt(u.tweet_count),
                ts(u.observed_at),
            ]
            .join("\t"),
        );
    }
    for s in stored {
        let p = &s.post;
        add(
            "posts",
            POST_COLUMNS,
            [
                p.id.to_string(),
                p.author_id.to_string(),
                ts(p.created_at),
                field(Some(&p.lang)),
                p.kind.as_sql().into(),
                field(Some(&p.text)),
                p.sentiment.to_string(),
                field(Some(&p.query_name)),
                field(Some(&p.topic)),
                field(Some(&p.pipeline)),
                opt(p.conversation_id),
                opt(p.in_reply_to_user_id),
                opt(p.retweet_count),
                opt(p.reply_count),
                opt(p.like_count),
                opt(p.quote_count),
                opt(p.impression_count),
                field(p.place_id.as_deref()),
                field(p.place_name.as_deref()),
                field(p.country_code.as_deref()),
                opt(p.possibly_sensitive.map(u8::from)),
                ts(p.collected_at),
                "1".into(),
            ]
            .join("\t"),
        );
        add(
            "post_queries",
            "post_id, query_name, topic, created_at, lang, load_id",
            [
                p.id.to_string(),
                field(Some(&p.query_name)),
                field(Some(&p.topic)),
                ts(p.created_at),
                field(Some(&p.lang)),
                "1".into(),
            ]
            .join("\t"),
        );
        for h in &s.hashtags {
            add(
                "post_hashtags",
                "post_id, tag, display, created_at",
                [
                    p.id.to_string(),
                    field(Some(&h.tag)),
                    field(Some(&h.display)),
                    ts(p.created_at),
                ]
                .join("\t"),
            );
        }
        for m in &s.mentions {
            add(
                "post_mentions",
                "post_id, username, user_id, created_at",
                [
                    p.id.to_string(),
                    field(Some(&m.username)),
                    opt(m.user_id),
                    ts(p.created_at),
                ]
                .join("\t"),
            );
        }
        for u in &s.urls {
            add(
                "post_urls",
                "post_id, position, url, expanded_url, display_url, domain, created_at",
                [
                    p.id.to_string(),
                    u.position.to_string(),
                    field(Some(&u.url)),
                    field(u.expanded_url.as_deref()),
                    field(u.display_url.as_deref()),
                    field(u.domain.as_deref()),
                    ts(p.created_at),
                ]
                .join("\t"),
            );
        }
        for c in &s.cashtags {
            add(
                "post_cashtags",
                "post_id, tag, display, created_at",
                [
                    p.id.to_string(),
                    field(Some(&c.tag)),
                    field(Some(&c.display)),
                    ts(p.created_at),
                ]
                .join("\t"),
            );
        }
        for c in &s.context_annotations {
            add(
                "post_context_annotations",
                "post_id, domain_id, entity_id, domain_name, entity_name, created_at",
                [
                    p.id.to_string(),
                    c.domain_id.to_string(),
                    c.entity_id.to_string(),
                    field(Some(&c.domain_name)),
                    field(Some(&c.entity_name)),
                    ts(p.created_at),
                ]
                .join("\t"),
            );
        }
        for r in &s.references {
            add(
                "post_references",
                "post_id, kind, referenced_id, referenced_author_id",
                [
                    p.id.to_string(),
                    reference_kind_sql(r.kind).into(),
                    r.referenced_id.to_string(),
                    opt(r.referenced_author_id),
                ]
                .join("\t"),
            );
        }
    }
    for ((hour, query, lang), r) in hourly(stored) {
        add(
            "posts_hourly",
            "hour, query_name, lang, topic, posts, originals, retweets, replies, quotes, sentiment_sum, positive, negative",
            [
                ts(hour),
                field(Some(&query)),
                field(Some(&lang)),
                field(Some(&r.topic)),
                r.posts.to_string(),
                r.kinds[0].to_string(),
                r.kinds[1].to_string(),
                r.kinds[2].to_string(),
                r.kinds[3].to_string(),
                r.sentiment.to_string(),
                r.positive.to_string(),
                r.negative.to_string(),
            ]
            .join("\t"),
        );
    }
    for ((day, tag), n) in daily_tags(stored) {
        add(
            "hashtags_daily",
            "day, tag, posts",
            [day.to_string(), field(Some(&tag)), n.to_string()].join("\t"),
        );
    }
    let mut script = String::from("SET autocommit = 0;\nSET unique_checks = 0;\n");
    for (table, (content, columns)) in &files {
        let path = dir.join(format!("{table}.tsv"));
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
        let _ = writeln!(
            script,
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE {table} CHARACTER SET utf8mb4 ({columns});",
            path.display()
        );
    }
    script.push_str("COMMIT;\n");
    let (user, password, host, port) = mysql_parts(&db.url);
    let started = Instant::now();
    let output = Command::new("mariadb")
        .args([
            "--local-infile=1",
            "-h",
            &host,
            "-P",
            &port,
            "-u",
            &user,
            &db.name,
            "-e",
            &script,
        ])
        .env("MYSQL_PWD", password)
        .output()
        .unwrap_or_else(|e| panic!("mariadb client: {e}"));
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "LOAD DATA failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM posts").await,
        stored.len() as i64
    );
    let _ = std::fs::remove_dir_all(&dir);
    elapsed
}

/// user, password, host, port of `mysql://user:password@host:port/db`.
fn mysql_parts(url: &str) -> (String, String, String, String) {
    let rest = url.trim_start_matches("mysql://");
    let (credentials, address) = rest.rsplit_once('@').unwrap_or(("root:", rest));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let address = address.split('/').next().unwrap_or(address);
    let (host, port) = address.split_once(':').unwrap_or((address, "3306"));
    (user.into(), password.into(), host.into(), port.into())
}
