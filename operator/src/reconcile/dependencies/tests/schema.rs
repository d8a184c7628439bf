//! The MySQL half of the `dependencies` step without a server: `ensure_schema` against a scripted
//! schema owner (pools are lazy, so nothing connects). What it must do, in which order, and how
//! each refusal becomes a condition reason.

use std::sync::Arc;
use std::time::Duration;

use tweetpipe_operator_core::fixtures::pipeline;

use crate::reconcile::clients::Clients;
use crate::reconcile::dependencies::mysql::{
    self, DesiredAccount, EnsuredSchemas, SchemaOwner, SchemaTarget,
};
use crate::test_support::fakes::{Answer, ScriptedSchema, account, secrets};

/// One `ensure_schema` of the fixture pipeline with `accounts`, through `owner`.
async fn ensure(
    owner: &Arc<ScriptedSchema>,
    ensured: &EnsuredSchemas,
    database: &str,
    accounts: &[DesiredAccount],
) -> Result<(), mysql::MySqlCheckError> {
    let tp = pipeline();
    let mut spec = tp.spec.mysql.clone();
    spec.database = database.into();
    let secrets = secrets();
    let dyn_owner: Arc<dyn SchemaOwner> = owner.clone();
    // Pools are made inside a runtime; the client cache is the reconcile's.
    let clients = Clients::default();
    mysql::ensure_schema(
        &clients,
        ensured,
        SchemaTarget {
            pipeline_key: "tweets/covid19",
            owner: mysql::pipeline_owner(&tp),
            spec: &spec,
            secrets: &secrets,
            accounts,
        },
        &dyn_owner,
        Duration::from_secs(1),
    )
    .await
}

/// The whole work for one account, in order.
const FULL_WORK: [&str; 4] = ["connect", "claim_database", "migrate", "ensure_account"];

/// The calls of one `ensure_schema` that must succeed.
async fn ensured_calls(
    owner: &Arc<ScriptedSchema>,
    ensured: &EnsuredSchemas,
    accounts: &[DesiredAccount],
) -> Vec<&'static str> {
    ensure(owner, ensured, "tweets_covid19", accounts)
        .await
        .expect("ensured");
    owner.calls()
}

/// A healthy owner, and the cache of an `ensure_schema` that did the whole work for `accounts`.
async fn ensured_once(accounts: &[DesiredAccount]) -> (Arc<ScriptedSchema>, EnsuredSchemas) {
    let owner = Arc::new(ScriptedSchema::healthy());
    let ensured = EnsuredSchemas::default();
    assert_eq!(ensured_calls(&owner, &ensured, accounts).await, FULL_WORK);
    (owner, ensured)
}

/// First time: connect, claim, migrate, every account. Then, with nothing changed and the
/// database current: connect and one version check only. A new password: the work again.
#[tokio::test]
async fn the_schema_work_runs_once_and_again_only_when_something_changed() {
    let accounts = [account("first")];
    let (owner, ensured) = ensured_once(&accounts).await;
    assert_eq!(
        ensured_calls(&owner, &ensured, &accounts).await,
        ["connect", "is_current"]
    );
    assert_eq!(
        ensured_calls(&owner, &ensured, &[account("rotated")]).await,
        FULL_WORK,
        "a rotated password is applied"
    );
}

/// A database behind the build's migrations (another operator version migrated it back, or it
/// was restored) is migrated again even though nothing in the spec changed.
#[tokio::test]
async fn a_database_no_longer_current_is_migrated_again() {
    let accounts = [account("first")];
    let (_, ensured) = ensured_once(&accounts).await;
    let stale = Arc::new(ScriptedSchema {
        current: Some(false),
        ..ScriptedSchema::healthy()
    });
    ensure(&stale, &ensured, "tweets_covid19", &accounts)
        .await
        .expect("ensured");
    assert_eq!(
        stale.calls(),
        [
            "connect",
            "is_current",
            "claim_database",
            "migrate",
            "ensure_account"
        ]
    );
}

/// Each refusal becomes its own reason, and nothing after it runs: no migration in another
/// pipeline's database, no account after a refused one. Reserved names never reach the server.
#[tokio::test]
async fn each_refusal_is_its_own_reason_and_stops_the_work() {
    let healthy = ScriptedSchema::healthy;
    let cases: [(&str, ScriptedSchema, &str, &[&str]); 6] = [
        ("mysql", healthy(), "DatabaseNotAllowed", &[]),
        (
            "tweets_covid19",
            ScriptedSchema {
                connect: Answer::Failed,
                ..healthy()
            },
            "MySQLUnreachable",
            &["connect"],
        ),
        (
            "tweets_covid19",
            ScriptedSchema {
                claim: Answer::Owned,
                ..healthy()
            },
            "DatabaseOwnedByAnotherPipeline",
            &["connect", "claim_database"],
        ),
        (
            "tweets_covid19",
            ScriptedSchema {
                claim: Answer::Foreign,
                ..healthy()
            },
            "DatabaseNotCreatedByTweetpipe",
            &["connect", "claim_database"],
        ),
        (
            "tweets_covid19",
            ScriptedSchema {
                migrate: Answer::Failed,
                ..healthy()
            },
            "MigrationFailed",
            &["connect", "claim_database", "migrate"],
        ),
        (
            "tweets_covid19",
            ScriptedSchema {
                account: Answer::Refused,
                ..healthy()
            },
            "AccountRefused",
            &["connect", "claim_database", "migrate", "ensure_account"],
        ),
    ];
    for (database, owner, reason, calls) in cases {
        let owner = Arc::new(owner);
        let ensured = EnsuredSchemas::default();
        let accounts = [account("first"), account("second")];
        let error = ensure(&owner, &ensured, database, &accounts)
            .await
            .expect_err(reason);
        assert_eq!(error.reason(), reason, "{error}");
        assert!(
            !error.to_string().contains("s3cret"),
            "no password in {error}"
        );
        assert_eq!(owner.calls(), calls, "{reason}");
        // Nothing remembered as ensured: the next reconcile does the whole work again.
        if database != "mysql" {
            let retry = Arc::new(ScriptedSchema::healthy());
            ensure(&retry, &ensured, database, &accounts)
                .await
                .expect("ensured");
            assert_eq!(
                retry.calls(),
                [
                    "connect",
                    "claim_database",
                    "migrate",
                    "ensure_account",
                    "ensure_account"
                ],
                "{reason}"
            );
        }
    }
}
