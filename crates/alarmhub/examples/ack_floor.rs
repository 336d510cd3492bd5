//! The throughput ceiling of `alarmhub simulate` on this machine: a loopback TCP server that
//! decodes each frame with panel-proto and answers it at once with the ACK alarmhub would
//! send — storing nothing, keeping no state, no fsync. `bench/sim-floor.sh` drives it and
//! `alarmhub serve` with the same simulator, so alarmhub's throughput can be stated as a
//! fraction of what the simulator, the kernel's loopback TCP and the tokio runtime allow on
//! their own.
//!
//! ```text
//! cargo run --release -p alarmhub --example ack_floor -- 127.0.0.1:0
//! ```
//! Prints `listening ADDR` on stdout, then serves until killed.

use std::net::SocketAddr;

use bytes::BytesMut;
use panel_proto::build;
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::rules::{detect_dialect, reply_for, Reply};
use panel_proto::timestamp::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")))?;
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "ack_floor listens on loopback only",
        ));
    }
    let listener = TcpListener::bind(addr).await?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream));
    }
}

async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let decoder = Decoder::new(DecoderConfig::default());
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            match decoder.decode(&buf) {
                Decoded::Frame { frame, consumed } => {
                    let _ = buf.split_to(consumed);
                    if reply_for(&frame) == Reply::Ack {
                        let now = Timestamp::from_unix(unix_now());
                        let style = detect_dialect(&frame).ack_style();
                        let _ = build::ack(&frame, style, now, &mut out);
                    }
                }
                Decoded::Invalid { consumed, .. } => {
                    let n = consumed.clamp(1, buf.len().max(1)).min(buf.len());
                    let _ = buf.split_to(n);
                }
                Decoded::Incomplete => break,
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

fn unix_now() -> i64 {
    alarmhub::clock::now_ms() / 1000
}
