//! Kafka stopped and restarted under a running extractor: it stops being ready, retries the same
//! page with backoff, and once Kafka is back every post arrives exactly once.
//!
//! The test runs its own single-node broker (the local platform's Kafka jars, its own ports and
//! data directory) so that stopping it cannot disturb other tests using the shared broker.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;
use tokio_util::sync::CancellationToken;
use tweetpipe_testkit::checkpoints::{caught_up, wait_for_checkpoints};
use tweetpipe_testkit::files::temp_dir;
use tweetpipe_testkit::ports::free_port;
use tweetpipe_testkit::records::{assert_exactly, read_posts_async};
use xapi_simulator::FaultConfig;

struct PrivateKafka {
    dir: PathBuf,
    port: u16,
    java: Vec<String>,
    child: Option<Child>,
}

fn kafka_libs() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let versions = std::fs::read_to_string(root.join("dev/platform/versions.env"))
        .expect("dev/platform/versions.env");
    let version = versions
        .lines()
        .find_map(|l| l.strip_prefix("KAFKA_VERSION="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("KAFKA_VERSION in versions.env");
    let cache = std::env::var("TWEETPIPE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/tweetpipe")
        });
    let libs = cache.join(format!("kafka-{version}/libs"));
    assert!(
        libs.is_dir(),
        "Kafka jars not found at {}; run `make platform-up` first",
        libs.display()
    );
    libs
}

impl PrivateKafka {
    fn new() -> Self {
        let dir = temp_dir("private-kafka");
        let (port, controller) = (free_port(), free_port());
        std::fs::write(
            dir.join("server.properties"),
            format!(
                "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 inter.broker.listener.name=PLAINTEXT\ncontroller.listener.names=CONTROLLER\n\
                 log.dirs={}\nnum.partitions=1\noffsets.topic.replication.factor=1\n\
                 transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
                 share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\nauto.create.topics.enable=false\n",
                dir.join("data").display()
            ),
        )
        .expect("server.properties");
        std::fs::write(
            dir.join("log4j2.properties"),
            "rootLogger.level=WARN\nrootLogger.appenderRef.stdout.ref=STDOUT\nappender.stdout.type=Console\n\
             appender.stdout.name=STDOUT\nappender.stdout.layout.type=PatternLayout\n\
             appender.stdout.layout.pattern=[%d] %p %m (%c)%n\n",
        )
        .expect("log4j2.properties");
        let java = vec![
            "-Xms128m".to_string(),
            "-Xmx384m".to_string(),
            format!(
                "-Dlog4j2.configurationFile={}",
                dir.join("log4j2.properties").display()
            ),
            "-cp".to_string(),
            format!("{}/*", kafka_libs().display()),
        ];
        let status = Command::new("java")
            .args(&java)
            .args([
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                "MkU3OEVBNTcwNTJENDM2Qk",
                "-c",
            ])
            .arg(dir.join("server.properties"))
            .stdout(Stdio::null())
            .status()
            .expect("java");
        assert!(
            status.success(),
            "formatting the private Kafka's storage failed"
        );
        PrivateKafka {
            dir,
            port,
            java,
            child: None,
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("kafka.log"))
            .expect("log");
        let child = Command::new("java")
            .args(&self.java)
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start Kafka");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", self.bootstrap())
                .create()
                .expect("admin");
        loop {
            let brokers = admin
                .inner()
                .fetch_metadata(None, Duration::from_secs(2))
                .map(|m| m.brokers().len());
            if brokers.as_ref().is_ok_and(|n| *n > 0) {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the private Kafka on {} did not {} (it exited: {exited:?}; last metadata answer: \
                 {brokers:?}); the end of its log:\n{}",
                self.bootstrap(),
                if self.dir.join("data").join("__cluster_metadata-0").exists() {
                    "come back"
                } else {
                    "start"
                },
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("kafka.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the broker abruptly (SIGKILL), as a crash or a lost node would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    let topic = setup.topic.clone();

    let sim = simulator(1500, token_config(10, 2, 1_000_000), FaultConfig::default()).await;
    let expected = sim.handle.matching_ids("covid").expect("query");
    let config = parse_config(setup.config(&sim, 10, 2, 20, &[("all", "covid")]));
    let cancel = CancellationToken::new();
    let running = tweetpipe_extractor::start(config, 0, cancel.clone())
        .await
        .expect("start");
    let readyz = format!("http://{}/readyz", running.ops_addr);
    // Every request bounded: a stalled ops server fails the test instead of hanging it.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");

    wait_for_checkpoints(&bootstrap, &topic, Duration::from_secs(120), |cps| {
        cps.get("all").is_some_and(|cp| cp.posts_total >= 200)
    })
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

    wait_for_checkpoints(&bootstrap, &topic, Duration::from_secs(240), |cps| {
        caught_up(cps, "all", &expected[0])
    })
    .await;
    let metrics = http
        .get(format!("http://{}/metrics", running.ops_addr))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    cancel.cancel();
    running.task.await.expect("task").expect("extractor run");
    assert!(
        !metrics.contains("tweetpipe_extractor_kafka_errors_total 0"),
        "{metrics}"
    );
    let records = read_posts_async(&bootstrap, &topic).await;
    assert_exactly(&records, &expected, "all");
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
