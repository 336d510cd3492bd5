//! [`AppendTicket`]: an append handed to the store, to be awaited for its outcomes. The
//! receiver hands every read pass's events over this way ([`super::Store::submit`]): with
//! the SQLite writer's queue not full, handing over is one queue push and the wait is one
//! channel, where awaiting the `async` [`super::Store::append`] from the connection's
//! pipeline took two boxed futures per pass (the pipeline's and the trait's) on the path
//! every event takes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::StoreError;
use crate::events::Appended;

/// The outcomes of one append, one per event, in order.
pub type AppendAnswer = Result<Vec<Appended>, StoreError>;

/// A backend's own future for an append.
pub type AppendFuture = Pin<Box<dyn Future<Output = AppendAnswer> + Send>>;

/// An append handed to the store. Resolves to what [`super::Store::append`] would have
/// answered; durable by then, as there. Dropping it does not withdraw the events (as with
/// a dropped `append`, they may be stored all the same).
pub enum AppendTicket {
    /// Queued with the backend's writer, whose answer comes on this channel (a writer
    /// gone without answering is [`StoreError::Closed`]).
    Queued(oneshot::Receiver<AppendAnswer>),
    /// The backend's own future: a backend without a queue of its own, or a queue that
    /// was full (the future waits for room first, as `append` does).
    Future(AppendFuture),
    /// Answered at once (nothing to store, or the store is closed); `None` once taken.
    Ready(Option<AppendAnswer>),
}

impl AppendTicket {
    /// A ticket answered already.
    pub fn ready(answer: AppendAnswer) -> AppendTicket {
        AppendTicket::Ready(Some(answer))
    }
}

impl std::fmt::Debug for AppendTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AppendTicket::Queued(_) => "AppendTicket::Queued",
            AppendTicket::Future(_) => "AppendTicket::Future",
            AppendTicket::Ready(_) => "AppendTicket::Ready",
        })
    }
}

impl Future for AppendTicket {
    type Output = AppendAnswer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AppendAnswer> {
        match self.get_mut() {
            AppendTicket::Queued(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(StoreError::Closed))),
            AppendTicket::Future(f) => f.as_mut().poll(cx),
            // Polled again after it answered: the answer was taken; say closed rather than
            // panic (a `Pipeline` never does this).
            AppendTicket::Ready(answer) => {
                Poll::Ready(answer.take().unwrap_or(Err(StoreError::Closed)))
            }
        }
    }
}
