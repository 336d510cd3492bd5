//! What a virtual panel reports and how it is written on the wire.
//!
//! [`Mix`] is one panel's small state (armed or not, one open alarm or trouble) and draws the
//! next event from a realistic mix: alarms that are later restored, troubles with their
//! recovery, arm/disarm by users, periodic tests and (Hengbo) signal-strength reports.
//! [`Writer`] turns an [`Ev`] or a heartbeat into frame bytes with `panel_proto::build`, in
//! the chosen dialect, encrypted when a key is set.

use std::fmt::Write as _;

use panel_proto::build::{contact_id, encode, encode_encrypted, panel_frame, sia_data};
use panel_proto::codes::code;
use panel_proto::crypto::Key;
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Id, Xdata};
use rand::rngs::SmallRng;
use rand::Rng;

use super::settings::Dialect;

/// One event as a panel reports it: HB/Contact ID numbers (`code` = qualifier × 1000 + code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ev {
    pub code: u16,
    pub group: u8,
    pub zone: u16,
    /// Hengbo: send as `HENG-BO` (status, type, signal, command results), else `ADM-CID`.
    pub private: bool,
    /// Hengbo 1799: the BCD signal byte carried in binary xdata.
    pub signal: Option<u8>,
}

impl Ev {
    fn new(code: u16, group: u8, zone: u16) -> Ev {
        Ev {
            code,
            group,
            zone,
            private: false,
            signal: None,
        }
    }

    pub(crate) fn private(code: u16, group: u8, zone: u16) -> Ev {
        Ev {
            private: true,
            ..Ev::new(code, group, zone)
        }
    }
}

/// Alarm codes (new event; restore = code + 2000) and the zone range they use.
const ALARMS: [u16; 6] = [1130, 1130, 1110, 1151, 1113, 1120];
/// Trouble codes with a recovery (code + 2000). Hengbo: AC, battery, lost sensor, power.
const HB_TROUBLES: [u16; 4] = [1301, 1302, 1393, 1384];
/// DC-09: AC loss, low battery, RF low battery.
const DC09_TROUBLES: [u16; 3] = [1301, 1302, 1384];
/// Hengbo type reports ("I am …"): GPRS, wired, LCD, network module, WiFi.
const HB_TYPES: [u16; 5] = [1717, 1737, 1727, 1707, 1817];

/// One panel's state for drawing events.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    pub dialect: Dialect,
    pub armed: bool,
    /// An alarm or trouble waiting for its restore.
    open: Option<Ev>,
}

impl Mix {
    pub(crate) fn new(dialect: Dialect, rng: &mut SmallRng) -> Mix {
        Mix {
            dialect,
            armed: rng.random_bool(0.5),
            open: None,
        }
    }

    /// The type report a Hengbo host sends (17x7), chosen by panel number.
    pub(crate) fn type_event(index: u32) -> Ev {
        Ev::private(HB_TYPES[index as usize % HB_TYPES.len()], 0, 0)
    }

    /// The current arm state as a status report: HB 3400/1400 by the host itself,
    /// DC-09 Contact ID 3401/1401 (close/open by user 1).
    pub(crate) fn status_event(&self) -> Ev {
        match (self.dialect, self.armed) {
            (Dialect::Hb, true) => Ev::private(code::ARM_AWAY, 0, 0),
            (Dialect::Hb, false) => Ev::private(code::DISARM, 0, 0),
            (_, true) => Ev::new(3401, 1, 1),
            (_, false) => Ev::new(1401, 1, 1),
        }
    }

