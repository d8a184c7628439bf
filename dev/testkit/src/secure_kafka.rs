//! A Kafka broker of a test's own with a SASL_SSL listener (SCRAM-SHA-512, a CA of its own), made
//! by the platform's own script (`dev/platform/kafka.sh private-secured`, `run`, `scram-users`)
//! from the platform's Kafka jars: the same listener settings as the platform's secured one,
//! without touching the shared broker. A plaintext listener beside it serves topic set-up.
//! Optionally ([`BrokerOptions`]) also an SSL listener that requires client certificates
//! (mutual TLS), SCRAM-SHA-256 credentials and SASL/PLAIN.

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

/// What a private broker offers beyond SASL_SSL with SCRAM-SHA-512.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrokerOptions {
    /// Kafka's ACL authorizer (the SASL users may do only what [`PrivateSecuredKafka::acls`]
    /// grants; the plaintext listener stays a super user, for set-up).
    pub acls: bool,
    /// An `SSL` listener with `ssl.client.auth=required`, trusting the broker's own CA.
    pub mutual_tls: bool,
    /// SCRAM-SHA-256 credentials for the users, beside the SCRAM-SHA-512 ones.
    pub scram_sha_256: bool,
    /// SASL/PLAIN on the SASL_SSL listener, for the same users and passwords.
    pub plain: bool,
}

/// A running private broker; stopped and its directory removed on drop.
pub struct PrivateSecuredKafka {
    pub dir: PathBuf,
    /// `127.0.0.1:port` of the plaintext listener (topic set-up, inter-broker).
    pub plaintext: String,
    /// `127.0.0.1:port` of the SASL_SSL listener.
    pub secure: String,
    /// `127.0.0.1:port` of the mutual-TLS listener, when [`BrokerOptions::mutual_tls`].
    pub mutual_tls: Option<String>,
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
        Self::start_with(BrokerOptions::default())
    }

    /// [`Self::start`] with Kafka's ACL authorizer on: the SASL users may do only what
    /// [`Self::acls`] grants (the plaintext listener stays a super user, for set-up).
    pub fn start_with_acls() -> Self {
        Self::start_with(BrokerOptions {
            acls: true,
            ..BrokerOptions::default()
        })
    }

    /// [`Self::start_with_acls`] from an async test (on a blocking thread), shared for
    /// [`Self::acls_off_runtime`].
    pub async fn start_with_acls_off_runtime() -> std::sync::Arc<Self> {
        let kafka = tokio::task::spawn_blocking(Self::start_with_acls)
            .await
            .expect("private Kafka with ACLs");
        std::sync::Arc::new(kafka)
    }

    /// [`Self::start`] with the listeners and credentials `options` asks for.
    pub fn start_with(options: BrokerOptions) -> Self {
        let dir = temp_dir("private-secured-kafka");
        let (plain, controller, secure) = (free_port(), free_port(), free_port());
        let mutual_tls_port = options.mutual_tls.then(free_port);
        let dir_arg = dir.display().to_string();
        let mut args = vec![
            "private-secured".to_string(),
            dir_arg.clone(),
            plain.to_string(),
            controller.to_string(),
            secure.to_string(),
        ];
        if options.acls {
            args.push("acls".into());
        }
        if let Some(port) = mutual_tls_port {
            args.push(format!("mtls={port}"));
        }
        if options.plain {
            args.push("plain".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_script(&args, &dir.join("setup.log"));
        let mut command = Command::new("bash");
        command.arg(kafka_script()).args(["run", &dir_arg]);
        let broker = ChildGuard(spawn_logged(command, &dir.join("kafka.log")));
        let kafka = PrivateSecuredKafka {
            plaintext: format!("127.0.0.1:{plain}"),
            secure: format!("127.0.0.1:{secure}"),
            mutual_tls: mutual_tls_port.map(|port| format!("127.0.0.1:{port}")),
            dir,
            broker: Some(broker),
        };
        kafka.wait_until_serving();
        let secure_dir = format!("{dir_arg}/secure");
        let mut users = vec![
            "scram-users",
            &kafka.plaintext,
            &secure_dir,
            "SCRAM-SHA-512",
        ];
        if options.scram_sha_256 {
            users.push("SCRAM-SHA-256");
        }
        run_script(&users, &kafka.dir.join("scram-users.log"));
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

    /// [`Self::acls`] off the async runtime (each call starts a JVM).
    pub async fn acls_off_runtime(self: &std::sync::Arc<Self>, args: Vec<String>) {
        let kafka = std::sync::Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kafka.acls(&args);
        })
        .await
        .expect("the AclCommand task");
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

    /// [`Self::settings`] with another SASL `mechanism` (`SCRAM-SHA-256`, `PLAIN`), which the
    /// broker must have been started for ([`BrokerOptions`]).
    pub fn settings_with_mechanism(
        &self,
        topic: &str,
        user: &str,
        mechanism: &str,
    ) -> KafkaSettings {
        KafkaSettings {
            sasl_mechanism: Some(mechanism.into()),
            ..self.settings(topic, user)
        }
    }

    /// A client certificate and key (`CN=name`) signed by this broker's CA (`pki.sh
    /// kafka-client`): the files a `kubernetes.io/tls` Secret would present. Blocking.
    pub fn client_certificate(&self, name: &str) -> (PathBuf, PathBuf) {
        let secure = self.dir.join("secure");
        let output = Command::new("bash")
            .arg(kafka_script().with_file_name("pki.sh"))
            .arg("kafka-client")
            .arg(&secure)
            .arg(name)
            .output()
            .unwrap_or_else(|e| panic!("bash pki.sh kafka-client: {e}"));
        assert!(
            output.status.success(),
            "pki.sh kafka-client failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let clients = secure.join("clients");
        (
            clients.join(format!("{name}.crt")),
            clients.join(format!("{name}.key")),
        )
    }

    /// Worker settings for the mutual-TLS listener (`security_protocol: ssl`): this broker's CA
    /// and, when given, a client certificate and key. Panics unless started with
    /// [`BrokerOptions::mutual_tls`].
    pub fn mutual_tls_settings(
        &self,
        topic: &str,
        client: Option<(PathBuf, PathBuf)>,
    ) -> KafkaSettings {
        let bootstrap = self
            .mutual_tls
            .as_deref()
            .unwrap_or_else(|| panic!("broker started without BrokerOptions::mutual_tls"));
        let (certificate, key) = client.unzip();
        KafkaSettings {
            security_protocol: SecurityProtocol::Ssl,
            ssl_ca_file: Some(self.ca_file()),
            ssl_certificate_file: certificate,
            ssl_key_file: key,
            ..KafkaSettings::plaintext(bootstrap, topic)
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
