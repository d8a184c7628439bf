//! A single-node Kafka broker of a test's own (the platform's Kafka jars, its own ports and data
//! directory), for tests that stop and restart a broker: stopping it cannot disturb other tests
//! on the shared one. Blocking calls (seconds); use `spawn_blocking` in async tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::files::temp_dir;
use crate::kafka_cut::KafkaCut;
use crate::ports::free_port;

/// A broker started by [`PrivateKafka::start`]; killed and its directory removed on drop.
pub struct PrivateKafka {
    dir: PathBuf,
    /// Where clients connect: the broker's own port, or its proxy's (see [`PrivateKafka::behind`]).
    port: u16,
    cut: Option<KafkaCut>,
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

impl Default for PrivateKafka {
    fn default() -> Self {
        Self::new()
    }
}

impl PrivateKafka {
    /// Writes its configuration and formats its storage (KRaft, broker and controller in one).
    pub fn new() -> Self {
        let port = free_port();
        Self::configure(port, port, None)
    }

    /// A broker reached only through a [`KafkaCut`] proxy (it advertises the proxy's address),
    /// so that a test can make it vanish at a chosen request; see [`PrivateKafka::cut`].
    pub fn behind_cut() -> Self {
        let port = free_port();
        let cut = KafkaCut::start(port);
        Self::configure(port, cut.port(), Some(cut))
    }

    /// The proxy of [`PrivateKafka::behind_cut`].
    pub fn cut(&self) -> &KafkaCut {
        self.cut
            .as_ref()
            .expect("a PrivateKafka made with behind_cut()")
    }

    fn configure(port: u16, advertised: u16, cut: Option<KafkaCut>) -> Self {
        let dir = temp_dir("private-kafka");
        let controller = free_port();
        std::fs::write(
            dir.join("server.properties"),
            format!(
                "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{advertised}\n\
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
            port: advertised,
            cut,
            java,
            child: None,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts) the broker and waits until it answers metadata; panics with the end
    /// of its log if it exits or takes over 120 s.
    pub fn start(&mut self) {
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

    /// The last 30 lines of its log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("kafka.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the broker abruptly (SIGKILL), as a crash or a lost node would.
    pub fn kill(&mut self) {
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
