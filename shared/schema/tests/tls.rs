//! MySQL over TLS on a real MariaDB: a server of the test's own started by the platform's script
//! with the platform's TLS settings (`mariadb.sh private`), so the shared server is untouched.
//! Server verification against the CA, refusals (wrong CA, a host the certificate does not
//! name), and accounts made `REQUIRE SSL`.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{ConnectOptions, Connection, MySqlPool};
use tweetpipe_schema::{
    AccountOutcome, AccountSpec, Role, TlsFailure, TransportRequirement, ensure_account,
    tls_failure, transport_requirement,
};
use tweetpipe_testkit::private_mysql::{PrivateTlsMariaDb, UNNAMED_HOST, unrelated_ca_file};

async fn start_server() -> PrivateTlsMariaDb {
    tokio::task::spawn_blocking(PrivateTlsMariaDb::start)
        .await
        .unwrap_or_else(|e| panic!("start private MariaDB: {e}"))
}

/// The cipher the session negotiated; empty in plaintext.
async fn session_cipher(conn: &mut MySqlConnection) -> String {
    let row: (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("Ssl_cipher: {e}"));
    row.1
}

async fn connect(options: MySqlConnectOptions) -> Result<MySqlConnection, sqlx::Error> {
    options.connect().await
}

/// The error of a connection that must be refused; `what` it would have meant, in a failure.
async fn refused(options: MySqlConnectOptions, what: &str) -> sqlx::Error {
    connect(options)
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}"))
}

/// The TLS failure of a connection that must be refused for it; `what` as in [`refused`].
async fn tls_refused(options: MySqlConnectOptions, what: &str) -> TlsFailure {
    let err = refused(options, what).await;
    tls_failure(&err).unwrap_or_else(|| panic!("not a TLS failure: {err:?}"))
}

