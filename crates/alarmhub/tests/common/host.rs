//! The one scripted Hengbo host (protocol.md §2.7–2.9), over a tokio TCP stream: it reports
//! events with its own seq counter and waits for their ACKs, sends heartbeats, and answers
//! the receiver's commands the way a host does — an ACK with the command's seq, then the
//! status it now reports (zone 99: operated by the receiving centre), or 1701 when a disarm
//! carries the wrong password, or its type report for a 1798 query. Commands that arrive while
//! it waits for an ACK are kept, in order, for [`Host::command`].
//!
//! [`BlockingHost`] is the same host for tests without a runtime (the binary tests).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use panel_proto::build::{ack, panel_frame, AckStyle};
use panel_proto::codes::code;
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id, Xdata};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frames::{self, FrameBuf, FRAME_TIME, LINE, RECEIVER};
use super::{ACCT, STEP};

/// Zone 99 in a status report: operated by the direct-connection receiving centre (§2.9).
pub const BY_RECEIVER: u16 = 99;
/// What a host reports when a disarm carries the wrong password (HB private code).
pub const DISARM_PASSWORD_ERROR: u16 = 1701;

/// A scripted Hengbo host on one connection.
pub struct Host {
    stream: TcpStream,
    buf: FrameBuf,
    /// Commands received while waiting for something else, oldest first.
    commands: VecDeque<Frame>,
    seq: u16,
    /// The account it reports as ([`ACCT`] unless changed before the first report).
    pub account: String,
    /// The disarm password it accepts.
    pub password: String,
    /// What it reports when asked its type (1798): 1737, a wired host.
    pub type_report: u16,
    /// Longest wait for one frame from the receiver: [`STEP`] in real time; under paused time
    /// a virtual bound that only has to exceed the receiver's own timers.
    pub limit: Duration,
}

impl Host {
    /// Connect to a receiver's panel port.
    pub async fn connect(addr: SocketAddr) -> Host {
        Host::connect_with_limit(addr, STEP).await
    }

    /// Connect from the loopback address `source` (127.0.0.2 …: another machine as far
    /// as the receiver can tell).
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Host {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = tokio::time::timeout(STEP, socket.connect(addr))
            .await
            .expect("connect timed out")
            .unwrap();
        Host::on(stream, STEP)
    }

    /// Connect, waiting at most `limit` for each frame from the receiver.
    pub async fn connect_with_limit(addr: SocketAddr, limit: Duration) -> Host {
        let stream = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .unwrap();
        Host::on(stream, limit)
    }

    fn on(stream: TcpStream, limit: Duration) -> Host {
        stream.set_nodelay(true).unwrap();
        Host {
            stream,
            buf: FrameBuf::default(),
            commands: VecDeque::new(),
            seq: 0,
            account: ACCT.to_string(),
            password: "123456".to_string(),
            type_report: 1737,
            limit,
        }
    }

    /// The next event frame (seq + 1), not sent yet.
    pub fn event(&mut self, code: u16, group: u8, zone: u16) -> Frame {
        self.seq += 1;
        frames::hb_event(self.seq, &self.account, code, group, zone)
    }

