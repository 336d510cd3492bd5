//! TCP transport of one virtual panel: connect (from its source address, if any), run the
//! [`Panel`] over the connection, and reconnect with jittered exponential backoff (1 s
//! doubling to 30 s) until the run ends — to the next receiver of `--target A,B,…` after
//! each failure, as a panel with a primary and a secondary receiver does. One task per panel; its only buffers are a
//! fixed receive array and the panel's frame buffers.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{sleep_until, timeout, Instant};

use super::panel::{Ctx, Panel, Step};
use super::stats::dec;

/// Receive buffer per connection: ACKs and commands are < 200 bytes.
pub(crate) const RX: usize = 512;
/// Kernel socket buffers: frames are tiny, and 100,000 connections add up.
const SOCK_BUF: u32 = 16 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);

/// Run panel `index` until the run is over.
pub(crate) async fn run(ctx: Arc<Ctx>, index: u32) {
    let mut panel = Panel::new(Arc::clone(&ctx), index, Instant::now());
    let mut backoff = Duration::from_secs(1);
    // Which receiver: the panel's own first (spread), the next one after each failure.
    let mut turn = index as usize;
    while Instant::now() < ctx.end {
        let target = ctx.s.targets[turn % ctx.s.targets.len()];
        match connect(&ctx, index, target).await {
            Ok(stream) => {
                ctx.stats.connected();
                let started = Instant::now();
                let r = session(&ctx, &mut panel, stream).await;
                dec(&ctx.stats.c.connected);
                match r {
                    Ok(Step::Done) => break,
                    Ok(_) => {} // no ACK after every retry (counted by the panel)
                    Err(e) => {
                        let what = format!("{}: connection lost: {e}", panel.account());
                        ctx.stats.error(&ctx.stats.c.disconnects, || what);
                    }
                }
                if started.elapsed() >= STABLE {
                    backoff = Duration::from_secs(1);
                }
            }
            Err(e) => {
                let what = format!("{}: connect to {target}: {e}", panel.account());
                ctx.stats.error(&ctx.stats.c.connect_errors, || what);
            }
        }
        turn = turn.wrapping_add(1);
        let wait = backoff.mul_f64(rand::rng().random_range(0.5..1.0));
        if Instant::now() + wait >= ctx.end {
            break;
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    panel.finish();
}

async fn connect(ctx: &Ctx, index: u32, target: SocketAddr) -> io::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Best effort: the defaults work too, only with more kernel memory.
    let _ = sock.set_recv_buffer_size(SOCK_BUF);
    let _ = sock.set_send_buffer_size(SOCK_BUF);
    if let Some(ip) = ctx.s.source_ip(index) {
        sock.bind(SocketAddr::new(ip, 0))
            .map_err(|e| io::Error::new(e.kind(), format!("bind {ip}: {e}")))?;
    }
    let limit = ctx.s.ack_timeout.max(Duration::from_secs(5));
    let stream = timeout(limit, sock.connect(target))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One connection: returns `Done` at the end of the run, `Reconnect` when a frame was
/// never ACKed, or the I/O error that ended it.
async fn session(ctx: &Ctx, panel: &mut Panel, mut stream: TcpStream) -> io::Result<Step> {
    let mut rx = [0u8; RX];
    let mut len = 0;
    panel.on_connected(Instant::now(), true);
    loop {
        let step = panel.poll(Instant::now());
        if !panel.out.is_empty() {
            timeout(ctx.s.ack_timeout, stream.write_all(&panel.out))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))??;
            panel.out.clear();
        }
        if step != Step::Continue {
            return Ok(step);
        }
        let deadline = panel.next_deadline();
        tokio::select! {
            r = stream.read(&mut rx[len..]) => {
                let n = r?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed by the receiver",
                    ));
                }
                len = panel.feed(&mut rx, len + n, Instant::now());
            }
            _ = sleep_until(deadline) => {}
        }
    }
}