    /// The next event of the mix.
    pub(crate) fn next(&mut self, rng: &mut SmallRng) -> Ev {
        let hb = self.dialect == Dialect::Hb;
        let group = if hb { 0 } else { 1 };
        if let Some(open) = self.open {
            if rng.random_bool(0.6) {
                self.open = None;
                return Ev::new(open.code + 2000, open.group, open.zone);
            }
        }
        let roll = rng.random_range(0..100u32);
        match roll {
            0..=29 if self.open.is_none() => {
                let code = ALARMS[rng.random_range(0..ALARMS.len())];
                let ev = Ev::new(code, group, rng.random_range(1..=32));
                self.open = Some(ev);
                ev
            }
            30..=49 if self.open.is_none() => {
                let list: &[u16] = if hb { &HB_TROUBLES } else { &DC09_TROUBLES };
                let code = list[rng.random_range(0..list.len())];
                let zone = if matches!(code, 1301 | 1302) {
                    0
                } else {
                    rng.random_range(1..=32)
                };
                let ev = Ev::new(code, group, zone);
                self.open = Some(ev);
                ev
            }
            90..=94 if hb => {
                // Signal strength 10..31, BCD.
                let s: u8 = rng.random_range(10..=31);
                Ev {
                    signal: Some((s / 10) << 4 | (s % 10)),
                    ..Ev::private(code::SIGNAL_STRENGTH, 0, 0)
                }
            }
            90..=94 => Ev::new(1602, 0, 0),
            95..=99 => Ev::new(1570, group, rng.random_range(1..=32)),
            _ => {
                // Arm / disarm by a user: HB zone = operation source (0 keypad, 1..3 fob,
                // 1xx phone app); DC-09 zone = user number.
                self.armed = !self.armed;
                let status = if self.armed {
                    code::ARM_AWAY
                } else {
                    code::DISARM
                };
                if hb {
                    let zone = [0, 1, 2, 3, 101, 156][rng.random_range(0..6)];
                    Ev::private(status, 0, zone)
                } else {
                    Ev::new(status + 1, group, rng.random_range(1..=8))
                }
            }
        }
    }
}

/// The SIA two-letter code for a Contact ID code (qualifier 1 = event, 3 = restore).
pub(crate) fn sia_code(code: u16) -> &'static str {
    let restore = code / 1000 == 3;
    let pair = match code % 1000 {
        130 => ("BA", "BH"),
        110 => ("FA", "FH"),
        151 => ("GA", "GH"),
        113 => ("WA", "WH"),
        120 => ("PA", "PH"),
        301 => ("AT", "AR"),
        302 => ("YT", "YR"),
        384 => ("XT", "XR"),
        400 | 401 => ("OP", "CL"),
        570 => ("BB", "BU"),
        602 => ("RP", "RP"),
        _ => ("UA", "UH"),
    };
    if restore {
        pair.1
    } else {
        pair.0
    }
}

/// The current UTC time as a frame timestamp (wall clock: only for frame timestamps, never
/// for timing).
pub(crate) fn now_timestamp() -> Timestamp {
    Timestamp::from_unix(crate::clock::now_ms() / 1000)
}

/// Writes one panel's frames.
pub(crate) struct Writer {
    pub account: String,
    /// HB: the Ademco ID as 6 hex digits; DC-09: the account again.
    data_account: String,
    dialect: Dialect,
    /// DC-09 `R` token, if any.
    receiver: Option<String>,
    sia: String,
}

impl Writer {
    pub(crate) fn new(
        dialect: Dialect,
        account: String,
        index: u32,
        receiver: Option<String>,
    ) -> Writer {
        let data_account = match dialect {
            Dialect::Hb => format!("{:06X}", index % 999_999 + 1),
            _ => account.clone(),
        };
        Writer {
            account,
            data_account,
            dialect,
            receiver,
            sia: String::new(),
        }
    }

    fn header(&self) -> (Option<&str>, Option<&str>) {
        match self.dialect {
            Dialect::Hb => (Some("123ABC"), Some("456DEF")),
            _ => (self.receiver.as_deref(), Some("0")),
        }
    }

    /// Append the frame for `ev` with sequence number `seq` to `out`.
    pub(crate) fn event(
        &mut self,
        ev: &Ev,
        seq: u16,
        key: Option<&Key>,
        rng: &mut SmallRng,
        out: &mut Vec<u8>,
    ) -> panel_proto::Result<()> {
        let (id, data) = match self.dialect {
            Dialect::Sia => {
                self.sia.clear();
                let _ = write!(
                    self.sia,
                    "Nri{}/{}{:03}",
                    ev.group,
                    sia_code(ev.code),
                    ev.zone
                );
                let d = sia_data(Some(&self.data_account), &self.sia);
                (Id::SiaDcs, Data::Sia(d))
            }
            d => {
                let c = contact_id(Some(&self.data_account), ev.code, ev.group, ev.zone);
                let id = if d == Dialect::Hb && ev.private {
                    Id::HengBo
                } else {
                    Id::AdmCid
                };
                (id, Data::ContactId(c))
            }
        };
        self.write(id, seq, data, ev.signal, key, rng, out)
    }

