//! Server-stream channels bounded in bytes, not only in messages: `channel` gives a
//! sender that waits (or, with `BudgetTx::try_send`, refuses) once the messages queued for
//! one client add up to the stream's byte budget, and a [`BudgetStream`] that frees a
//! message's bytes as tonic takes it. With HTTP/2 flow control bounding what tonic holds
//! after that, a client that reads slowly (or grants no window at all) pins at most
//! `grpc.stream_buffer_bytes` plus one encoder buffer, whatever it asked for.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_stream::Stream;
use tonic::Status;

/// Messages queued at most whatever their size (the byte budget is the real bound).
const SLOTS: usize = 4096;
/// What a status (the last message of a stream) is counted as.
const STATUS_BYTES: usize = 256;
/// gRPC frame header per message.
const FRAME_BYTES: usize = 5;

/// The bytes a reply will take on the wire.
fn size<M: prost::Message>(r: &Result<M, Status>) -> usize {
    match r {
        Ok(m) => m.encoded_len() + FRAME_BYTES,
        Err(_) => STATUS_BYTES,
    }
}

/// The bytes one queued reply holds of its stream's budget; they are given back (and leave
/// `alarmhub_grpc_stream_queued_bytes`) when tonic takes the reply or the stream is dropped.
struct Charge {
    _permit: OwnedSemaphorePermit,
    bytes: u32,
    gauge: metrics::Gauge,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.gauge.decrement(f64::from(self.bytes));
    }
}

/// A queued reply and the bytes it holds.
type Held<M> = (Result<M, Status>, Charge);

/// The sending half.
pub(crate) struct BudgetTx<M> {
    tx: mpsc::Sender<Held<M>>,
    bytes: Arc<Semaphore>,
    budget: usize,
    gauge: metrics::Gauge,
}

impl<M> Clone for BudgetTx<M> {
    fn clone(&self) -> Self {
        BudgetTx {
            tx: self.tx.clone(),
            bytes: Arc::clone(&self.bytes),
            budget: self.budget,
            gauge: self.gauge.clone(),
        }
    }
}

/// Why [`BudgetTx::try_send`] did not queue a reply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError {
    /// The budget (or the slots) is used up: the client is slow.
    Full,
    /// The client is gone.
    Closed,
}

/// The receiving half of a stream's byte-bounded channel, handed to tonic as the response
/// stream.
pub struct BudgetStream<M> {
    rx: mpsc::Receiver<Held<M>>,
}

/// A channel for one stream holding at most `budget` bytes of replies.
pub(crate) fn channel<M: prost::Message>(budget: usize) -> (BudgetTx<M>, BudgetStream<M>) {
    let (tx, rx) = mpsc::channel(SLOTS);
    let budget = budget.clamp(STATUS_BYTES, Semaphore::MAX_PERMITS);
    (
        BudgetTx {
            tx,
            bytes: Arc::new(Semaphore::new(budget)),
            budget,
            gauge: metrics::gauge!(crate::metrics::names::GRPC_STREAM_QUEUED_BYTES),
        },
        BudgetStream { rx },
    )
}

impl<M: prost::Message> BudgetTx<M> {
    /// Permits for a reply: its size, a larger-than-budget reply taking the whole budget
    /// (it then goes alone).
    fn permits(&self, r: &Result<M, Status>) -> u32 {
        u32::try_from(size(r).clamp(1, self.budget)).unwrap_or(u32::MAX)
    }

    /// Queue `r`, waiting while the client's queued bytes are over the budget; `Err` when
    /// the client is gone.
    pub(crate) async fn send(&self, r: Result<M, Status>) -> Result<(), ()> {
        let n = self.permits(&r);
        let permit = Arc::clone(&self.bytes)
            .acquire_many_owned(n)
            .await
            .map_err(|_| ())?;
        let charge = self.charge(permit, n);
        self.tx.send((r, charge)).await.map_err(|_| ())
    }

    /// Count `bytes` as queued until the returned charge is dropped.
    fn charge(&self, permit: OwnedSemaphorePermit, bytes: u32) -> Charge {
        self.gauge.increment(f64::from(bytes));
        Charge {
            _permit: permit,
            bytes,
            gauge: self.gauge.clone(),
        }
    }

    /// Queue `r` only if it fits now.
    pub(crate) fn try_send(&self, r: Result<M, Status>) -> Result<(), TrySendError> {
        if self.tx.is_closed() {
            return Err(TrySendError::Closed);
        }
        let n = self.permits(&r);
        let permit = match Arc::clone(&self.bytes).try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed),
        };
        let charge = self.charge(permit, n);
        self.tx.try_send((r, charge)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TrySendError::Full,
            mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
        })
    }

    /// Resolves once the client is gone.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }
}

impl<M> Stream for BudgetStream<M> {
    type Item = Result<M, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // The charge is dropped here: tonic has the reply, its bytes leave the budget.
        self.rx.poll_recv(cx).map(|o| o.map(|(r, _charge)| r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;
    use tokio_stream::StreamExt;

    fn gap(reason: &str) -> Result<pb::Gap, Status> {
        Ok(pb::Gap {
            from_seq: 1,
            to_seq: 2,
            reason: reason.into(),
        })
    }

    #[tokio::test]
    async fn replies_beyond_the_byte_budget_wait_until_the_client_takes_some() {
        let (tx, mut rx) = channel::<pb::Gap>(1000);
        let big = "x".repeat(400);
        assert_eq!(tx.try_send(gap(&big)), Ok(()));
        assert_eq!(tx.try_send(gap(&big)), Ok(()));
        assert_eq!(
            tx.try_send(gap(&big)),
            Err(TrySendError::Full),
            "over 1000 bytes"
        );
        rx.next().await.unwrap().unwrap();
        assert_eq!(
            tx.try_send(gap(&big)),
            Ok(()),
            "room again once one was taken"
        );
        let huge = "y".repeat(5000);
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(gap(&huge)).await }
        });
        rx.next().await.unwrap().unwrap();
        rx.next().await.unwrap().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(rx.next().await.unwrap().unwrap().reason.len(), 5000);
        drop(rx);
        assert_eq!(tx.try_send(gap("z")), Err(TrySendError::Closed));
    }
}
