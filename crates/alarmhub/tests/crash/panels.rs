//! The crash test's panels: each sends its events one at a time and, like a real panel,
//! counts one as delivered only when its ACK arrives; on a timeout, an error or EOF it
//! reconnects to the daemon's current address and retransmits the very same frame.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::frames::{self, FrameBuf};
use panel_proto::Id;

/// How long a panel waits for the ACK of one transmission.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Events per panel stay below the 4-digit seq wrap, so (account, seq) is unique.
pub const MAX_EVENTS_PER_PANEL: u16 = 9_000;
/// Alarm / restore codes; with zone = n % 1000 each (code, zone) pair is used once per panel.
pub const CODES: [u16; 10] = [1130, 3130, 1131, 3131, 1132, 3132, 1133, 3133, 1134, 3134];

/// The daemon's current panel address; `None` while it is down.
pub type SharedAddr = Arc<Mutex<Option<SocketAddr>>>;

/// One event a panel sent, identified by (account, seq, zone).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId {
    pub account: String,
    pub seq: String,
    pub zone: u16,
}

/// What one panel reports at the end.
#[derive(Debug, Default)]
pub struct PanelReport {
    /// Events whose ACK arrived, with their code.
    pub acked: Vec<(EventId, u16)>,
    /// The event that was sent but never ACKed (load stopped or time ran out), if any.
    pub unresolved: Option<(EventId, u16)>,
    /// Transmissions after the first, over all events.
    pub retransmissions: u64,
    /// Connections opened.
    pub connects: u64,
    /// Events that needed more than one transmission: id, wall-clock ms of the first
    /// transmission and of the ACK.
    pub retransmitted: Vec<(EventId, i64, i64)>,
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .try_into()
        .unwrap()
}

/// Event number `n` of panel `index`: the HB `ADM-CID` frame bytes, its id and code.
fn event_frame(index: usize, account: &str, n: u16) -> (Vec<u8>, EventId, u16) {
    let seq = n + 1;
    let code = CODES[usize::from(n / 1000) % CODES.len()];
    let zone = n % 1000;
    let ademco_id = format!("{:06X}", index + 1);
    let frame = frames::cid_frame(
        Id::AdmCid,
        seq,
        account,
        Some(&ademco_id),
        code,
        0,
        zone,
        Some(now_secs()),
    );
    let id = EventId {
        account: account.to_string(),
        seq: frame.seq.to_string(),
        zone,
    };
    (frames::bytes(&frame), id, code)
}

/// Send `bytes` on `conn` and wait up to [`ACK_TIMEOUT`] for an ACK carrying `seq` (frames
/// the decoder refuses are passed over).
fn send_and_wait_ack(conn: &mut TcpStream, bytes: &[u8], seq: &str) -> bool {
    if conn.write_all(bytes).is_err() {
        return false;
    }
    let mut buf = FrameBuf::default();
    let mut chunk = [0u8; 512];
    let until = Instant::now() + ACK_TIMEOUT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.push(&chunk[..k]),
        }
        while let Some(frame) = buf.next_frame() {
            if let Ok(frame) = frame {
                if frame.id == Id::Ack && frame.seq.as_str() == seq {
                    return true;
                }
            }
        }
    }
}

/// One simulated panel: events one at a time, each retransmitted until ACKed.
pub fn run_panel(
    index: usize,
    addr: &SharedAddr,
    stop: &AtomicBool,
    deadline: Instant,
    sent: &AtomicU64,
) -> PanelReport {
    let account = format!("CRASH{index:03}");
    let mut report = PanelReport::default();
    let mut conn: Option<TcpStream> = None;
    let mut n: u16 = 0;
    while !stop.load(Ordering::Acquire) && n < MAX_EVENTS_PER_PANEL {
        let (bytes, id, code) = event_frame(index, &account, n);
        let mut transmissions = 0u64;
        let mut first_sent_ms = 0;
        let acked = loop {
            if Instant::now() >= deadline {
                break false;
            }
            let Some(c) = conn.as_mut() else {
                let target = *addr.lock().unwrap();
                let Some(target) = target else {
                    // The daemon is down; wait for its restart.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        let _ = s.set_write_timeout(Some(ACK_TIMEOUT));
                        report.connects += 1;
                        conn = Some(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
                continue;
            };
            transmissions += 1;
            if transmissions == 1 {
                first_sent_ms = now_ms();
            }
            sent.fetch_add(1, Ordering::Relaxed);
            if send_and_wait_ack(c, &bytes, &id.seq) {
                break true;
            }
            // Timeout, error or EOF: like a real panel, reconnect and send the same frame.
            conn = None;
        };
        report.retransmissions += transmissions.saturating_sub(1);
        if acked {
            if transmissions > 1 {
                report
                    .retransmitted
                    .push((id.clone(), first_sent_ms, now_ms()));
            }
            report.acked.push((id, code));
            n += 1;
        } else {
            if transmissions > 0 {
                report.unresolved = Some((id, code));
            }
            break;
        }
    }
    report
}
