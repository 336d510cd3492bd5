//! Account changes across nodes ([`crate::store::Store::follow_accounts`] on PostgreSQL):
//! every change of `ah_accounts` is followed by a `NOTIFY` on [`ACCOUNTS_CHANNEL`]
//! (`accounts.rs`), and each node's follower task `LISTEN`s on it and, on each notification
//! and every [`POLL`] regardless (notifications are lost while its connection is down),
//! reads a fingerprint of the table — the truth — and bumps its watch when it moved. The
//! daemon then reloads its live accounts from the table, so a change made on one node is
//! live on every node within about a second, without a restart.

use std::time::Duration;

use tokio::sync::watch;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::connect::Target;
use super::listen_poll::{self, Channel};
use crate::store::StoreError;

/// The notification channel of account changes.
pub(crate) const ACCOUNTS_CHANNEL: &str = "ah_accounts_changed";

/// Longest a node goes without looking at the accounts table.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// Tell every node that the accounts changed (after the change committed).
pub(crate) async fn notify(client: &Client, target: &Target) -> Result<(), StoreError> {
    client
        .batch_execute(&format!("NOTIFY {ACCOUNTS_CHANNEL}"))
        .await
        .map_err(target.err("announce an account change"))
}

/// A fingerprint of the accounts table: moves with every insert, update (each stamps
/// `updated_ms`) and delete; cheap (no settings are read).
async fn fingerprint(client: &Client, target: &Target) -> Result<(i64, i64), StoreError> {
    let row = client
        .query_one(
            "SELECT COUNT(*)::BIGINT, COALESCE(SUM(hashtext(key || ':' || updated_ms::TEXT)\
             ::BIGINT), 0)::BIGINT FROM ah_accounts",
            &[],
        )
        .await
        .map_err(target.err("read the accounts fingerprint"))?;
    Ok((row.get(0), row.get(1)))
}

/// Bump `watch` whenever the accounts table changes, until `stop`.
pub(crate) async fn follow(target: Target, watch: watch::Sender<u64>, stop: CancellationToken) {
    let channel = Channel {
        name: ACCOUNTS_CHANNEL,
        op: "listen for account changes",
        what: "account changes",
    };
    let mut last: Option<(i64, i64)> = None;
    let read: listen_poll::Read<(i64, i64)> = |c, t| Box::pin(fingerprint(c, t));
    listen_poll::follow(&target, channel, POLL, &stop, read, |f| {
        if last.is_some_and(|l| l != f) {
            watch.send_modify(|v| *v = v.wrapping_add(1));
        }
        last = Some(f);
    })
    .await;
}
