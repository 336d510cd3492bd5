//! Watching a panel's socket while its session waits: a session step (a read pass, a
//! command, a timer) may wait seconds for the store when the database lags. Without
//! watching, a panel that gave up meanwhile (no ACK in time, so it reconnects or fails over)
//! left its old socket in CLOSE_WAIT on this node for the whole wait: under a lagging store
//! and reconnecting panels those sockets added up to thousands of descriptors per node, and
//! with them the connection cap refused live panels (issue #14, cluster-100k).
//!
//! [`watch`] runs the step to its end (the events it handed to the store stay handed) and
//! meanwhile reads the socket into a bounded side buffer: bytes that come in are kept for
//! the next pass, and an end of stream or a read error is noticed at once. A peer that only
//! shut down its sending side may still read its ACK, so the socket is kept for
//! [`HALF_CLOSE_GRACE`] more; a step that is still waiting then releases it (the socket and
//! its slot under the connection caps). The panel retransmits what was not ACKed, to this
//! node or another; the store deduplicates.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpStream;

use super::session::CloseReason;

/// How long a socket whose peer sent its end of stream is kept for the ACK of a step that is
/// still waiting for the store.
pub const HALF_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// An open panel socket and whatever else must be released with it (the slots it takes
/// under the connection caps).
pub struct Open<S> {
    /// The socket.
    pub stream: TcpStream,
    /// Released with the socket.
    pub slot: S,
}

/// Run `work` to its end while reading `socket` into `early` (at most about `cap` bytes).
/// Returns the work's output and, when the peer ended its stream or the socket failed
/// meanwhile, why; the socket is then `None` when it was released during the wait (see the
/// module doc), otherwise still open for the step's replies.
pub async fn watch<S, T>(
    socket: &mut Option<Open<S>>,
    early: &mut BytesMut,
    cap: usize,
    work: impl Future<Output = T>,
) -> (T, Option<CloseReason>) {
    tokio::pin!(work);
    let mut gone: Option<CloseReason> = None;
    let grace = tokio::time::sleep(HALF_CLOSE_GRACE);
    tokio::pin!(grace);
    loop {
        let reading = gone.is_none() && early.len() < cap && socket.is_some();
        let releasing = gone.is_some() && socket.is_some();
        let readable = async {
            match socket.as_ref() {
                Some(open) => open.stream.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // The work first: a step that is done is never held up by the watch.
            biased;
            t = &mut work => return (t, gone),
            r = readable, if reading => {
                gone = match r {
                    Ok(()) => read_some(socket, early),
                    Err(e) => Some(CloseReason::Io(format!("read error: {e}"))),
                };
                if gone.is_some() {
                    grace.as_mut().reset(tokio::time::Instant::now() + HALF_CLOSE_GRACE);
                }
            }
            () = &mut grace, if releasing => {
                // The step still waits: release the descriptor and the connection slot now.
                *socket = None;
            }
        }
    }
}

/// One non-blocking read into `early`; the reason to close on an end of stream or an error.
fn read_some<S>(socket: &Option<Open<S>>, early: &mut BytesMut) -> Option<CloseReason> {
    let open = socket.as_ref()?;
    early.reserve(512);
    match open.stream.try_read_buf(early) {
        Ok(0) => Some(CloseReason::ClosedByPeer),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) => Some(CloseReason::Io(format!("read error: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A slot that counts its releases.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    #[tokio::test]
    async fn bytes_that_arrive_during_a_step_are_kept_for_the_next_pass() {
        let (mut panel, node) = pair().await;
        let released = Arc::new(AtomicUsize::new(0));
        let mut socket = Some(Open {
            stream: node,
            slot: Counted(Arc::clone(&released)),
        });
        let mut early = BytesMut::new();
        let work = async {
            panel.write_all(b"heartbeat").await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            7
        };
        let (out, gone) = watch(&mut socket, &mut early, 4096, work).await;
        assert_eq!(out, 7);
        assert!(gone.is_none());
        assert_eq!(&early[..], b"heartbeat");
        assert!(socket.is_some());
        assert_eq!(released.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_peer_gone_during_a_long_step_releases_the_socket_after_the_grace() {
        let (panel, node) = pair().await;
        let released = Arc::new(AtomicUsize::new(0));
        let mut socket = Some(Open {
            stream: node,
            slot: Counted(Arc::clone(&released)),
        });
        let mut early = BytesMut::new();
        let seen = Arc::clone(&released);
        let work = async move {
            drop(panel);
            // The store "lags" far beyond the grace; the slot goes before the step ends.
            let end = tokio::time::Instant::now() + HALF_CLOSE_GRACE * 4;
            while tokio::time::Instant::now() < end && seen.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::Instant::now()
        };
        let started = tokio::time::Instant::now();
        let (ended, gone) = watch(&mut socket, &mut early, 4096, work).await;
        assert_eq!(gone, Some(CloseReason::ClosedByPeer));
        assert!(socket.is_none(), "socket released during the step");
        assert_eq!(released.load(Ordering::SeqCst), 1);
        let waited = ended - started;
        assert!(
            waited >= HALF_CLOSE_GRACE && waited < HALF_CLOSE_GRACE * 3,
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn a_half_closed_peer_still_gets_the_reply_of_a_quick_step() {
        let (mut panel, node) = pair().await;
        let mut socket = Some(Open {
            stream: node,
            slot: (),
        });
        let mut early = BytesMut::new();
        panel.shutdown().await.unwrap();
        let work = tokio::time::sleep(Duration::from_millis(200));
        let ((), gone) = watch(&mut socket, &mut early, 4096, work).await;
        assert_eq!(gone, Some(CloseReason::ClosedByPeer));
        let open = socket.expect("kept for the reply");
        open.stream.try_write(b"ACK").unwrap();
        let mut got = [0u8; 3];
        tokio::io::AsyncReadExt::read_exact(&mut panel, &mut got)
            .await
            .unwrap();
        assert_eq!(&got, b"ACK");
    }

    #[tokio::test]
    async fn the_side_buffer_is_bounded() {
        let (mut panel, node) = pair().await;
        let mut socket = Some(Open {
            stream: node,
            slot: (),
        });
        let mut early = BytesMut::new();
        let flood = vec![b'x'; 256 * 1024];
        let work = async {
            // The panel floods while the step waits; its writes stall once the node stops
            // reading, so the write is bounded in time.
            let _ = tokio::time::timeout(Duration::from_millis(500), panel.write_all(&flood)).await;
        };
        let ((), gone) = watch(&mut socket, &mut early, 4096, work).await;
        assert!(gone.is_none());
        assert!(early.len() < 4096 + 64 * 1024, "{}", early.len());
    }
}
