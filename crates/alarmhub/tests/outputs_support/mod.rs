//! Shared parts of the output tests: events, in-memory sources, a scripted central
//! station (Sur-Gard) and a scripted Hengbo host behind the control interface (MQTT).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alarmhub::events::{NewEvent, Source};
use alarmhub::outputs::memory::{MemoryCursors, MemoryLog, MemoryPanels};
use alarmhub::outputs::{ArmAction, CommandOutcome, ControlCommand, Controller, Sources};
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub mod mqtt;

/// A panel event with a Contact ID code.
pub fn cid(account: &str, code: u16, group: u16, zone: u16) -> NewEvent {
    NewEvent {
        account: account.into(),
        source: Source::Panel,
        code,
        sia_code: None,
        group,
        zone,
        received_at_ms: 1_700_000_000_000,
        panel_time: None,
        protocol: "HENG-BO".into(),
        frame_seq: "0001".into(),
        peer: "127.0.0.1:9".into(),
        detail: serde_json::json!({ "dialect": "hb" }).into(),
        facts: alarmhub::events::Facts {
            dialect: Some(panel_proto::rules::Dialect::Hb),
            ..Default::default()
        },
        dedup_key: None,
    }
}

/// The receiver's own ONLINE (1946) / OFFLINE (1944) event.
pub fn link(account: &str, code: u16) -> NewEvent {
    NewEvent {
        source: Source::Receiver,
        protocol: String::new(),
        frame_seq: String::new(),
        ..cid(account, code, 0, 0)
    }
}

/// Log, cursors and panels in memory, wired like the daemon.
pub struct Memory {
    pub log: Arc<MemoryLog>,
    pub cursors: Arc<MemoryCursors>,
    pub panels: Arc<MemoryPanels>,
}

impl Memory {
    pub fn new() -> Memory {
        let panels = Arc::new(MemoryPanels::default());
        Memory {
            log: Arc::new(MemoryLog::new(Some(panels.clone()))),
            cursors: Arc::new(MemoryCursors::default()),
            panels,
        }
    }

    pub fn sources(&self, controller: Arc<dyn Controller>) -> Sources {
        Sources {
            log: self.log.clone(),
            cursors: self.cursors.clone(),
            controller,
            panels: self.panels.clone(),
        }
    }
}

/// A controller that refuses everything (outputs that never command).
pub struct Refuse;

impl Controller for Refuse {
    fn execute(&self, _c: ControlCommand) -> BoxFuture<'_, CommandOutcome> {
        async { CommandOutcome::BadRequest("no control in this test".into()) }.boxed()
    }
}

/// A Hengbo host behind the control path: after `delay` it confirms the command and
/// reports the new status as an event (as a real host does), unless the password is wrong.
pub struct ScriptedHost {
    pub log: Arc<MemoryLog>,
    pub delay: Duration,
    pub password: String,
    pub calls: Mutex<Vec<ControlCommand>>,
    pub confirmed: AtomicUsize,
}

impl ScriptedHost {
    pub fn new(log: Arc<MemoryLog>, delay: Duration) -> Arc<ScriptedHost> {
        Arc::new(ScriptedHost {
            log,
            delay,
            password: "123456".into(),
            calls: Mutex::new(Vec::new()),
            confirmed: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> Vec<ControlCommand> {
        self.calls.lock().unwrap().clone()
    }
}

impl Controller for ScriptedHost {
    fn execute(&self, c: ControlCommand) -> BoxFuture<'_, CommandOutcome> {
        async move {
            self.calls.lock().unwrap().push(c.clone());
            tokio::time::sleep(self.delay).await;
            let code = match c.action {
                ArmAction::ArmAway => 3400,
                ArmAction::ArmStay => 3456,
                ArmAction::Disarm => {
                    let pw = c.password.as_ref().map(|p| p.expose().to_string());
                    if pw.as_deref() != Some(self.password.as_str()) {
                        self.log
                            .append(cid(&c.account, 1701, u16::from(c.section), 0));
                        return CommandOutcome::WrongPassword;
                    }
                    1400
                }
            };
            self.confirmed.fetch_add(1, Ordering::SeqCst);
            // The host ACKs, then reports the new status with source 99 (direct centre).
            self.log
                .append(cid(&c.account, code, u16::from(c.section), 99));
            CommandOutcome::Done
        }
        .boxed()
    }
}

/// A central station's side of a Sur-Gard automation link.
pub struct Cms {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Cms {
    pub async fn connect(addr: &str) -> Cms {
        Cms {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub fn from(stream: TcpStream) -> Cms {
        Cms {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next message, DC4 included.
    pub async fn message(&mut self) -> Vec<u8> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == 0x14) {
                return self.buf.drain(..=end).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the output closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn ack(&mut self) {
        self.stream.write_all(&[0x06]).await.unwrap();
    }

    pub async fn nak(&mut self) {
        self.stream.write_all(&[0x15]).await.unwrap();
    }
}

/// `5011 18AAAAQXYZGGCCC` + DC4.
pub fn cid_bytes(account: &str, code: u16, group: u16, zone: u16) -> Vec<u8> {
    let q = match code / 1000 {
        1 => 'E',
        3 => 'R',
        _ => 'P',
    };
    format!(
        "5011 18{account}{q}{:03}{group:02}{zone:03}\x14",
        code % 1000
    )
    .into_bytes()
}
