//! A MariaDB server of a test's own with TLS, made by the platform's own script
//! (`dev/platform/mariadb.sh private`, `run`) with the platform's TLS settings and a CA of its own
//! (`pki.sh mariadb`): what the platform's MariaDB serves once restarted with this change, without
//! touching the shared server. Root logs in without a password on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Connection};

use crate::files::temp_dir;
use crate::ports::free_port;
use crate::process::{ChildGuard, spawn_logged};

/// A running private server; stopped and its directory removed on drop.
pub struct PrivateTlsMariaDb {
    pub dir: PathBuf,
    pub port: u16,
    server: Option<ChildGuard>,
}

fn mariadb_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../platform/mariadb.sh")
}

impl PrivateTlsMariaDb {
    /// Configures (certificates, data directory) and starts the server, then waits until root
    /// logs in. Blocking (a few seconds); call it from `spawn_blocking` in async tests.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// [`Self::start`], listening on the pod bridge address too (pods and a host operator reach
    /// it there; the certificate names it). Needs the platform's network (`make platform-up`).
    pub fn start_for_pods() -> Self {
        Self::start_with(true)
    }

    fn start_with(pods: bool) -> Self {
        let dir = temp_dir("private-tls-mariadb");
        let port = free_port();
        let dir_arg = dir.display().to_string();
        let mut args = vec!["private".to_owned(), dir_arg.clone(), port.to_string()];
        if pods {
            args.push("pods".to_owned());
        }
        let output = Command::new("bash")
            .arg(mariadb_script())
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("bash mariadb.sh private: {e}"));
        assert!(
            output.status.success(),
            "mariadb.sh private failed (is mariadbd installed? dev/platform/install-deps.sh): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut command = Command::new("bash");
        command.arg(mariadb_script()).args(["run", &dir_arg]);
        let server = ChildGuard(spawn_logged(command, &dir.join("mariadb.log")));
        let db = PrivateTlsMariaDb {
            dir,
            port,
            server: Some(server),
        };
        db.wait_until_serving();
        db
    }

    fn wait_until_serving(&self) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let options = self.root_options().ssl_mode(MySqlSslMode::Disabled);
            let connected = runtime.block_on(async move {
                match options.connect().await {
                    Ok(conn) => conn.close().await.is_ok(),
                    Err(_) => false,
                }
            });
            if connected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "private MariaDB did not start; see {}",
                self.dir.join("mariadb.log").display()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The PEM CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("pki/ca.crt")
    }

    /// The CA's PEM text.
    pub fn ca_pem(&self) -> Vec<u8> {
        read(&self.ca_file())
    }

    /// Root on `127.0.0.1` (no password), with sqlx's default `ssl-mode` (PREFERRED).
    pub fn root_options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("root")
    }

    /// Creates `root@'%'` with `password` and every privilege (what a remote admin URL logs in
    /// as: root on loopback has no password and is reachable from loopback only).
    pub async fn create_remote_root(&self, password: &str) {
        let mut conn = self
            .root_options()
            .ssl_mode(MySqlSslMode::Disabled)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect as root: {e}"));
        for statement in [
            format!("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{password}'"),
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION".to_owned(),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("remote root: {e}"));
        }
        conn.close().await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// `mysql://root@127.0.0.1:port` with `query` appended (e.g. `?ssl-mode=VERIFY_IDENTITY`).
    pub fn root_url(&self, query: &str) -> String {
        format!("mysql://root@127.0.0.1:{}{query}", self.port)
    }
}

/// A CA that signed nothing this server presents (made by `pki.sh mariadb` in a scratch
/// directory): what a client configured with the wrong CA trusts.
pub fn unrelated_ca_file() -> PathBuf {
    let dir = temp_dir("unrelated-mariadb-ca");
    let output = Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../platform/pki.sh"))
        .args(["mariadb", &dir.display().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("bash pki.sh mariadb: {e}"));
    assert!(output.status.success(), "pki.sh mariadb failed");
    dir.join("ca.crt")
}

/// An address of this machine that the server listens on but its certificate does not name.
pub const UNNAMED_HOST: &str = "127.0.0.2";

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

impl Drop for PrivateTlsMariaDb {
    fn drop(&mut self) {
        // The server first (ChildGuard kills and reaps it), then its files.
        self.server.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
