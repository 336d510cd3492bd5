//! The WAL checkpointer: a thread with its own connection that copies committed pages from
//! the write-ahead log into the database file, so the writer thread — on every ACK's
//! critical path — no longer does it inline after a commit.
//!
//! The writer keeps SQLite's automatic checkpoint only as a safety net for a checkpointer
//! that cannot keep up ([`WRITER_AUTOCHECKPOINT_PAGES`]). Checkpoints are `PASSIVE`: they
//! never wait for, or block, the writer or readers. Durability does not depend on them —
//! a commit is durable once its WAL frames are synced.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the checkpointer copies the WAL into the database.
const INTERVAL: Duration = Duration::from_millis(100);

/// WAL size (pages) at which the writer checkpoints inline after all (the checkpointer is
/// stuck or far behind). SQLite's default is 1,000.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: i64 = 20_000;

/// A running checkpointer; stops (and is joined) when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path`. `None` (with a warning) when its
    /// connection or thread cannot be created: the writer's own automatic checkpoint then
    /// does the job, only more slowly.
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = match Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e,
                    "cannot open the checkpoint connection; the writer checkpoints inline");
                return None;
            }
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let owned: PathBuf = path.to_path_buf();
        let join = std::thread::Builder::new()
            .name("alarmhub-checkpoint".into())
            .spawn(move || run(&conn, &owned, &stopped));
        match join {
            Ok(join) => Some(Checkpointer {
                stop: Some(stop),
                join: Some(join),
            }),
            Err(e) => {
                tracing::warn!(error = %e,
                    "cannot start the checkpoint thread; the writer checkpoints inline");
                None
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once.
        self.stop.take();
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

fn run(conn: &Connection, path: &Path, stopped: &mpsc::Receiver<()>) {
    let mut failing = false;
    // Anything but a timeout (the sender dropped) means stop.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        // Columns: busy flag, pages in the WAL, pages copied so far.
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
        match result {
            Ok(wal_pages) => {
                metrics::gauge!(crate::metrics::names::STORE_WAL_PAGES).set(wal_pages as f64);
                if failing {
                    tracing::info!(path = %path.display(), "WAL checkpoints work again");
                    failing = false;
                }
            }
            Err(e) => {
                // Logged once per failure spell, not every 100 ms.
                if !failing {
                    tracing::warn!(path = %path.display(), error = %e,
                        "WAL checkpoint failed; retrying (the writer's own checkpoint is the fallback)");
                    failing = true;
                }
            }
        }
    }
}
