//! The notification outbox's durable backends: [`crate::notify::Outbox`] on the store's
//! database. SQLite ([`SqliteOutbox`], tables in `alarmhub.db`) today; PostgreSQL is one more
//! file here (`postgres.rs`) implementing the same trait on its pool and passing the same
//! conformance suite (`tests/notify_outbox/conformance.rs`), plus one arm in [`open`].
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

/// Open the outbox of the store the configuration names (today: SQLite in
/// `[store] data_dir`), for the daemon.
pub fn open(config: &Config) -> Result<Arc<dyn Outbox>, OutboxError> {
    Ok(Arc::new(SqliteOutbox::open(&config.store.data_dir)?))
}
