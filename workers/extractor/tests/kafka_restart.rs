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
    let (stopped, stopped_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(runtime);
        let _ = stopped.send(());
    });
    assert!(
        stopped_rx.recv_timeout(Duration::from_secs(60)).is_ok(),
        "the runtime did not stop within 60 s after read_checkpoints failed ({error}): a blocking \
         task is still waiting on the unreachable Kafka {unreachable}"
    );
}
