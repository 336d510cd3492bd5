//! What a stored event means to a central station, decided by where it came from. Pure.
//!
//! * **DC-09 SIA-DCS** (a SIA event: code 0, a SIA code): the Sur-Gard SIA form, with the
//!   panel's own data block when it is safe to forward.
//! * **DC-09 ADM-CID** (a standard Contact ID code from a DC-09 panel): the Contact ID form,
//!   the code unchanged; its SIA equivalent (for accounts that need the SIA form) from the
//!   standard Contact ID table, so 1134 is an entry/exit burglary (`BA`).
//! * **Hengbo** (`HENG-BO` frames, and ingested events, which use the Hengbo table like the
//!   rest of alarmhub, `crate::events::naming`): HB's codes are *not* all standard Contact
//!   ID. [`hb_to_contact_id`] gives the standard code that means the same to a central
//!   station (HB 1113 water leak → 1154, not 113 water flow, a sprinkler fire signal; HB
//!   1456 arm stay → 3456, a closing) and drops HB's private codes (1134 door bell, 3100,
//!   1799 signal strength, the host-type reports …) as not signals. The SIA equivalent comes
//!   from HB's own SIA column first.
//! * **The receiver's** OFFLINE / ONLINE verdicts: Contact ID 350 communication trouble
//!   (`E350` / `R350`); control audit rows and other receiver rows are not signals.

use panel_proto::codes;
use panel_proto::rules::Dialect;

use super::codec::Skip;
use crate::events::naming::code_table;
use crate::events::{codes as ev, NewEvent, Source};

/// How an event goes to the central station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The Contact ID form with this standard 4-digit code (qualifier + XYZ); `sia` is its
    /// SIA equivalent, used only for an account that fits the SIA form alone.
    ContactId {
        /// Standard Contact ID code, e.g. 1130.
        code: u16,
        /// SIA two-letter equivalent, when one is known.
        sia: Option<&'static str>,
    },
    /// The SIA form: the panel's SIA code (its own block is forwarded when safe).
    Sia(String),
}

/// The signal `e` stands for, or why it is not sent.
pub fn signal(e: &NewEvent) -> Result<Signal, Skip> {
    match e.source {
        Source::Control => Err(Skip::NotASignal),
        Source::Receiver => match e.code {
            ev::OFFLINE => Ok(cid(1350, Dialect::Dc09)),
            ev::ONLINE => Ok(cid(3350, Dialect::Dc09)),
            _ => Err(Skip::NotASignal),
        },
        Source::Panel | Source::Ingest if e.code == 0 => {
            e.sia_code.clone().map(Signal::Sia).ok_or(Skip::NotASignal)
        }
        Source::Panel | Source::Ingest => match code_table(e.source, e.facts.dialect) {
            Dialect::Dc09 => Ok(cid(e.code, Dialect::Dc09)),
            Dialect::Hb => {
                let code = hb_to_contact_id(e.code).ok_or(Skip::NotASignal)?;
                // HB's own SIA column knows what HB meant; else the standard one's.
                let sia = codes::event_info(e.code)
                    .and_then(|i| i.sia)
                    .or_else(|| codes::contact_id_info(code).and_then(|i| i.sia));
                Ok(Signal::ContactId { code, sia })
            }
        },
    }
}

fn cid(code: u16, table: Dialect) -> Signal {
    Signal::ContactId {
        code,
        sia: codes::event_info_for(code, table).and_then(|i| i.sia),
    }
}

/// A Hengbo code as the standard Contact ID code that means the same to a central station
/// (HB's protocol §3.3 shares most of the standard codes; §3.4 adds private ones); `None`
/// for HB's private codes, which mean nothing there or something else. Codes HB does not
/// define are taken as standard Contact ID.
pub fn hb_to_contact_id(code: u16) -> Option<u16> {
    Some(match code {
        // The standard meaning, unchanged.
        1110 | 3110 | 1120 | 3120 | 1121 | 3121 | 1130 | 3130 | 1137 | 3137 | 1151 | 3151
        | 1301 | 3301 | 1302 | 3302 | 1311 | 3311 | 1380 | 3380 | 1381 | 3381 | 1383 | 3383
        | 1400 | 3400 | 3456 | 1570 | 3570 => code,
        // Water leak: standard 113 is a sprinkler's water flow, a fire signal.
        1113 => 1154,
        3113 => 3154,
        // HB's alternate arm stay: an E456 would read as an opening.
        1456 => 3456,
        // Power supply fault (standard 384 is an RF low battery): system trouble.
        1384 | 1703 => 1300,
        3384 | 3703 => 3300,
        // Light interference, a slave unit's sensor fault: sensor trouble.
        1387 | 1702 => 1380,
        3387 | 3702 => 3380,
        // Sensor lost contact (standard 393 is a maintenance alert): loss of supervision.
        1393 => 1381,
        3393 => 3381,
        // RS-485 link to a slave unit lost: expansion module failure.
        1485 => 1333,
        3485 => 3333,
        // Wrong disarm password: wrong code entry.
        1701 => 1461,
        // SOS from a phone-app user: panic; the user silenced the alarm: cancel.
        1709 => 1120,
        1711 => 1406,
        // Factory reset: system reset.
        1710 | 1713 => 1305,
        // Settings mode entered / left: program mode entry / exit.
        1712 | 2704 => 1627,
        3712 | 3704 => 1628,
        // Every other HB code is private (door bell, clear trouble, link states, host
        // types, signal strength, pass-through, SIM kinds, ONLINE / OFFLINE).
        other if codes::event_info_for(other, Dialect::Hb) != codes::contact_id_info(other) => {
            return None
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hb_code_is_either_mapped_or_private() {
        for code in 1000..7000u16 {
            let Some(hb) = codes::event_info_for(code, Dialect::Hb) else {
                continue;
            };
            match hb_to_contact_id(code) {
                Some(std) => {
                    let (q, _) = codes::split_code(std);
                    assert!(matches!(q, 1 | 3 | 6), "{code} → {std}");
                }
                None => assert!(
                    matches!(hb.class, codes::Class::Info | codes::Class::Supervision),
                    "{code} ({}) is dropped",
                    hb.name
                ),
            }
        }
    }

    #[test]
    fn standard_codes_hb_does_not_define_pass_through() {
        assert_eq!(hb_to_contact_id(1602), Some(1602));
        assert_eq!(hb_to_contact_id(1100), Some(1100));
        assert_eq!(hb_to_contact_id(1134), None);
        assert_eq!(hb_to_contact_id(3100), None);
    }
}
