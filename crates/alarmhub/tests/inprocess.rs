//! The receiver run in-process (real sockets on 127.0.0.1, real SQLite): supervision under
//! paused time, and remote control against a scripted Hengbo host.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use alarmhub::api::ApiState;
use alarmhub::config::Config;
use alarmhub::control::{ControlRequest, Outcome};
use alarmhub::daemon::{serve, Bound, DaemonError};
use panel_proto::build::{ack, contact_id, encode, panel_frame, AckStyle, Command};
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id, Xdata};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

struct Running {
    bound: Bound,
    handles: ApiState,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Stop the receiver (the test's handles go first; the daemon closes the store itself).
    async fn stop(self) {
        let Running {
            stop,
            task,
            handles,
            ..
        } = self;
        drop(handles);
        let _ = stop.unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

async fn start(panel_extra: &str, extra: &str) -> Running {
    alarmhub::logging::init(alarmhub::config::LogFormat::Text, "debug");
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[panel]\nlisten = \"127.0.0.1:0\"\nudp = false\n{panel_extra}\n[http]\nlisten = \"127.0.0.1:0\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\nsnapshot_secs = 86400\n{extra}",
        dir.path().display()
    );
    let config = Config::from_toml_str(&toml, "<test>").unwrap();
    let (btx, brx) = oneshot::channel();
    let (stx, srx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        config,
        async move {
            let _ = srx.await;
        },
        move |b: &Bound, h: &ApiState| {
            let _ = btx.send((b.clone(), h.clone()));
        },
    ));
    let (bound, handles) = brx.await.unwrap();
    Running {
        bound,
        handles,
        stop: Some(stx),
        task,
        _dir: dir,
    }
}

/// A scripted host on a tokio TCP stream.
struct Host {
    s: TcpStream,
    buf: Vec<u8>,
    seq: u16,
}

const ACCT: &str = "861234567890";

impl Host {
    async fn connect(r: &Running) -> Host {
        Host {
            s: TcpStream::connect(r.bound.panel).await.unwrap(),
            buf: Vec::new(),
            seq: 0,
        }
    }

    async fn send_frame(&mut self, f: &Frame) {
        let mut out = Vec::new();
        encode(f, &mut out).unwrap();
        self.s.write_all(&out).await.unwrap();
    }

    fn event(&mut self, code: u16, group: u8, zone: u16, xdata: Vec<Xdata>) -> Frame {
        self.seq += 1;
        let mut f = panel_frame(
            Id::HengBo,
            self.seq,
            Some("123ABC"),
            Some("456DEF"),
            ACCT,
            Data::ContactId(contact_id(Some("000123"), code, group, zone)),
            Some(Timestamp::from_unix(1_717_200_000)),
        );
        f.xdata = xdata;
        f
    }

    /// Report an event and wait for its ACK.
    async fn report(&mut self, code: u16, group: u8, zone: u16) {
        let f = self.event(code, group, zone, Vec::new());
        self.send_frame(&f).await;
        let a = self.recv().await.expect("ACK");
        assert_eq!((a.id, a.seq), (Id::Ack, f.seq));
    }

    /// Next frame, or None on EOF.
    async fn recv(&mut self) -> Option<Frame> {
        let dec = Decoder::new(DecoderConfig::default());
        loop {
            if let Decoded::Frame { frame, consumed } = dec.decode(&self.buf) {
                self.buf.drain(..consumed);
                return Some(frame);
            }
            let mut tmp = [0u8; 2048];
            let n = self.s.read(&mut tmp).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Next frame that is not a command from the receiver (the 1798 type query).
    async fn recv_reply(&mut self) -> Option<Frame> {
        loop {
            let f = self.recv().await?;
            if f.id != Id::HengBo {
                return Some(f);
            }
        }
    }

    async fn heartbeat(&mut self) {
        let f = panel_frame(
            Id::Null,
            0,
            Some("123ABC"),
            Some("456DEF"),
            ACCT,
            Data::Empty,
            Some(Timestamp::from_unix(1_717_200_000)),
        );
        self.send_frame(&f).await;
        assert_eq!(self.recv_reply().await.unwrap().id, Id::Ack);
    }

    /// ACK a command the way a host does (same seq), then report the resulting status.
    async fn ack(&mut self, cmd: &Frame) {
        let mut out = Vec::new();
        let mut reply = cmd.clone();
        reply.account = Some(ACCT.into());
        ack(
            &reply,
            AckStyle::Hb,
            Timestamp::from_unix(1_717_200_000),
            &mut out,
        )
        .unwrap();
        self.s.write_all(&out).await.unwrap();
    }
}

fn request(command: Command, section: u8) -> ControlRequest {
    ControlRequest {
        account: ACCT.into(),
        command,
        section,
        requested_by: "test".into(),
    }
}

/// A disarm; `None` leaves the password to the account's configuration.
fn disarm(password: Option<&str>) -> Command {
    Command::Disarm {
        password: password.unwrap_or_default().into(),
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_panel_online_and_silence_takes_it_offline_after_interval_plus_grace() {
    let r = start("supervision_secs = 60\nsupervision_grace_secs = 30\n", "").await;
    let mut h = Host::connect(&r).await;
    h.heartbeat().await;
    // Heartbeats every 50 s of (paused) time keep it online.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(50)).await;
        h.heartbeat().await;
    }
    assert!(r.handles.registry.get(ACCT).unwrap().online);
    let t0 = tokio::time::Instant::now();
    // Silence: the receiver closes the link after 60 + 30 s and stores OFFLINE.
    assert!(
        h.recv_reply().await.is_none(),
        "connection closed by the receiver"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(90) && waited < Duration::from_secs(92),
        "{waited:?}"
    );
    // Real time again: the OFFLINE event's commit happens on the writer thread.
    tokio::time::resume();
    let reg = Arc::clone(&r.handles.registry);
    for _ in 0..200 {
        if !reg.get(ACCT).unwrap().online {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!reg.get(ACCT).unwrap().online);
    r.stop().await;
}

#[tokio::test]
async fn arm_and_disarm_are_confirmed_by_the_host_and_the_new_status_is_tracked() {
    let r = start("", "[control]\ntimeout_secs = 2\nretries = 1\n[[accounts]]\naccount = \"861234567890\"\npassword = \"123456\"\n").await;
    let mut h = Host::connect(&r).await;
    h.report(1737, 0, 0).await; // I am a wired host (type 6)
    h.report(1400, 0, 0).await; // disarmed
    let p = r.handles.registry.get(ACCT).unwrap();
    assert_eq!(
        (p.machine_type, p.status[0], p.ademco_id),
        (6, 2, Some(0x123))
    );

    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 0)).await });
    let cmd = h.recv().await.unwrap();
    let c = cmd.contact_id().unwrap();
    assert_eq!(
        (
            cmd.id.clone(),
            c.event_code(),
            c.group,
            c.account.as_deref()
        ),
        (Id::HengBo, 3400, 0, Some("000123"))
    );
    h.ack(&cmd).await;
    assert_eq!(arm.await.unwrap(), Outcome::Done);
    h.report(3400, 0, 99).await; // host reports armed, source = receiving centre
    assert_eq!(r.handles.registry.get(ACCT).unwrap().status[0], 0);