    pub async fn send(&mut self, frame: &Frame) {
        self.send_bytes(&frames::bytes(frame)).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Report an event of the whole host (group 0) and wait for its ACK.
    pub async fn report(&mut self, code: u16, zone: u16) {
        self.report_in(code, 0, zone).await;
    }

    /// Report an event of section `group` and wait for its ACK: the first frame that is not
    /// a command must be the ACK with the event's seq.
    pub async fn report_in(&mut self, code: u16, group: u8, zone: u16) {
        let f = self.event(code, group, zone);
        self.send(&f).await;
        let a = self.recv_reply().await.expect("ACK");
        assert_eq!((a.id, a.seq), (Id::Ack, f.seq), "the ACK of {code}");
    }

    /// A heartbeat (`NULL`, seq 0, no data), ACKed.
    pub async fn heartbeat(&mut self) {
        let f = panel_frame(
            Id::Null,
            0,
            Some(RECEIVER),
            Some(LINE),
            &self.account,
            Data::Empty,
            Some(Timestamp::from_unix(FRAME_TIME)),
        );
        self.send(&f).await;
        assert_eq!(self.recv_reply().await.expect("ACK").id, Id::Ack);
    }

    /// The next frame from the receiver (kept commands first); `None` once it closed the
    /// connection. Panics when nothing arrives within [`Host::limit`].
    pub async fn recv(&mut self) -> Option<Frame> {
        if let Some(c) = self.commands.pop_front() {
            return Some(c);
        }
        self.read_frame().await
    }

    /// The next frame that is not a command (commands are kept); `None` on close.
    pub async fn recv_reply(&mut self) -> Option<Frame> {
        loop {
            let f = self.read_frame().await?;
            if f.id != Id::HengBo {
                return Some(f);
            }
            self.commands.push_back(f);
        }
    }

    /// The next command with event code `code`; other frames before it are passed over.
    pub async fn command(&mut self, code: u16) -> Frame {
        loop {
            let f = self
                .recv()
                .await
                .expect("the receiver closed the connection");
            if f.id == Id::HengBo && f.contact_id().map(|c| c.event_code()) == Some(code) {
                return f;
            }
        }
    }

    /// ACK a command as a host does: the same frame back as an HB ACK with its seq.
    pub async fn ack(&mut self, cmd: &Frame) {
        let mut reply = cmd.clone();
        reply.account = Some(self.account.as_str().into());
        let mut out = Vec::new();
        ack(
            &reply,
            AckStyle::Hb,
            Timestamp::from_unix(FRAME_TIME),
            &mut out,
        )
        .unwrap();
        self.send_bytes(&out).await;
    }

    /// ACK a command, then report what a host reports after executing it (if anything).
    pub async fn answer(&mut self, cmd: &Frame) {
        self.ack(cmd).await;
        if let Some((code, group, zone)) = self.result(cmd) {
            self.report_in(code, group, zone).await;
        }
    }

    /// Wait for the command `code`, then [`Host::answer`] it; returns the command.
    pub async fn answer_command(&mut self, code: u16) -> Frame {
        let cmd = self.command(code).await;
        self.answer(&cmd).await;
        cmd
    }

    /// The status event a host reports after executing `cmd`: (code, section, zone).
    pub fn result(&self, cmd: &Frame) -> Option<(u16, u8, u16)> {
        let c = cmd.contact_id()?;
        let section = c.group;
        match c.event_code() {
            code::WHAT_IS_YOUR_TYPE => Some((self.type_report, 0, 0)),
            done @ (code::ARM_AWAY | code::ARM_STAY | code::EMERGENCY) => {
                Some((done, section, BY_RECEIVER))
            }
            code::DISARM => {
                let given = cmd.xdata.iter().find_map(|x| match x {
                    Xdata::HbBinary(p) | Xdata::HbHex4(p) => Some(p.as_slice()),
                    Xdata::Dc09 { .. } => None,
                });
                match given == Some(self.password.as_bytes()) {
                    true => Some((code::DISARM, section, BY_RECEIVER)),
                    false => Some((DISARM_PASSWORD_ERROR, section, BY_RECEIVER)),
                }
            }
            _ => None,
        }
    }

    /// Read until one whole frame is there; `None` on EOF.
    async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            match self.buf.next_frame() {
                Some(Ok(frame)) => return Some(frame),
                Some(Err(e)) => panic!("the receiver sent an invalid frame: {e}"),
                None => {}
            }
            let mut tmp = [0u8; 2048];
            let read = tokio::time::timeout(self.limit, self.stream.read(&mut tmp)).await;
            let n = read
                .unwrap_or_else(|_| panic!("no frame from the receiver within {:?}", self.limit))
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.push(&tmp[..n]);
        }
    }
}

/// [`Host`] for tests without a runtime: each call runs the host on a runtime of its own.
/// (Not from inside a runtime: `block_on` would panic.)
pub struct BlockingHost {
    // Dropped before the runtime its socket is registered with.
    host: Host,
    rt: tokio::runtime::Runtime,
}

impl BlockingHost {
    pub fn connect(addr: SocketAddr) -> BlockingHost {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let host = rt.block_on(Host::connect(addr));
        BlockingHost { host, rt }
    }

    /// The host itself (its account, password, type report, limit).
    pub fn host(&mut self) -> &mut Host {
        &mut self.host
    }

    pub fn report(&mut self, code: u16, zone: u16) {
        self.rt.block_on(self.host.report(code, zone));
    }

    pub fn report_in(&mut self, code: u16, group: u8, zone: u16) {
        self.rt.block_on(self.host.report_in(code, group, zone));
    }

    pub fn heartbeat(&mut self) {
        self.rt.block_on(self.host.heartbeat());
    }

    pub fn recv(&mut self) -> Option<Frame> {
        self.rt.block_on(self.host.recv())
    }

    pub fn command(&mut self, code: u16) -> Frame {
        self.rt.block_on(self.host.command(code))
    }

    pub fn ack(&mut self, cmd: &Frame) {
        self.rt.block_on(self.host.ack(cmd));
    }

    pub fn answer(&mut self, cmd: &Frame) {
        self.rt.block_on(self.host.answer(cmd));
    }
}
