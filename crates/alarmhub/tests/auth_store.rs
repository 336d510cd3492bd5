#![allow(clippy::unwrap_used)]
//! The auth store — tokens, users, roles, console sessions, audit rows and the generation
//! number the daemon polls — on a SQLite file and on a real PostgreSQL: the shared
//! conformance suite (`auth_store/conformance.rs`, the contract every backend passes; two
//! handles on one store are two nodes, or the CLI beside the daemon), what is SQLite's own
//! (the event store opens a database the CLI created first), and what is PostgreSQL's own
//! (`auth_store/postgres.rs`: the suite again from a plain thread, as the CLI calls it, and
//! the CLI creating a token in the shared store). PostgreSQL tests have a database of their
//! own each, dropped after.

#[macro_use]
#[path = "auth_store/conformance.rs"]
mod conformance;
#[path = "common/postgres.rs"]
mod pg;
#[path = "auth_store/postgres.rs"]
mod postgres_cli;

use std::path::PathBuf;

use alarmhub::auth::{AuthBackend, AuthStore, PgAuthStore, Role, SqliteAuthStore};
use alarmhub::store::{SqliteStore, Store, StoreOptions};

/// A SQLite database file in a temporary directory (created by the first open).
pub struct SqliteBackend {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl conformance::AuthStoreBackend for SqliteBackend {
    fn open(&self) -> Box<dyn AuthBackend> {
        Box::new(SqliteAuthStore::open(&self.dir).unwrap())
    }
}

async fn sqlite() -> SqliteBackend {
    let tmp = tempfile::tempdir().unwrap();
    SqliteBackend {
        dir: tmp.path().join("data"),
        _tmp: tmp,
    }
}

/// A fresh PostgreSQL database of its own, dropped with the backend.
pub struct PgBackend {
    pub db: pg::TestDb,
}

impl conformance::AuthStoreBackend for PgBackend {
    fn open(&self) -> Box<dyn AuthBackend> {
        Box::new(PgAuthStore::open(&self.db.url).unwrap())
    }
}

async fn postgres() -> Option<PgBackend> {
    Some(PgBackend {
        db: pg::TestDb::create().await?,
    })
}

mod sqlite_conformance {
    auth_store_conformance_suite!(crate::sqlite);
}

mod postgres_conformance {
    auth_store_conformance_suite!(crate::postgres);
}

mod postgres_conformance_from_a_plain_thread {
    auth_store_conformance_suite!(from_a_plain_thread crate::postgres);
}

#[tokio::test]
async fn the_event_store_opens_a_sqlite_database_the_cli_created_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    SqliteAuthStore::open(&dir)
        .unwrap()
        .create_token(&conformance::token("t", Role::Admin))
        .unwrap();
    let store = SqliteStore::open(&dir, StoreOptions::default(), Box::new(|_| {})).unwrap();
    store.close().await.unwrap();
    let s = SqliteAuthStore::open(&dir).unwrap();
    assert_eq!(s.load().unwrap().0.len(), 1);
}
