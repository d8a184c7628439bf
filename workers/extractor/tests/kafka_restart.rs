//! Kafka stopped and restarted under a running extractor: it stops being ready, retries the same
//! page with backoff, and once Kafka is back every post arrives exactly once.
//!
//! The test runs its own single-node broker (`tweetpipe_testkit::private_kafka`) so that stopping
//! it cannot disturb other tests using the shared broker.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tweetpipe_testkit::ports::free_port;
use tweetpipe_testkit::private_kafka::PrivateKafka;
use tweetpipe_testkit::records::assert_exactly;
use xapi_simulator::FaultConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stopped_then_restarted_loses_and_duplicates_nothing() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let mut kafka = tokio::task::spawn_blocking(|| {
        let mut k = PrivateKafka::new();
        k.start();
        k
    })
    .await
    .expect("private kafka");
    let bootstrap = kafka.bootstrap();
    let setup = Setup::new(&bootstrap, "kafka-restart").await;

    let sim = simulator(1500, token_config(10, 2, 1_000_000), FaultConfig::default()).await;
    let expected = sim.handle.matching_ids("covid").expect("query");
    let config = parse_config(setup.config(&sim, 10, 2, 20, &[("all", "covid")]));
    let extractor = Extractor::start(&config, 0).await;
    let ops_addr = extractor.running.ops_addr;
    let readyz = format!("http://{ops_addr}/readyz");
    // Every request bounded: a stalled ops server fails the test instead of hanging it.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");

    setup
        .wait_for_checkpoints(Duration::from_secs(120), |cps| collected(cps, "all", 200))
        .await;
    kafka = tokio::task::spawn_blocking(move || {
        kafka.kill();
        kafka
    })
    .await
    .expect("kill");
    // While Kafka is down the extractor reports not ready.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = http.get(&readyz).send().await.map(|r| r.status().as_u16());
        if status.as_ref().is_ok_and(|s| *s == 503) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "extractor still ready a minute after Kafka died (last /readyz answer: {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kafka = tokio::task::spawn_blocking(move || {
        kafka.start();
        kafka
    })
    .await
    .expect("restart");

    setup
        .wait_caught_up("all", &expected[0], Duration::from_secs(240))
        .await;
    let metrics = http
        .get(format!("http://{ops_addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    extractor.stop().await;
    assert!(
        !metrics.contains("tweetpipe_extractor_kafka_errors_total 0"),
        "{metrics}"
    );
    assert_exactly(&setup.records().await, &expected, "all");
    drop(kafka);
    sim.stop().await;
}

/// Reading the checkpoints while Kafka is unreachable fails within its deadline, and leaves
/// nothing behind that keeps the runtime from shutting down: the reader's close (a consumer with a
/// group id can wait for the group coordinator) happens on a thread of its own, not in the blocking
/// pool the runtime waits for.
#[test]
fn reading_checkpoints_from_an_unreachable_kafka_fails_and_lets_the_runtime_stop() {
    tweetpipe_testkit::telemetry::install("extractor-tests");
    let unreachable = format!("127.0.0.1:{}", free_port());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &unreachable);
    let read = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            tweetpipe_extractor::sink::read_checkpoints(
                config,
                "tweets.checkpoints",
                Duration::from_secs(2),
            ),
        )
        .await
    });
    let error = read
        .expect("read_checkpoints did not return within 60 s (its own timeout is 2 s)")
        .expect_err("nothing to read from an unreachable Kafka");
    assert_stops_within_a_minute(
        runtime,
        &format!(
            "after read_checkpoints failed ({error}): a blocking task is still waiting on the \
             unreachable Kafka {unreachable}"
        ),
    );
}

