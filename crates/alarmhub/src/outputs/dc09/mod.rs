//! DC-09 forwarding (`[[automation]] kind = "dc09"`): alarmhub passes events on to an
//! upstream SIA DC-09 receiver (another ARC) the way a panel would, fed from the event log
//! by a stored cursor like the Sur-Gard output.
//!
//! * this module: the frame for one event — SIA events as `SIA-DCS` with the panel's own
//!   block, Contact ID events as `ADM-CID` (Hengbo codes translated to the standard ones,
//!   the same mapping as Sur-Gard, `crate::outputs::surgard::signal`), the receiver's
//!   OFFLINE / ONLINE as 350 communication trouble; the account from `account_map`;
//! * [`driver`]: the connection, the ACK / NAK / DUH rules and the cursor.

use panel_proto::build::{contact_id, panel_frame, sia_data};
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id};

use crate::events::StoredEvent;
use crate::outputs::surgard::codec::{sia_body, Skip};
use crate::outputs::surgard::signal::{signal, Signal};

pub mod driver;

pub use driver::Dc09Output;

/// Whether `account` can be a DC-09 account upstream: 3 to 16 hex digits.
pub fn upstream_account_ok(account: &str) -> bool {
    (3..=16).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The account the upstream receiver gets: the mapped one, else the panel's own when it is
/// a DC-09 account.
pub fn map_account(account: &str, mapped: Option<&str>) -> Result<String, Skip> {
    let text = mapped.unwrap_or(account).to_ascii_uppercase();
    if upstream_account_ok(&text) {
        Ok(text)
    } else {
        Err(Skip::Account(account.to_string()))
    }
}

/// Where the frames say they come from (`R` receiver and `L` line, hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `R` token (without the `R`).
    pub receiver: String,
    /// `L` token (without the `L`).
    pub line: String,
}

/// The frame for `event` with sequence number `seq` (1..=9999) and time `now`.
pub fn frame_for(
    origin: &Origin,
    event: &StoredEvent,
    account: &str,
    seq: u16,
    now: Timestamp,
) -> Result<Frame, Skip> {
    let e = &event.event;
    let (id, data) = match signal(e)? {
        Signal::Sia(sia) => {
            let body = sia_body(event, &sia)?;
            (Id::SiaDcs, Data::Sia(sia_data(Some(account), &body)))
        }
        Signal::ContactId { code, .. } => {
            let (q, _) = panel_proto::codes::split_code(code);
            if !matches!(q, 1 | 3 | 6) || e.group > 99 || e.zone > 999 {
                return Err(Skip::Field(format!(
                    "code {code} group {} zone {} do not fit Contact ID (Q 1/3/6, GG, CCC)",
                    e.group, e.zone
                )));
            }
            // `group <= 99` was just checked.
            let group = u8::try_from(e.group).unwrap_or(0);
            let block = contact_id(Some(account), code, group, e.zone);
            (Id::AdmCid, Data::ContactId(block))
        }
    };
    Ok(panel_frame(
        id,
        seq,
        Some(&origin.receiver),
        Some(&origin.line),
        account,
        data,
        Some(now),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Facts, NewEvent, Source};
    use panel_proto::build::encode;
    use panel_proto::rules::Dialect;

    fn event(code: u16, sia: Option<(&str, &str)>, dialect: Dialect) -> StoredEvent {
        let detail = match sia {
            Some((_, body)) => serde_json::json!({ "sia_body": body }),
            None => serde_json::json!({}),
        };
        StoredEvent {
            seq: 1,
            event: NewEvent {
                account: "861234567890".into(),
                source: Source::Panel,
                code,
                sia_code: sia.map(|(c, _)| c.to_string()),
                group: 1,
                zone: 5,
                received_at_ms: 0,
                panel_time: None,
                protocol: String::new(),
                frame_seq: "0001".into(),
                peer: "127.0.0.1:1".into(),
                facts: Facts {
                    dialect: Some(dialect),
                    ..Facts::default()
                },
                detail: detail.into(),
                dedup_key: None,
            },
        }
    }

    fn text(f: &Frame) -> String {
        let mut out = Vec::new();
        encode(f, &mut out).unwrap();
        // LF, CRC (4), length (4) … CR: the part after the length field.
        String::from_utf8_lossy(&out[9..out.len() - 1]).into_owned()
    }

    #[test]
    fn frames_carry_the_mapped_account_and_the_form_of_the_origin() {
        let o = Origin {
            receiver: "12".into(),
            line: "3".into(),
        };
        let ts = Timestamp::from_unix(1_717_200_000);
        let hb = frame_for(&o, &event(1113, None, Dialect::Hb), "C0DE", 7, ts).unwrap();
        assert!(
            text(&hb).starts_with("\"ADM-CID\"0007R12L3#C0DE[#C0DE|1154 01 005]_"),
            "{}",
            text(&hb)
        );
        let adm = frame_for(&o, &event(1134, None, Dialect::Dc09), "C0DE", 8, ts).unwrap();
        assert!(text(&adm).contains("[#C0DE|1134 01 005]"), "{}", text(&adm));
        let sia = event(0, Some(("BA", "Nri1/BA05")), Dialect::Dc09);
        let f = frame_for(&o, &sia, "C0DE", 9, ts).unwrap();
        assert!(
            text(&f).starts_with("\"SIA-DCS\"0009R12L3#C0DE[#C0DE|Nri1/BA05]_"),
            "{}",
            text(&f)
        );
        let bell = frame_for(&o, &event(1134, None, Dialect::Hb), "C0DE", 10, ts);
        assert_eq!(bell.unwrap_err(), Skip::NotASignal);
    }

    #[test]
    fn accounts_must_be_dc09_accounts_upstream() {
        assert_eq!(map_account("861234567890", None).unwrap(), "861234567890");
        assert_eq!(map_account("861234567890", Some("c0de")).unwrap(), "C0DE");
        assert!(map_account("12", None).is_err());
        assert!(map_account("86-1234", None).is_err());
        assert!(map_account(&"1".repeat(17), None).is_err());
    }
}
