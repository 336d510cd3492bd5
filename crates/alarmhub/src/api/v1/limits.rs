//! `grpc.max_streams`: how many server streams (`WatchEvents`, `Subscribe`) may be open
//! at once in the whole server. One more gets `RESOURCE_EXHAUSTED` at once, naming the
//! setting; a stream's place is given back when its task ends.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::metrics::names;

/// The server-wide count of open streams.
pub(crate) struct Streams {
    open: Arc<Semaphore>,
    max: usize,
}

/// One open stream's place.
pub(crate) struct StreamPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Streams {
    /// At most `max` streams.
    pub(crate) fn new(max: usize) -> Streams {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Streams {
            open: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A place for a new `call` stream, or `RESOURCE_EXHAUSTED`.
    pub(crate) fn open(&self, call: &'static str) -> Result<StreamPermit, Status> {
        match Arc::clone(&self.open).try_acquire_owned() {
            Ok(p) => Ok(StreamPermit(p)),
            Err(_) => {
                metrics::counter!(names::GRPC_STREAMS_LIMITED_TOTAL, "reason" => "max_streams")
                    .increment(1);
                Err(Status::resource_exhausted(format!(
                    "{call}: {} streams are open, the server's limit (grpc.max_streams); \
                     retry later",
                    self.max
                )))
            }
        }
    }
}
