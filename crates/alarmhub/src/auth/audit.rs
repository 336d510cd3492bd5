//! The audit writer: rows queued by [`super::Auth::audit`] are written in batches on a
//! blocking thread, so an audited call never waits for the disk. Rows still queued at
//! shutdown are written before the task ends. The rows the access check writes are built
//! here too, and reads of the trail and the credentials ([`super::Auth::query_audit`],
//! [`super::Auth::credentials`]) go through the same open backend: no connection per call.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::gate::Refusal;
use super::role::Role;
use super::store::{AuditQuery, AuditRecord, AuthBackend, AuthStoreError, TokenRow, UserRow};

/// Rows written in one transaction at most.
const BATCH: usize = 256;

impl super::Auth {
    /// Run `f` on the daemon's open backend on a blocking thread; a detached `Auth` (tests,
    /// tools) opens the backend `store` names for the call.
    async fn with_backend<T: Send + 'static>(
        &self,
        store: &crate::config::StoreConfig,
        f: impl FnOnce(&dyn AuthBackend) -> Result<T, AuthStoreError> + Send + 'static,
    ) -> Result<T, AuthStoreError> {
        let held = self.backend();
        let store = store.clone();
        tokio::task::spawn_blocking(move || match held {
            Some(b) => f(b.lock().unwrap_or_else(|p| p.into_inner()).as_ref()),
            None => super::store::open_backend(&store).and_then(|b| f(b.as_ref())),
        })
        .await
        .map_err(|e| AuthStoreError::Io {
            path: std::path::PathBuf::from("auth backend task"),
            source: Arc::new(std::io::Error::other(e.to_string())),
        })?
    }

    /// Audit rows matching `q`, newest first (`ListAudit`).
    pub async fn query_audit(
        &self,
        store: &crate::config::StoreConfig,
        q: AuditQuery,
    ) -> Result<Vec<AuditRecord>, AuthStoreError> {
        self.with_backend(store, move |b| b.query_audit(&q)).await
    }

    /// Every token and user as stored (the console's lists; hashes stay server-side).
    pub async fn credentials(
        &self,
        store: &crate::config::StoreConfig,
    ) -> Result<(Vec<TokenRow>, Vec<UserRow>), AuthStoreError> {
        self.with_backend(store, |b| b.load()).await
    }
}

/// Write queued rows until `cancel`, then drain what is left.
pub(crate) async fn writer(
    mut rx: mpsc::Receiver<AuditRecord>,
    store: Arc<Mutex<Box<dyn AuthBackend>>>,
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

async fn write(store: &Arc<Mutex<Box<dyn AuthBackend>>>, batch: Vec<AuditRecord>) {
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
        Ok(Ok(())) => {
            metrics::counter!(crate::metrics::names::AUDIT_ROWS_TOTAL).increment(n as u64)
        }
        Ok(Err(e)) => tracing::error!(error = %e, rows = n, "audit rows could not be stored"),
        Err(e) => tracing::error!(error = %e, rows = n, "audit writer task failed"),
    }
}

/// An address for logs and audit rows (`-` when unknown).
pub(crate) fn fmt_addr(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "-".into(), |a| a.to_string())
}

/// The row of a refused call.
pub(crate) fn refusal_record(
    action: &str,
    addr: Option<SocketAddr>,
    r: &Refusal,
    had_token: bool,
) -> AuditRecord {
    AuditRecord {
        at_ms: crate::clock::now_ms(),
        who: "-".into(),
        role: "-".into(),
        kind: if had_token { "token" } else { "anonymous" }.into(),
        addr: fmt_addr(addr),
        action: action.into(),
        outcome: r.outcome().into(),
        detail: serde_json::json!({ "reason": r.to_string() }).to_string(),
        ..AuditRecord::default()
    }
}

/// The row of a login attempt.
pub(crate) fn login_record(
    name: &str,
    addr: Option<SocketAddr>,
    role: Option<Role>,
    outcome: &str,
) -> AuditRecord {
    AuditRecord {
        at_ms: crate::clock::now_ms(),
        who: name.into(),
        role: role.map_or("-", Role::as_str).into(),
        kind: "user".into(),
        addr: fmt_addr(addr),
        action: "login".into(),
        target: name.into(),
        outcome: outcome.into(),
        detail: "{}".into(),
        ..AuditRecord::default()
    }
}