/// The broker vanishes in the middle of a transaction, right when the producer sends the
/// transaction's offsets to the group coordinator (after AddOffsetsToTxn succeeded):
/// librdkafka's `send_offsets_to_transaction` then ignores its timeout for as long as the
/// coordinator is down (confluentinc/librdkafka#5456, open in the 2.12 we build). That held an
/// extractor's write for ever in a CI run (stack in issue 18's note): the replica never turned not
/// ready and its runtime could not stop. `write_page` must fail within its deadline, the sink must
/// write the same page once Kafka is back (with a new producer), the page must be in Kafka once,
/// and the stuck call must not keep the runtime from stopping.
#[test]
fn a_broker_lost_mid_transaction_fails_the_page_in_time_and_it_lands_once_when_back() {
    use rdkafka::Message;
    use rdkafka::consumer::Consumer;
    use std::sync::Arc;
    use tweetpipe_common::contract::checkpoint::Checkpoint;
    use tweetpipe_common::contract::topics;
    use tweetpipe_extractor::sink::{PageRecords, Sink, SlotFence, next_page_id};

    tweetpipe_testkit::telemetry::install("extractor-tests");
    let kafka_timeout = Duration::from_secs(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut kafka = PrivateKafka::behind_cut();
    kafka.start();
    let bootstrap = kafka.bootstrap();
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", &bootstrap);
    let page = |query: &str, key: &str| {
        Arc::new(PageRecords {
            id: next_page_id(),
            query: query.into(),
            posts: vec![(key.to_string(), b"not avro: never decoded here".to_vec())],
            checkpoint: Checkpoint::new(query, "2026-12"),
            trace_headers: vec![],
            received_at_ms: 0,
        })
    };

    let (setup, member, mut sink) = runtime.block_on(async {
        let setup = Setup::new(&bootstrap, "stuck-txn").await;
        let member = tweetpipe_testkit::kafka::group_member(&bootstrap, &setup.topic);
        // A broker just started may still be loading its transaction coordinator.
        let deadline = Instant::now() + Duration::from_secs(60);
        let sink = loop {
            match Sink::connect(
                config.clone(),
                &format!("{}-txn", setup.topic),
                &setup.topic,
                &topics::checkpoint_topic(&setup.topic),
                &[],
                kafka_timeout,
            )
            .await
            {
                Ok(sink) => break sink,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "no transactional producer on the private broker within 60 s; last: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        (setup, member, sink)
    });
    let fence = || SlotFence {
        offsets: {
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(&setup.topic, 0, rdkafka::Offset::Offset(0))
                .expect("offset");
            tpl
        },
        group: member.group_metadata().expect("group metadata of a member"),
    };
    runtime
        .block_on(sink.write_page(page("before", "1"), Some(fence())))
        .expect("a page while Kafka is up");

    kafka
        .cut()
        .cut_on(tweetpipe_testkit::kafka_cut::api::TXN_OFFSET_COMMIT);
    let during = page("during", "2");
    let started = Instant::now();
    let failed = runtime
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(90),
                sink.write_page(during.clone(), Some(fence())),
            )
            .await
        })
        .unwrap_or_else(|_| {
            panic!(
                "write_page did not return within 90 s of the broker vanishing (its Kafka timeout \
                 is {kafka_timeout:?}): stuck in librdkafka, so the extractor would stay ready \
                 and its runtime could not stop"
            )
        })
        .expect_err("no transaction can commit without the broker");
    eprintln!("write_page failed after {:?}: {failed}", started.elapsed());
    assert!(
        kafka.cut().cut_happened(),
        "the broker was to vanish at the transaction's TxnOffsetCommit, which never came; \
         write_page failed earlier: {failed}"
    );

    kafka.cut().restore();
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = failed.to_string();
        loop {
            assert!(
                Instant::now() < deadline,
                "the page written while the broker was gone did not commit within 120 s of its \
                 return; last error: {last}"
            );
            match sink.write_page(during.clone(), Some(fence())).await {
                Ok(()) => break,
                Err(e) => {
                    if e.needs_new_producer() || e.is_fenced() {
                        if let Err(e) = sink.reconnect().await {
                            last = format!("new producer: {e}");
                        }
                    } else {
                        last = e.to_string();
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    let mut keys = Vec::new();
    tweetpipe_testkit::kafka::read_committed(&bootstrap, &setup.topic, |m| {
        keys.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
    })
    .expect("read the posts");
    keys.sort();
    assert_eq!(keys, ["1", "2"], "each page's post exactly once");

    tweetpipe_common::kafka::retire(member);
    drop(sink);
    assert_stops_within_a_minute(
        runtime,
        "after the page landed: a task still waits inside librdkafka",
    );
    drop(kafka);
}

/// Drops `runtime` (which waits for its tasks, blocking ones included) and fails, saying `why`,
/// when that takes over a minute.
fn assert_stops_within_a_minute(runtime: tokio::runtime::Runtime, why: &str) {
    let (stopped, stopped_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(runtime);
        let _ = stopped.send(());
    });
    assert!(
        stopped_rx.recv_timeout(Duration::from_secs(60)).is_ok(),
        "the runtime did not stop within 60 s {why}"
    );
}
