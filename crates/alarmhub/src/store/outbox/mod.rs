//! The notification outbox's durable backends: [`crate::notify::Outbox`] on the store's
//! database. SQLite ([`SqliteOutbox`], tables in `alarmhub.db`) and PostgreSQL
//! ([`crate::store::postgres::PgOutbox`], `ah_notify_*` tables in the shared database, in
//! `store/postgres/outbox.rs`); both pass the same conformance suite
//! (`tests/notify_outbox/conformance.rs`). [`open`] picks the one `[store]` names.
//!
//! The outbox is a trait of its own rather than more methods on [`crate::store::Store`]:
//! the event path never touches it, and the producers do not write it inside the event
//! commit but follow the durable logs by a cursor the outbox keeps itself
//! ([`crate::notify::Outbox::record`] writes a batch of rows and the cursor in one
//! transaction). That gives the same guarantee — a change that happened has its
//! notifications recorded, exactly once, whatever crashes in between — without widening
//! the store's writer.

mod sqlite;
mod sqlite_sql;

use std::sync::Arc;

pub use sqlite::SqliteOutbox;

use crate::config::Config;
use crate::notify::outbox::{Outbox, OutboxError};

/// Open the outbox of the store the configuration names — PostgreSQL when `[store] url`
/// is set (every node shares it; each notification is delivered by one), else SQLite in
/// `[store] data_dir` — for the daemon.
pub async fn open(config: &Config) -> Result<Arc<dyn Outbox>, OutboxError> {
    Ok(match &config.store.url {
        Some(url) => Arc::new(crate::store::postgres::PgOutbox::open(url).await?),
        None => Arc::new(SqliteOutbox::open(&config.store.data_dir)?),
    })
}
