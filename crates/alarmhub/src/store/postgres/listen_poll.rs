//! The one "LISTEN, and poll regardless" loop of the PostgreSQL followers that only need a
//! wake-up (account changes, alarm changes): a connection `LISTEN`s on a channel, and on each
//! notification and every `poll` interval a probe reads the truth from the database
//! (notifications are lost while the connection is down). A failed probe or a closed
//! connection drops the listener; the next round connects again.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::connect::Target;
use crate::store::StoreError;

/// What a follower listens for.
pub(crate) struct Channel {
    /// The notification channel.
    pub name: &'static str,
    /// The operation its connection errors name ("listen for account changes").
    pub op: &'static str,
    /// What its logs call the changes ("account changes").
    pub what: &'static str,
}

/// Reads the truth on the listening connection.
pub(crate) type Read<T> =
    for<'c> fn(&'c Client, &'c Target) -> BoxFuture<'c, Result<T, StoreError>>;

/// On a connection listening on `channel`, at every notification and every `poll`: `read`
/// the truth and hand it to `apply`, until `stop`.
pub(crate) async fn follow<T>(
    target: &Target,
    channel: Channel,
    poll: Duration,
    stop: &CancellationToken,
    read: Read<T>,
    mut apply: impl FnMut(T),
) {
    let mut listener: Option<(Client, mpsc::UnboundedReceiver<_>)> = None;
    loop {
        if listener.is_none() {
            listener = listen(target, &channel).await;
        }
        if let Some((client, _)) = &listener {
            match read(client, target).await {
                Ok(truth) => apply(truth),
                Err(e) => {
                    tracing::debug!(error = %e, "the follower of {} lost its connection", channel.what);
                    listener = None;
                }
            }
        }
        let note = async {
            match &mut listener {
                Some((_, rx)) => rx.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            open = note => {
                if !open {
                    listener = None;
                }
            }
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// A connection listening on `channel`, or `None` (logged; retried next round).
async fn listen(
    target: &Target,
    channel: &Channel,
) -> Option<(Client, mpsc::UnboundedReceiver<(String, String)>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let result = async {
        let client = target.connect_listening(channel.op, tx).await?;
        client
            .batch_execute(&format!("LISTEN {}", channel.name))
            .await
            .map_err(target.err(channel.op))?;
        Ok::<_, StoreError>(client)
    }
    .await;
    match result {
        Ok(client) => Some((client, rx)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other nodes' {}; retrying", channel.what);
            None
        }
    }
}
