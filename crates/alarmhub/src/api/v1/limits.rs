//! `grpc.max_streams` and `grpc.max_streams_per_source`: how many server streams
//! (`WatchEvents`, `WatchAlarms`, `Subscribe`) may be open at once in the whole server, and
//! from one client address. One more gets `RESOURCE_EXHAUSTED` at once, naming the setting;
//! a stream's places are given back when its task ends.
//!
//! The per-source cap is what keeps one client from taking every place (and the work of
//! fanning each event out to all of them) from the others: the server-wide cap alone lets
//! a single address hold all `max_streams`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::metrics::names;

/// Open streams per client address.
type PerSource = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The server-wide and per-address counts of open streams.
pub(crate) struct Streams {
    open: Arc<Semaphore>,
    max: usize,
    per_source: PerSource,
    /// Streams one address may have open (0: no per-address limit).
    max_per_source: usize,
}

/// One open stream's places (server-wide and for its address).
pub(crate) struct StreamPermit {
    _server: OwnedSemaphorePermit,
    _source: Option<SourcePlace>,
}

/// A stream's place under its address's count, given back when dropped.
struct SourcePlace {
    ip: IpAddr,
    per_source: PerSource,
}

impl Drop for SourcePlace {
    fn drop(&mut self) {
        let mut m = self.per_source.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Streams {
    /// At most `max` streams, and `max_per_source` from one address (0: no such limit).
    pub(crate) fn new(max: usize, max_per_source: usize) -> Streams {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Streams {
            open: Arc::new(Semaphore::new(max)),
            max,
            per_source: Arc::default(),
            max_per_source,
        }
    }

    /// A place for a new `call` stream from `source` (`None`: the address is unknown, only
    /// the server-wide cap applies), or `RESOURCE_EXHAUSTED` naming the limit.
    pub(crate) fn open(
        &self,
        call: &'static str,
        source: Option<IpAddr>,
    ) -> Result<StreamPermit, Status> {
        // The per-address place first: a refused source never takes a server-wide one.
        let source = match source.filter(|_| self.max_per_source > 0) {
            Some(ip) => Some(self.take_source(call, ip)?),
            None => None,
        };
        match Arc::clone(&self.open).try_acquire_owned() {
            Ok(p) => Ok(StreamPermit {
                _server: p,
                _source: source,
            }),
            Err(_) => {
                // The address's place (`source`, dropped here) is given back.
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

    /// Count one more stream for `ip`, or refuse it.
    fn take_source(&self, call: &'static str, ip: IpAddr) -> Result<SourcePlace, Status> {
        let mut m = self.per_source.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= self.max_per_source {
            drop(m);
            metrics::counter!(names::GRPC_STREAMS_LIMITED_TOTAL, "reason" => "max_streams_per_source")
                .increment(1);
            return Err(Status::resource_exhausted(format!(
                "{call}: {} streams are open from {ip}, the limit per client address \
                 (grpc.max_streams_per_source); close one or retry later",
                self.max_per_source
            )));
        }
        *n += 1;
        Ok(SourcePlace {
            ip,
            per_source: Arc::clone(&self.per_source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_at_most_its_share_and_places_come_back() {
        let s = Streams::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let p1 = s.open("WatchEvents", Some(a)).unwrap();
        let _p2 = s.open("WatchEvents", Some(a)).unwrap();
        let refused = s.open("WatchEvents", Some(a)).err().unwrap();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("grpc.max_streams_per_source")
                && refused.message().contains("127.0.0.1"),
            "{}",
            refused.message()
        );
        let _p3 = s.open("Subscribe", Some(b)).unwrap();
        let full = s.open("Subscribe", Some(b)).err().unwrap();
        assert!(
            full.message().contains("(grpc.max_streams)"),
            "{}",
            full.message()
        );
        drop(p1);
        let _p4 = s.open("WatchEvents", Some(a)).unwrap();
        assert_eq!(
            s.per_source.lock().unwrap().get(&b),
            Some(&1),
            "a refused stream gave its address's place back"
        );
    }

    #[test]
    fn zero_means_no_per_address_limit() {
        let s = Streams::new(10, 0);
        let a: IpAddr = [127, 0, 0, 1].into();
        let held: Vec<_> = (0..10)
            .map(|_| s.open("WatchEvents", Some(a)).unwrap())
            .collect();
        assert_eq!(held.len(), 10);
        assert!(s.per_source.lock().unwrap().is_empty());
    }
}
