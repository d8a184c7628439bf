//! A Kafka broker of a test's own with a SASL_SSL listener (SCRAM-SHA-512, a CA of its own), made
//! by the platform's own script (`dev/platform/kafka.sh private-secured`, `run`, `scram-users`)
//! from the platform's Kafka jars: the same listener settings as the platform's secured one,
//! without touching the shared broker. A plaintext listener beside it serves topic set-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use tweetpipe_common::contract::kafka::{KafkaSettings, SecurityProtocol};

use crate::files::temp_dir;
use crate::ports::free_port;
use crate::process::{ChildGuard, spawn_logged};

/// The workers' SCRAM user (the platform's `tweetpipe`).
pub const WORKER_USER: &str = "tweetpipe";
/// The operator's SCRAM user (the platform's `tweetpipe-admin`).
pub const ADMIN_USER: &str = "tweetpipe-admin";

/// A running private broker; stopped and its directory removed on drop.
pub struct PrivateSecuredKafka {
    pub dir: PathBuf,
    /// `127.0.0.1:port` of the plaintext listener (topic set-up, inter-broker).
    pub plaintext: String,
    /// `127.0.0.1:port` of the SASL_SSL listener.
    pub secure: String,
    broker: Option<ChildGuard>,
}

fn kafka_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../platform/kafka.sh")
}

fn run_script(args: &[&str], log: &Path) {
    let output = Command::new("bash")
        .arg(kafka_script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bash kafka.sh {}: {e}", args[0]));
    std::fs::write(log, [output.stdout, output.stderr].concat()).ok();
    assert!(
        output.status.success(),
        "kafka.sh {} failed (run `make platform-up` once for the Kafka jars); see {}",
        args[0],
        log.display()
    );
}

impl PrivateSecuredKafka {
    /// Configures, formats and starts the broker, waits until it serves metadata, then creates
    /// its SCRAM users. Blocking (about 15 s); call it from `spawn_blocking` in async tests.
    pub fn start() -> Self {
        Self::start_as(false)
    }

    /// [`Self::start`] with Kafka's ACL authorizer on: the SASL users may do only what
    /// [`Self::acls`] grants (the plaintext listener stays a super user, for set-up).
    pub fn start_with_acls() -> Self {
        Self::start_as(true)
    }

    fn start_as(authorizer: bool) -> Self {
        let dir = temp_dir("private-secured-kafka");
        let (plain, controller, secure) = (free_port(), free_port(), free_port());
        let dir_arg = dir.display().to_string();
        let (plain_arg, controller_arg, secure_arg) = (
            plain.to_string(),
            controller.to_string(),
            secure.to_string(),
        );
        let mut args = vec![
            "private-secured",
            &dir_arg,
            &plain_arg,
            &controller_arg,
            &secure_arg,
        ];
        if authorizer {
            args.push("acls");
        }
        run_script(&args, &dir.join("setup.log"));
        let mut command = Command::new("bash");
        command.arg(kafka_script()).args(["run", &dir_arg]);
        let broker = ChildGuard(spawn_logged(command, &dir.join("kafka.log")));
        let kafka = PrivateSecuredKafka {
            plaintext: format!("127.0.0.1:{plain}"),
            secure: format!("127.0.0.1:{secure}"),
            dir,
            broker: Some(broker),
        };
        kafka.wait_until_serving();
        run_script(
            &[
                "scram-users",
                &kafka.plaintext,
                &format!("{dir_arg}/secure"),
            ],
            &kafka.dir.join("scram-users.log"),
        );
        kafka
    }

    fn wait_until_serving(&self) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.plaintext)
            .create()
            .unwrap_or_else(|e| panic!("admin: {e}"));
        let deadline = Instant::now() + Duration::from_secs(120);
        while admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(2))
            .map(|m| m.brokers().len())
            .unwrap_or(0)
            == 0
        {
            assert!(
                Instant::now() < deadline,
                "private secured Kafka did not start; see {}",
                self.dir.join("kafka.log").display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Runs Kafka's `AclCommand` with `args` (e.g. `--add --allow-principal User:tweetpipe
    /// --operation Write --topic t`) through the plaintext listener. Blocking (a JVM start).
    pub fn acls(&self, args: &[&str]) {
        let mut all = vec!["acls", self.plaintext.as_str()];
        all.extend_from_slice(args);
        run_script(&all, &self.dir.join("acls.log"));
    }

    /// The PEM CA that signed the broker's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("secure/ca.crt")
    }

    /// The username and password files of `user` (as a mounted Secret presents them).
    pub fn user_files(&self, user: &str) -> (PathBuf, PathBuf) {
        let dir = self.dir.join("secure/users").join(user);
        (dir.join("username"), dir.join("password"))
    }

    /// Worker settings for the SASL_SSL listener: SCRAM-SHA-512 as `user`, this broker's CA.
    pub fn settings(&self, topic: &str, user: &str) -> KafkaSettings {
        let (username, password) = self.user_files(user);
        KafkaSettings {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username_file: Some(username),
            sasl_password_file: Some(password),
            ssl_ca_file: Some(self.ca_file()),
            ..KafkaSettings::plaintext(&self.secure, topic)
        }
    }
}

impl Drop for PrivateSecuredKafka {
    fn drop(&mut self) {
        // The broker first (ChildGuard kills and reaps it), then its files.
        self.broker.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