/// [`ensure_account`], which must succeed; `what` names the call in a failure.
async fn ensure(admin: &MySqlPool, spec: &AccountSpec<'_>, what: &str) -> AccountOutcome {
    ensure_account(admin, spec)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_verified_against_its_ca_and_refused_with_a_wrong_ca_or_host() {
    let server = start_server().await;

    // Verified, name included (127.0.0.1 is on the certificate), from options and from a URL.
    let verified = server
        .root_options()
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca(server.ca_file());
    let mut conn = connect(verified.clone())
        .await
        .unwrap_or_else(|e| panic!("VERIFY_IDENTITY with the right CA: {e}"));
    assert!(!session_cipher(&mut conn).await.is_empty(), "not encrypted");
    conn.close().await.unwrap_or_else(|e| panic!("{e}"));
    let url = server.root_url(&format!(
        "?ssl-mode=VERIFY_IDENTITY&ssl-ca={}",
        server.ca_file().display()
    ));
    let mut conn = MySqlConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("ssl-mode/ssl-ca from the URL: {e}"));
    assert!(!session_cipher(&mut conn).await.is_empty(), "not encrypted");
    conn.close().await.unwrap_or_else(|e| panic!("{e}"));

    // Plaintext is still served beside TLS (every other client of the platform uses it).
    let mut plain = connect(server.root_options().ssl_mode(MySqlSslMode::Disabled))
        .await
        .unwrap_or_else(|e| panic!("plaintext: {e}"));
    assert_eq!(session_cipher(&mut plain).await, "");
    plain.close().await.unwrap_or_else(|e| panic!("{e}"));

    // A CA that did not sign the server's certificate.
    let wrong_ca = unrelated_ca_file();
    let failure = tls_refused(
        verified.clone().ssl_ca(&wrong_ca),
        "a wrong CA was accepted",
    )
    .await;
    assert!(
        matches!(failure, TlsFailure::UntrustedCertificate { .. }),
        "{failure:?}"
    );
    assert!(
        failure
            .to_string()
            .contains("not signed by the configured CA")
    );

    // A host the certificate does not name: refused with VERIFY_IDENTITY, fine with VERIFY_CA.
    let unnamed = verified.clone().host(UNNAMED_HOST);
    let missing = "a host missing from the certificate was accepted";
    let failure = tls_refused(unnamed.clone(), missing).await;
    assert!(
        matches!(failure, TlsFailure::HostNotOnCertificate { .. }),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("127.0.0.2"), "{failure}");
    let mut conn = connect(unnamed.ssl_mode(MySqlSslMode::VerifyCa))
        .await
        .unwrap_or_else(|e| panic!("VERIFY_CA on an unnamed host: {e}"));
    assert!(!session_cipher(&mut conn).await.is_empty());
    conn.close().await.unwrap_or_else(|e| panic!("{e}"));

    // REQUIRED: encrypted, nothing verified (what `mode: required` asks for).
    let mut conn = connect(
        server
            .root_options()
            .ssl_mode(MySqlSslMode::Required)
            .ssl_ca(&wrong_ca),
    )
    .await
    .unwrap_or_else(|e| panic!("REQUIRED: {e}"));
    assert!(!session_cipher(&mut conn).await.is_empty());
    conn.close().await.unwrap_or_else(|e| panic!("{e}"));
    if let Some(dir) = wrong_ca.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// sqlx's MySQL error number of a failed login, if the server refused it.
fn server_error_number(error: &sqlx::Error) -> Option<u16> {
    error
        .as_database_error()?
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(sqlx::mysql::MySqlDatabaseError::number)
}

/// ER_ACCESS_DENIED_ERROR: what MariaDB answers a plaintext login of a `REQUIRE SSL` account.
const ACCESS_DENIED: u16 = 1045;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_required_to_use_tls_log_in_only_with_tls_and_the_requirement_follows_the_spec() {
    let server = start_server().await;
    let admin = MySqlPool::connect_with(server.root_options().ssl_mode(MySqlSslMode::Disabled))
        .await
        .unwrap_or_else(|e| panic!("admin pool: {e}"));
    sqlx::raw_sql("CREATE DATABASE tp_tls")
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("create database: {e}"));
    let mut spec = AccountSpec {
        database: "tp_tls",
        user: "report_tls",
        host: "%",
        role: Role::Reporting,
        password: "Rep0rtPassw0rd",
        require_tls: true,
    };
    assert_eq!(
        ensure(&admin, &spec, "ensure").await,
        AccountOutcome::Created
    );
    assert_eq!(requirement(&admin).await, TransportRequirement::Tls);

    let login = server
        .root_options()
        .username("report_tls")
        .password("Rep0rtPassw0rd")
        .database("tp_tls");
    let plaintext = login.clone().ssl_mode(MySqlSslMode::Disabled);
    let tls = login
        .clone()
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca(server.ca_file());

    let err = refused(
        plaintext.clone(),
        "a REQUIRE SSL account logged in in plaintext",
    )
    .await;
    assert_eq!(server_error_number(&err), Some(ACCESS_DENIED), "{err}");
    let mut conn = connect(tls.clone())
        .await
        .unwrap_or_else(|e| panic!("REQUIRE SSL account over TLS: {e}"));
    assert!(!session_cipher(&mut conn).await.is_empty());
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables")
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("read as the reporting user: {e}"));
    assert!(count > 0);
    conn.close().await.unwrap_or_else(|e| panic!("{e}"));

    // Idempotent: nothing changes on a second run.
    assert_eq!(
        ensure(&admin, &spec, "ensure again").await,
        AccountOutcome::Unchanged
    );
    assert_eq!(requirement(&admin).await, TransportRequirement::Tls);

    // TLS no longer asked for: REQUIRE NONE, plaintext works again.
    spec.require_tls = false;
    ensure(&admin, &spec, "ensure without TLS").await;
    assert_eq!(requirement(&admin).await, TransportRequirement::NotRequired);
    connect(plaintext.clone())
        .await
        .unwrap_or_else(|e| panic!("plaintext after REQUIRE NONE: {e}"))
        .close()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // And back: an existing account is altered to REQUIRE SSL.
    spec.require_tls = true;
    ensure(&admin, &spec, "ensure with TLS again").await;
    assert_eq!(requirement(&admin).await, TransportRequirement::Tls);
    let err = refused(
        plaintext,
        "plaintext accepted after ALTER USER … REQUIRE SSL",
    )
    .await;
    assert_eq!(server_error_number(&err), Some(ACCESS_DENIED), "{err}");

    // The writer too.
    let writer = AccountSpec {
        user: "writer_tls",
        role: Role::Writer,
        password: "Wr1terPassw0rd",
        ..spec
    };
    assert_eq!(
        ensure(&admin, &writer, "ensure writer").await,
        AccountOutcome::Created
    );
    connect(
        tls.username("writer_tls")
            .password("Wr1terPassw0rd")
            .database("tp_tls"),
    )
    .await
    .unwrap_or_else(|e| panic!("writer over TLS: {e}"))
    .close()
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    admin.close().await;
}

async fn requirement(admin: &MySqlPool) -> TransportRequirement {
    let mut conn = admin
        .acquire()
        .await
        .unwrap_or_else(|e| panic!("acquire: {e}"));
    transport_requirement(&mut conn, "report_tls", "%")
        .await
        .unwrap_or_else(|e| panic!("transport requirement: {e}"))
        .unwrap_or_else(|| panic!("report_tls does not exist"))
}
