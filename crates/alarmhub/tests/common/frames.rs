//! Frames as tests write and read them: Contact ID event frames with the header fields of
//! protocol.md §4, their bytes, [`FrameBuf`] (frames found by their length field in whatever
//! bytes arrived, never by splitting on CR), and [`Panel`], raw bytes over a std TCP stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use panel_proto::build::{contact_id, encode, panel_frame};
use panel_proto::escape::unescape;
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id};

/// The receiver number (`R`) the scripted panels send.
pub const RECEIVER: &str = "123ABC";
/// The line number (`L`) the scripted panels send.
pub const LINE: &str = "456DEF";
/// The frame time the scripted Hengbo host writes (2024-06-01 00:00:00 UTC): a fixed time, so
/// a test can tell it from the receiver's own clock.
pub const FRAME_TIME: i64 = 1_717_200_000;

/// A Contact ID event frame: `id` (`HENG-BO`, `ADM-CID` …), `seq`, R/L as above, the account,
/// the Ademco ID in the data block (if any), and the frame time in Unix seconds (if any).
#[allow(clippy::too_many_arguments)]
pub fn cid_frame(
    id: Id,
    seq: u16,
    account: &str,
    ademco_id: Option<&str>,
    code: u16,
    group: u8,
    zone: u16,
    at: Option<i64>,
) -> Frame {
    panel_frame(
        id,
        seq,
        Some(RECEIVER),
        Some(LINE),
        account,
        Data::ContactId(contact_id(ademco_id, code, group, zone)),
        at.map(Timestamp::from_unix),
    )
}

/// A Hengbo host's event (Ademco ID 000123, frame time [`FRAME_TIME`]).
pub fn hb_event(seq: u16, account: &str, code: u16, group: u8, zone: u16) -> Frame {
    cid_frame(
        Id::HengBo,
        seq,
        account,
        Some("000123"),
        code,
        group,
        zone,
        Some(FRAME_TIME),
    )
}

/// A frame's bytes on the wire (unencrypted).
pub fn bytes(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode(frame, &mut out).unwrap();
    out
}

/// Bytes received so far, cut into frames by their length field.
#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
}

impl FrameBuf {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame; `Some(Err)` for bytes the decoder refused (they are consumed, at
    /// least one byte); `None` while more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, String>> {
        let dec = Decoder::new(DecoderConfig::default());
        match dec.decode(&self.buf) {
            Decoded::Frame { frame, consumed } => {
                self.buf.drain(..consumed);
                Some(Ok(frame))
            }
            Decoded::Invalid { consumed, error } => {
                self.buf.drain(..consumed.clamp(1, self.buf.len()));
                Some(Err(format!("{error} ({consumed} bytes)")))
            }
            Decoded::Incomplete => None,
        }
    }
}

/// A scripted panel on a std TCP connection: raw bytes out, frames (or raw bytes) back.
pub struct Panel {
    pub stream: TcpStream,
    buf: FrameBuf,
}

impl Panel {
    pub fn connect(addr: SocketAddr) -> Panel {
        Panel::try_connect(addr).expect("connect to the panel port")
    }

    /// Connect; the error when the receiver refused the connection before the connect
    /// returned (a reset that overtook it) or nothing answered.
    pub fn try_connect(addr: SocketAddr) -> std::io::Result<Panel> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        Panel::wrap(stream)
    }

    /// Connect from the loopback address `source` (127.0.0.2 …), outside any runtime.
    pub fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Panel {
        Panel::try_connect_from(addr, source).expect("connect to the panel port")
    }

    /// [`Panel::connect_from`], with the error instead of a panic.
    pub fn try_connect_from(addr: SocketAddr, source: std::net::IpAddr) -> std::io::Result<Panel> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let stream = rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            match tokio::time::timeout(Duration::from_secs(5), socket.connect(addr)).await {
                Ok(s) => s?.into_std(),
                Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            }
        })?;
        stream.set_nonblocking(false)?;
        Panel::wrap(stream)
    }

    fn wrap(stream: TcpStream) -> std::io::Result<Panel> {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_nodelay(true)?;
        Ok(Panel {
            stream,
            buf: FrameBuf::default(),
        })
    }

    /// Whether the receiver refuses a new connection to `addr` within `within`: a reset, as
    /// a connection over a cap gets (no closing handshake, nothing left in `TIME_WAIT`),
    /// seen by the connect itself or by the first read after it.
    pub fn refused(addr: SocketAddr, within: Duration) -> bool {
        Panel::was_refused(Panel::try_connect(addr), within)
    }

    /// [`Panel::refused`] for a connection from `source`.
    pub fn refused_from(addr: SocketAddr, source: std::net::IpAddr, within: Duration) -> bool {
        Panel::was_refused(Panel::try_connect_from(addr, source), within)
    }

    /// Whether the receiver ended this connection (EOF or a reset) within about `within`;
    /// what it sends meanwhile is read and dropped.
    pub fn ended(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 4096];
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            match self.stream.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
        false
    }

    fn was_refused(conn: std::io::Result<Panel>, within: Duration) -> bool {
        let reset = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionReset;
        match conn {
            Ok(mut p) => {
                p.stream.set_read_timeout(Some(within)).unwrap();
                let mut tmp = [0u8; 256];
                matches!(p.stream.read(&mut tmp), Err(e) if reset(&e))
            }
            Err(e) => reset(&e),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(&unescape(text).unwrap());
    }

    /// The next reply from the receiver, skipping commands it sends on its own (the 1798
    /// type query to Hengbo hosts); None on timeout/EOF.
    pub fn recv(&mut self, within: Duration) -> Option<Frame> {
        loop {
            let f = self.recv_any(within)?;
            if f.id != Id::HengBo {
                return Some(f);
            }
        }
    }

    /// The next frame from the receiver, or None on timeout/EOF.
    pub fn recv_any(&mut self, within: Duration) -> Option<Frame> {
        self.stream.set_read_timeout(Some(within)).unwrap();
        loop {
            match self.buf.next_frame() {
                Some(Ok(frame)) => return Some(frame),
                Some(Err(e)) => panic!("receiver sent an invalid frame: {e}"),
                None => {}
            }
            let mut tmp = [0u8; 4096];
            match self.stream.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.push(&tmp[..n]),
            }
        }
    }

    /// Raw bytes of the next read (for exact reply checks).
    pub fn recv_raw(&mut self, within: Duration) -> Vec<u8> {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 4096];
        match self.stream.read(&mut tmp) {
            Ok(n) => tmp[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether the receiver closed the connection within `within` (an orderly close: end
    /// of file).
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut tmp = [0u8; 256];
        matches!(self.stream.read(&mut tmp), Ok(0))
    }
}
