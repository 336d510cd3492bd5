//! The audit writer: rows queued by [`super::Auth::audit`] are written in batches on a
//! blocking thread, so an audited call never waits for the disk. Rows still queued at
//! shutdown are written before the task ends.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::store::{AuditLog, AuditRecord, SqliteAuthStore};

/// Rows written in one transaction at most.
const BATCH: usize = 256;

/// Write queued rows until `cancel`, then drain what is left.
pub(crate) async fn writer(
    mut rx: mpsc::Receiver<AuditRecord>,
    store: Arc<Mutex<SqliteAuthStore>>,
    cancel: CancellationToken,
) {
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        tokio::select! {
            _ = cancel.cancelled() => break,
            n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
        }
        write(&store, batch).await;
    }
    rx.close();
    let mut rest = Vec::new();
    while rx.recv_many(&mut rest, BATCH).await > 0 {
        write(&store, std::mem::take(&mut rest)).await;
    }
}

async fn write(store: &Arc<Mutex<SqliteAuthStore>>, batch: Vec<AuditRecord>) {
    let store = Arc::clone(store);
    let n = batch.len();
    let r = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append_audit(&batch)
    })
    .await;
    match r {
        Ok(Ok(())) => metrics::counter!("alarmhub_audit_rows_total").increment(n as u64),
        Ok(Err(e)) => tracing::error!(error = %e, rows = n, "audit rows could not be stored"),
        Err(e) => tracing::error!(error = %e, rows = n, "audit writer task failed"),
    }
}
