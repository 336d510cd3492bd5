//! Store reads for the API: a small pool of read-only SQLite connections used inside
//! `spawn_blocking`. WAL lets these readers run beside the writer thread without blocking
//! it; a pool (rather than one shared connection) lets concurrent API calls read in
//! parallel, and reusing connections keeps the prepared-statement caches warm.

use std::path::PathBuf;
use std::sync::Mutex;

use tonic::Status;

use super::store_status;
use crate::store::{SqliteStore, StoreError};

/// Idle connections kept for reuse; more may be open while many reads run at once.
const MAX_IDLE: usize = 4;

/// Read-only access to the store in one data directory.
pub(crate) struct Reader {
    dir: PathBuf,
    idle: Mutex<Vec<SqliteStore>>,
}

impl Reader {
    /// Connections are opened on first use.
    pub(crate) fn new(dir: PathBuf) -> Reader {
        Reader {
            dir,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Option<SqliteStore> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, conn: SqliteStore) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Run `f` on a pooled connection in a blocking task. `what` names the operation in the
    /// error status ("reading events after seq 42" …).
    pub(crate) async fn run<T, F>(
        self: &std::sync::Arc<Self>,
        what: String,
        f: F,
    ) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    {
        let me = std::sync::Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let conn = match me.take() {
                Some(c) => c,
                None => SqliteStore::open_reader(&me.dir)?,
            };
            let r = f(&conn);
            // A connection that just failed may be broken; open a fresh one next time.
            if r.is_ok() {
                me.give_back(conn);
            }
            r
        })
        .await;
        match joined {
            Ok(r) => r.map_err(|e| store_status(&what, &e)),
            Err(e) => Err(Status::internal(format!(
                "{what}: the read task failed: {e}"
            ))),
        }
    }
}
