//! UDP transport of one virtual panel: one connected UDP socket per panel (from its source
//! address, if any), one frame per datagram, the same [`Panel`] rules. There is no
//! connection to lose: a frame that is never ACKed is simply sent again after a backoff,
//! and ICMP "port unreachable" errors are counted as connection errors.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{sleep_until, Instant};

use super::panel::{Ctx, Panel, Step};
use super::stats::dec;
use super::tcp::RX;

/// Run panel `index` until the run is over.
pub(crate) async fn run(ctx: Arc<Ctx>, index: u32) {
    let mut panel = Panel::new(Arc::clone(&ctx), index, Instant::now());
    match bind(&ctx, index).await {
        Ok(sock) => {
            ctx.stats.connected();
            exchange(&ctx, &mut panel, &sock).await;
            dec(&ctx.stats.c.connected);
        }
        Err(e) => {
            let what = format!("{}: udp socket for {}: {e}", panel.account(), ctx.s.target);
            ctx.stats.error(&ctx.stats.c.connect_errors, || what);
        }
    }
    panel.finish();
}

async fn bind(ctx: &Ctx, index: u32) -> io::Result<UdpSocket> {
    let target = ctx.s.target;
    let local = match ctx.s.source_ip(index) {
        Some(ip) => ip,
        None if target.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let sock = UdpSocket::bind(SocketAddr::new(local, 0))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("bind {local}: {e}")))?;
    // Connected: only the target's datagrams are received.
    sock.connect(target).await?;
    Ok(sock)
}

async fn exchange(ctx: &Ctx, panel: &mut Panel, sock: &UdpSocket) {
    let mut rx = [0u8; RX];
    let mut backoff = Duration::from_secs(1);
    panel.on_connected(Instant::now(), true);
    loop {
        let step = panel.poll(Instant::now());
        if !panel.out.is_empty() {
            if let Err(e) = sock.send(&panel.out).await {
                let what = format!("{}: udp send: {e}", panel.account());
                ctx.stats.error(&ctx.stats.c.connect_errors, || what);
            }
            panel.out.clear();
        }
        match step {
            Step::Continue => {}
            Step::Done => return,
            Step::Reconnect => {
                // Nobody answers: wait, then start the frame's retries over.
                let until = Instant::now() + backoff;
                if until >= ctx.end {
                    return;
                }
                sleep_until(until).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                panel.on_connected(Instant::now(), false);
                continue;
            }
        }
        let deadline = panel.next_deadline();
        tokio::select! {
            r = sock.recv(&mut rx) => match r {
                Ok(n) => {
                    if panel.feed(&mut rx, n, Instant::now()) > 0 {
                        let what = format!("{}: datagram ends inside a frame", panel.account());
                        ctx.stats.error(&ctx.stats.c.protocol_errors, || what);
                    }
                }
                Err(e) => {
                    let what = format!("{}: udp receive: {e}", panel.account());
                    ctx.stats.error(&ctx.stats.c.connect_errors, || what);
                }
            },
            _ = sleep_until(deadline) => {}
        }
    }
}