    // Disarm: the configured password travels in binary-length xdata.
    let control = r.handles.control.clone();
    let disarm = tokio::spawn(async move { control.execute(request(disarm(None), 0)).await });
    let cmd = h.recv().await.unwrap();
    assert_eq!(cmd.contact_id().unwrap().event_code(), 1400);
    assert_eq!(cmd.xdata, vec![Xdata::HbBinary(b"123456".to_vec())]);
    h.ack(&cmd).await;
    assert_eq!(disarm.await.unwrap(), Outcome::Done);

    // The audit trail holds every command with its outcome.
    let reader = alarmhub::store::SqliteReader::open(&r.handles.config.store.data_dir).unwrap();
    let control: Vec<_> = reader
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.event.source == alarmhub::events::Source::Control)
        .collect();
    let audit: Vec<(u16, String)> = control
        .iter()
        .map(|e| {
            (
                e.event.code,
                e.event.detail.to_value()["outcome"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        audit,
        vec![(3400, "done".to_string()), (1400, "done".to_string())]
    );
    // The same, as the typed facts the store keeps in columns.
    let typed: Vec<_> = control
        .iter()
        .map(|e| {
            e.event
                .facts
                .control
                .map(|c| (c.action.as_str(), c.outcome.as_str()))
        })
        .collect();
    assert_eq!(
        typed,
        vec![Some(("arm_away", "done")), Some(("disarm", "done"))]
    );
    r.stop().await;
}

#[tokio::test]
async fn an_unanswered_command_is_resent_with_the_same_seq_then_times_out() {
    let r = start("", "[control]\ntimeout_secs = 1\nretries = 1\n").await;
    let mut h = Host::connect(&r).await;
    h.report(1737, 0, 0).await;
    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 0)).await });
    let first = h.recv().await.unwrap();
    let second = h.recv().await.unwrap();
    assert_eq!(first.seq, second.seq, "a retry keeps its seq");
    assert_eq!(arm.await.unwrap(), Outcome::TimedOut);
    r.stop().await;
}

#[tokio::test]
async fn commands_to_offline_unsupported_or_malformed_targets_are_refused_clearly() {
    let r = start("", "").await;
    let c = r.handles.control.clone();
    assert_eq!(
        c.execute(request(Command::ArmAway, 0)).await,
        Outcome::PanelOffline
    );
    let mut h = Host::connect(&r).await;
    h.report(1737, 0, 0).await; // wired host: no arm stay, no sections
    assert!(matches!(
        c.execute(request(Command::ArmStay, 0)).await,
        Outcome::NotSupported(_)
    ));
    assert!(matches!(
        c.execute(request(Command::ArmAway, 2)).await,
        Outcome::NotSupported(_)
    ));
    assert!(matches!(
        c.execute(request(Command::ArmAway, 7)).await,
        Outcome::BadRequest(_)
    ));
    assert!(
        matches!(
            c.execute(request(disarm(None), 0)).await,
            Outcome::BadRequest(_)
        ),
        "no password anywhere"
    );
    assert!(matches!(
        c.execute(request(disarm(Some("12ab")), 0)).await,
        Outcome::BadRequest(_)
    ));
    drop((h, c));
    r.stop().await;
}

#[tokio::test]
async fn a_three_section_host_is_armed_per_section_and_tracks_each_section() {
    let r = start("", "[control]\ntimeout_secs = 2\nretries = 0\n").await;
    let mut h = Host::connect(&r).await;
    h.report(1757, 0, 0).await; // three-section host (type 8)
    let control = r.handles.control.clone();
    let arm = tokio::spawn(async move { control.execute(request(Command::ArmAway, 2)).await });
    let cmd = h.recv().await.unwrap();
    assert_eq!(cmd.contact_id().unwrap().group, 2);
    h.ack(&cmd).await;
    assert_eq!(arm.await.unwrap(), Outcome::Done);
    h.report(3400, 2, 99).await;
    h.report(1400, 3, 0).await;
    let p = r.handles.registry.get(ACCT).unwrap();
    assert_eq!((p.status[2], p.status[3]), (0, 2));
    r.stop().await;
}
