//! The PostgreSQL layout: numbered migrations (`migrations/NNN_*.sql`), each run once in its
//! own transaction and recorded in `ah_schema`, all under a session advisory lock so two
//! nodes starting together never migrate at once (the second waits, then finds nothing to
//! do). A database migrated by a newer build is refused with a message naming it. The other
//! users of the shared database (tokens, users, audit; the outbox) open it through
//! [`connect_migrated`] or [`migrated_pool`].

use deadpool_postgres::Pool;
use tokio_postgres::Client;

use super::connect::Target;
use crate::store::StoreError;

/// Advisory lock key held while migrating ("alarmhub" + 1).
const MIGRATE_LOCK: i64 = 0x616c_6172_6d68_7501;

/// The numbered migrations: version `n` is reached by running `MIGRATIONS[n - 1]`. Other
/// areas (accounts, alarms, the notification outbox) add theirs at the end.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_events.sql"),
    include_str!("migrations/002_auth.sql"),
    include_str!("migrations/003_cluster.sql"),
    include_str!("migrations/004_commands.sql"),
    include_str!("migrations/005_accounts.sql"),
    include_str!("migrations/006_alarms.sql"),
    include_str!("migrations/007_outbox.sql"),
    include_str!("migrations/008_marks_issuers.sql"),
    include_str!("migrations/009_console.sql"),
    include_str!("migrations/010_cluster_load.sql"),
];

/// Schema version this build writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One connection to `url` with the schema brought up to date, and the database's name
/// (no password): for the other users of the shared database (tokens, users, audit).
pub(crate) async fn connect_migrated(
    url: &str,
) -> Result<(tokio_postgres::Client, String), StoreError> {
    let target = Target::parse(url)?;
    let mut client = target.connect("connect").await?;
    migrate(&mut client, &target).await?;
    Ok((client, target.name.to_string()))
}

/// A connection pool on `url` with the schema brought up to date, and the database's name
/// (no password): for the other users of the shared database (tokens, users, audit).
/// Connections are opened on demand on the runtime that asks for them, and replaced when
/// they break.
pub(crate) async fn migrated_pool(url: &str) -> Result<(Pool, String), StoreError> {
    let target = Target::parse(url)?;
    let mut client = target.connect("connect").await?;
    migrate(&mut client, &target).await?;
    drop(client);
    Ok((target.pool()?, target.name.to_string()))
}

/// Bring the schema to [`SCHEMA_VERSION`] (creating it in an empty database).
pub(crate) async fn migrate(client: &mut Client, target: &Target) -> Result<(), StoreError> {
    let err = target.err("migrate the schema");
    // "already exists, skipping" notices are noise in the daemon's log.
    client
        .batch_execute("SET client_min_messages = warning")
        .await
        .map_err(&err)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(&err)?;
    let result = migrate_locked(client, target).await;
    // Dropping the connection would release it too; unlocking keeps the connection usable.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(&err);
    result.and(unlocked.map(|_| ()))
}

async fn migrate_locked(client: &mut Client, target: &Target) -> Result<(), StoreError> {
    let err = target.err("migrate the schema");
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS ah_schema (version BIGINT NOT NULL)")
        .await
        .map_err(&err)?;
    let found: i64 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM ah_schema", &[])
        .await
        .map_err(&err)?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::PostgresSchema {
            target: target.name.to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let version = i as i64 + 1;
        let tx = client.transaction().await.map_err(&err)?;
        tx.batch_execute(sql).await.map_err(&err)?;
        tx.execute("INSERT INTO ah_schema (version) VALUES ($1)", &[&version])
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        tracing::info!(database = %target.name, version, "PostgreSQL schema migrated");
    }
    Ok(())
}
