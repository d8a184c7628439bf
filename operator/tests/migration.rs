//! The schema step against the platform's MariaDB when a reconcile gives up waiting in the middle
//! of a migration (its deadline, or the dependencies step's bound): the migration must still end
//! recorded as done, so the next reconcile neither finds the database "dirty" nor logs "a
//! migration was interrupted" (issue 25: 6 such warnings in a benchmark where nothing was
//! killed). A migration is made to wait, as it waits on a loaded server, behind another
//! session's metadata lock.

use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::MySqlPool;
use tweetpipe_operator::crd::TweetPipeline;
use tweetpipe_operator::reconcile::clients::Clients;
use tweetpipe_operator::reconcile::dependencies::mysql::{
    EnsuredSchemas, MySqlCheckError, SchemaOwner, SchemaTarget, ensure_schema, pipeline_owner,
};
use tweetpipe_operator::reconcile::observe::secrets::{Resolved, SecretString};
use tweetpipe_operator::reconcile::schema_owner::PipelineSchema;
use tweetpipe_testkit::mysql::TestDb;

/// The operator's MySQL timeout (its pools' acquire bound).
const TIMEOUT: Duration = Duration::from_secs(5);

/// The newest migration and a table its second statement creates (so it exists and can be
/// locked while the migration's first statement has already committed its "started" record).
const NEWEST: i64 = 20261205000001;
const LOCKED_TABLE: &str = "post_cashtags";

fn secrets() -> Resolved {
    Resolved {
        mysql_admin_url: SecretString::new(tweetpipe_testkit::platform().mysql_url.clone()),
        reporting_password: None,
        kafka_sasl: None,
        kafka_ca_pem: None,
        kafka_client_pem: None,
        mysql_ca_pem: None,
    }
}

async fn ensure(
    clients: &Clients,
    ensured: &EnsuredSchemas,
    tp: &TweetPipeline,
    database: &str,
) -> Result<(), MySqlCheckError> {
    let mut spec = tp.spec.mysql.clone();
    spec.database = database.to_owned();
    let owner: Arc<dyn SchemaOwner> = Arc::new(PipelineSchema);
    ensure_schema(
        clients,
        ensured,
        SchemaTarget {
            pipeline_key: "migration-test",
            owner: pipeline_owner(tp),
            spec: &spec,
            secrets: &secrets(),
            accounts: &[],
        },
        &owner,
        TIMEOUT,
    )
    .await
}

async fn newest_recorded(pool: &MySqlPool) -> Option<bool> {
    sqlx::query_scalar::<_, bool>("SELECT success FROM _sqlx_migrations WHERE version = ?")
        .bind(NEWEST)
        .fetch_optional(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_cut_off_mid_migration_leaves_it_done_not_interrupted() {
    assert_eq!(
        tweetpipe_schema::required_version(),
        NEWEST,
        "LOCKED_TABLE is this migration's"
    );
    let db = TestDb::create_empty("tp_o_cut").await;
    let mut tp = tweetpipe_operator_core::fixtures::pipeline();
    tp.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
    let clients = Clients::default();
    ensure(&clients, &EnsuredSchemas::default(), &tp, &db.name)
        .await
        .unwrap_or_else(|e| panic!("first ensure: {e}"));

    // The database as the previous release left it: without the newest migration.
    db.without_migration(NEWEST, &["post_context_annotations"])
        .await;
    let lock = db.lock_table(LOCKED_TABLE).await;

    // The reconcile gives up while the migration waits for the lock (its sessions wait 30 s).
    let cut = tokio::time::timeout(
        Duration::from_secs(5),
        ensure(&clients, &EnsuredSchemas::default(), &tp, &db.name),
    )
    .await;
    assert!(cut.is_err(), "the migration waits for the lock: {cut:?}");
    assert_eq!(
        newest_recorded(&db.pool).await,
        Some(false),
        "recorded as started when the reconcile gave up"
    );
    lock.release().await;

    // Nothing else runs it: it must end recorded as done by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while newest_recorded(&db.pool).await != Some(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "migration {NEWEST} still recorded {:?} 60 s after the lock was released: the reconcile's cancellation cut it off, and the next run will find the database dirty",
            newest_recorded(&db.pool).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        db.count("SELECT COUNT(*) FROM post_context_annotations")
            .await,
        0,
        "its tables exist"
    );
    // sqlx alone refuses a dirty database: the next run has nothing to repair.
    tweetpipe_schema::MIGRATOR
        .run(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("the next run: {e}"));
    ensure(&clients, &EnsuredSchemas::default(), &tp, &db.name)
        .await
        .unwrap_or_else(|e| panic!("the next reconcile: {e}"));

    let admin = tweetpipe_testkit::mysql::admin().await;
    let released = PipelineSchema
        .release_database(&admin, &db.name, pipeline_owner(&tp))
        .await;
    assert!(released.is_ok(), "release: {released:?}");
    admin.close().await;
    db.drop().await;
}
