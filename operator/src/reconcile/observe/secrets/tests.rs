//! Resolving the spec's Secrets from what the watch cache holds: values found, or the first one
//! missing named; values never printed.

use crate::reconcile::observe::secrets::{self, Missing, SecretString};
use crate::test_support::{fetched_secret, fetched_secrets};
use tweetpipe_operator_core::fixtures::pipeline;

#[test]
fn secrets_resolve_or_name_what_is_missing() {
    let tp = pipeline();
    let mut fetched = fetched_secrets(&[
        ("x-token-a", &[("token", "AAA\n")]),
        ("x-token-b", &[("bearer", "BBB")]),
        ("mysql-admin", &[("url", "mysql://root:pw@db:3306")]),
        ("mysql-reporting", &[("password", "reader")]),
    ]);
    let resolved = secrets::resolve_from(&tp.spec, &fetched).expect("all present");
    assert_eq!(resolved.mysql_admin_url.expose(), "mysql://root:pw@db:3306");
    assert_eq!(
        resolved.reporting_password.as_ref().unwrap().expose(),
        "reader"
    );
    assert!(
        !format!("{resolved:?}").contains("pw@"),
        "Debug never shows secret values"
    );

    fetched.insert("x-token-b".into(), None);
    let missing = secrets::resolve_from(&tp.spec, &fetched).unwrap_err();
    assert_eq!(
        missing,
        Missing::Secret {
            name: "x-token-b".into(),
            used_for: "X API bearer token"
        }
    );
    match missing.to_check() {
        crate::decide::conditions::Check::Failed { reason, message } => {
            assert_eq!(reason, "SecretMissing");
            assert!(message.contains("x-token-b"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    fetched.insert(
        "x-token-b".into(),
        fetched_secret("x-token-b", &[("token", "wrong key")]),
    );
    let missing = secrets::resolve_from(&tp.spec, &fetched).unwrap_err();
    assert_eq!(
        missing,
        Missing::Key {
            name: "x-token-b".into(),
            key: "bearer".into(),
            used_for: "X API bearer token"
        }
    );
    fetched.insert(
        "x-token-b".into(),
        fetched_secret("x-token-b", &[("bearer", "")]),
    );
    assert!(
        matches!(
            secrets::resolve_from(&tp.spec, &fetched),
            Err(Missing::Key { .. })
        ),
        "empty values count as missing"
    );
    assert_eq!(
        format!("{:?}", SecretString::new("hunter2".into())),
        "<redacted>"
    );
}
