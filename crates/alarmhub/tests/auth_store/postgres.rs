//! What only the PostgreSQL auth store has: the command line pointed at the shared store
//! with `--store` (a token it creates is there for every node, with its audit row), and its
//! refusal of a URL that is not PostgreSQL.

use alarmhub::auth::{AuditLog, AuditQuery, AuthStore, PgAuthStore};

use super::pg::TestDb;

#[test]
fn the_cli_creates_a_token_in_the_shared_store_with_an_audit_row() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(TestDb::create()) else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_alarmhub");
    let out = std::process::Command::new(bin)
        .args([
            "token", "create", "--name", "ci", "--role", "viewer", "--store", &db.url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = PgAuthStore::open(&db.url).unwrap();
    let tokens = s.load().unwrap().0;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "ci");
    let audit = s.query_audit(&AuditQuery::default()).unwrap();
    assert_eq!(audit[0].action, "token.create");
    assert_eq!(audit[0].target, "ci");
    // A URL that is not PostgreSQL is refused with a clear message.
    let out = std::process::Command::new(bin)
        .args(["token", "list", "--store", "mysql://x@y/z"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
}