    /// Append a heartbeat (`NULL`, seq 0000) to `out`.
    pub(crate) fn heartbeat(
        &mut self,
        key: Option<&Key>,
        rng: &mut SmallRng,
        out: &mut Vec<u8>,
    ) -> panel_proto::Result<()> {
        self.write(Id::Null, 0, Data::Empty, None, key, rng, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        id: Id,
        seq: u16,
        data: Data,
        signal: Option<u8>,
        key: Option<&Key>,
        rng: &mut SmallRng,
        out: &mut Vec<u8>,
    ) -> panel_proto::Result<()> {
        let (r, l) = self.header();
        let mut frame = panel_frame(id, seq, r, l, &self.account, data, Some(now_timestamp()));
        if let Some(s) = signal {
            frame.xdata.push(Xdata::HbBinary(vec![s]));
        }
        match key {
            None => encode(&frame, out),
            Some(key) => {
                // Printable pad bytes: some receivers decode the plaintext as text.
                let mut pad = [0u8; 16];
                for b in &mut pad {
                    *b = 0x21 + rng.random_range(0..94u8);
                }
                frame.encrypted = true;
                encode_encrypted(&frame, key, &pad, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use panel_proto::framing::{Decoded, Decoder};
    use rand::SeedableRng;

    fn decode(bytes: &[u8]) -> panel_proto::Frame {
        match Decoder::default().decode(bytes) {
            Decoded::Frame { frame, consumed } if consumed == bytes.len() => frame,
            other => panic!("{other:?} for {}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn every_dialect_writes_frames_the_codec_reads_back() {
        let mut rng = SmallRng::seed_from_u64(7);
        let key = Key::parse("000102030405060708090A0B0C0D0E0F", Default::default()).unwrap();
        for dialect in [Dialect::Hb, Dialect::Cid, Dialect::Sia] {
            let mut mix = Mix::new(dialect, &mut rng);
            let mut w = Writer::new(dialect, "SIM000001".into(), 0, None);
            for i in 0..200u16 {
                let ev = mix.next(&mut rng);
                let mut out = Vec::new();
                w.event(&ev, i + 1, None, &mut rng, &mut out).unwrap();
                let f = decode(&out);
                assert_eq!(f.account.as_deref(), Some("SIM000001"));
                assert_eq!(f.seq_number(), Some(i + 1));
                if dialect != Dialect::Sia {
                    assert_eq!(f.contact_id().unwrap().event_code(), ev.code);
                }
                if dialect != Dialect::Hb {
                    out.clear();
                    w.event(&ev, 9, Some(&key), &mut rng, &mut out).unwrap();
                    let mut f = decode(&out);
                    panel_proto::parse::decrypt(&mut f, &key).unwrap();
                    assert!(f.encrypted && f.timestamp.is_some());
                }
            }
            let mut out = Vec::new();
            w.heartbeat(None, &mut rng, &mut out).unwrap();
            assert_eq!(decode(&out).id, Id::Null);
        }
    }

    #[test]
    fn alarms_are_restored_and_hb_status_uses_heng_bo() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut mix = Mix::new(Dialect::Hb, &mut rng);
        let mut open = std::collections::HashMap::new();
        for _ in 0..10_000 {
            let ev = mix.next(&mut rng);
            match ev.code / 1000 {
                1 if ev.code != 1400 && ev.code != 1799 && ev.code != 1570 => {
                    assert!(open.insert(ev.code, ev.zone).is_none())
                }
                3 if ev.code != 3400 => assert_eq!(open.remove(&(ev.code - 2000)), Some(ev.zone)),
                _ => {}
            }
        }
        assert!(mix.status_event().private);
        assert_eq!(sia_code(3130), "BH");
        assert_eq!(sia_code(1401), "OP");
    }
}
