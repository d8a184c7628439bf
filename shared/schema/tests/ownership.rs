//! Databases are owned (issue 19), on real MariaDB: the first pipeline to name a database owns it;
//! a second pipeline naming it is refused, naming the owner, and finds nothing changed; a database
//! with someone else's tables is never adopted; only the owner's deletion drops it.

use tweetpipe_schema::{
    AccountSpec, Claim, Owner, Release, Role, SchemaError, claim_database, ensure_account,
    release_database,
};
use tweetpipe_testkit::mysql::{TestDb, admin};
use tweetpipe_testkit::names::short_unique;

const TENANT_A: Owner<'static> = Owner {
    namespace: "team-a",
    name: "tweets",
    uid: "3f0c1d7e-0000-4000-8000-00000000000a",
};
const TENANT_B: Owner<'static> = Owner {
    namespace: "team-b",
    name: "tweets",
    uid: "3f0c1d7e-0000-4000-8000-00000000000b",
};

async fn exists(pool: &sqlx::MySqlPool, database: &str) -> bool {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(database)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
        == 1
}

async fn forget(pool: &sqlx::MySqlPool, database: &str) {
    let _ = sqlx::query("DELETE FROM tweetpipe_control.databases WHERE database_name = ?")
        .bind(database)
        .execute(pool)
        .await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{database}`"
    )))
    .execute(pool)
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pipeline_naming_a_database_is_refused_and_changes_nothing() {
    let pool = admin().await;
    let database = short_unique("tp_own");
    assert_eq!(
        claim_database(&pool, &database, TENANT_A)
            .await
            .expect("A claims"),
        Claim::Created
    );
    assert!(exists(&pool, &database).await);
    assert_eq!(
        claim_database(&pool, &database, TENANT_A)
            .await
            .expect("A again"),
        Claim::Owned
    );
    // A's data and its reporting user, to show B cannot reach either.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE `{database}`.posts (id BIGINT PRIMARY KEY)"
    )))
    .execute(&pool)
    .await
    .expect("table");

    let refused = claim_database(&pool, &database, TENANT_B).await;
    match &refused {
        Err(
            e @ SchemaError::DatabaseOwned {
                owner_namespace,
                owner_name,
                ..
            },
        ) => {
            assert_eq!(
                (owner_namespace.as_str(), owner_name.as_str()),
                ("team-a", "tweets")
            );
            let message = e.to_string();
            assert!(message.contains("team-a/tweets"), "{message}");
            assert!(
                message.contains("choose another mysql.database"),
                "{message}"
            );
        }
        other => panic!("B's claim must be refused naming A: {other:?}"),
    }
    // B's deletion (deletionPolicy Delete) leaves it, naming A: A's database stays.
    match release_database(&pool, &database, TENANT_B).await {
        Ok(Release::OwnedByAnother(why)) => assert!(why.contains("team-a/tweets"), "{why}"),
        other => panic!("B's deletion must leave A's database: {other:?}"),
    }
    assert!(
        exists(&pool, &database).await,
        "B's deletion dropped A's database"
    );

    // A pipeline deleted with Retain and created again under the same name takes it back.
    let again = Owner {
        uid: "3f0c1d7e-0000-4000-8000-0000000000a2",
        ..TENANT_A
    };
    assert_eq!(
        claim_database(&pool, &database, again)
            .await
            .expect("reclaim"),
        Claim::Reclaimed
    );
    // The old uid is not the owner any more.
    assert!(matches!(
        release_database(&pool, &database, TENANT_A).await,
        Ok(Release::OwnedByAnother(_))
    ));
    match release_database(&pool, &database, again).await {
        Ok(Release::Dropped { accounts }) => assert!(accounts.is_empty(), "{accounts:?}"),
        other => panic!("the owner's deletion drops it: {other:?}"),
    }
    assert!(!exists(&pool, &database).await);
    assert_eq!(
        release_database(&pool, &database, again)
            .await
            .expect("twice"),
        Release::Absent
    );
    forget(&pool, &database).await;
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_someone_elses_tables_is_never_adopted_nor_dropped() {
    let foreign = TestDb::create_empty("tp_foreign").await;
    sqlx::query("CREATE TABLE invoices (id BIGINT PRIMARY KEY)")
        .execute(&foreign.pool)
        .await
        .expect("table");
    let pool = admin().await;
    match claim_database(&pool, &foreign.name, TENANT_A).await {
        Err(e @ SchemaError::ForeignDatabase { tables: 1, .. }) => {
            assert!(
                e.to_string().contains("was not created by tweetpipe"),
                "{e}"
            );
        }
        other => panic!("a foreign database must be refused: {other:?}"),
    }
    assert_eq!(
        release_database(&pool, &foreign.name, TENANT_A)
            .await
            .expect("release"),
        Release::NotRecorded
    );
    assert_eq!(
        foreign.count("SELECT COUNT(*) FROM invoices").await,
        0,
        "still there"
    );

    // An empty database (made by a DBA for the pipeline) and one of tweetpipe's from before
    // ownership records are adopted, and recorded.
    let empty = TestDb::create_empty("tp_empty").await;
    assert_eq!(
        claim_database(&pool, &empty.name, TENANT_A)
            .await
            .expect("empty"),
        Claim::AdoptedEmpty
    );
    assert!(matches!(
        claim_database(&pool, &empty.name, TENANT_B).await,
        Err(SchemaError::DatabaseOwned { .. })
    ));
    let legacy = TestDb::create("tp_legacy", &tweetpipe_schema::MIGRATOR).await;
    assert_eq!(
        claim_database(&pool, &legacy.name, TENANT_B)
            .await
            .expect("legacy"),
        Claim::AdoptedUnrecorded
    );
    for name in [&empty.name, &legacy.name] {
        forget(&pool, name).await;
    }
    foreign.drop().await;
    pool.close().await;
}

/// The owner's deletion drops its accounts with the database; a reporting user of A cannot be
/// taken over by B naming it for B's own database (accounts are recorded per database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_deletion_drops_its_accounts_and_another_cannot_take_them_over() {
    let pool = admin().await;
    let (database_a, database_b) = (short_unique("tp_own_a"), short_unique("tp_own_b"));
    claim_database(&pool, &database_a, TENANT_A)
        .await
        .expect("A");
    claim_database(&pool, &database_b, TENANT_B)
        .await
        .expect("B");
    let user = short_unique("r");
    let account = |database| AccountSpec {
        database,
        user: &user,
        host: "%",
        role: Role::Reporting,
        password: "a-password-1",
        require_tls: false,
    };
    ensure_account(&pool, &account(&database_a))
        .await
        .expect("A's reporting user");
    let takeover = ensure_account(
        &pool,
        &AccountSpec {
            password: "b-chose-this",
            ..account(&database_b)
        },
    )
    .await;
    assert!(
        matches!(takeover, Err(SchemaError::AccountTaken { .. })),
        "B naming A's reporting user: {takeover:?}"
    );
    match release_database(&pool, &database_a, TENANT_A).await {
        Ok(Release::Dropped { accounts }) => {
            assert_eq!(accounts, vec![format!("'{user}'@'%'")]);
        }
        other => panic!("{other:?}"),
    }
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mysql.user WHERE user = ?")
        .bind(&user)
        .fetch_one(&pool)
        .await
        .expect("users");
    assert_eq!(left, 0, "A's reporting user is dropped with A's database");
    for name in [&database_a, &database_b] {
        forget(&pool, name).await;
    }
    pool.close().await;
}
