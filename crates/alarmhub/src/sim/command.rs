//! Commands from the receiver to a virtual Hengbo host (protocol.md §2.7) and the status
//! event each one results in. The host ACKs the command first (in `panel`); this module
//! only decides what it reports afterwards.

use panel_proto::codes::code;
use panel_proto::{Frame, Xdata};

use super::events::{Ev, Mix};

/// Zone 99 in a status report: operated by the direct-connection receiving centre (§2.9).
const BY_RECEIVER: u16 = 99;

/// The event a host reports after executing `frame`, if any. `password`: the disarm
/// password the host accepts (`None`: any 6..8 digits). Updates the arm state in `mix`.
pub(crate) fn result(
    frame: &Frame,
    password: Option<&str>,
    index: u32,
    mix: &mut Mix,
) -> Option<Ev> {
    let c = frame.contact_id()?;
    let section = c.group;
    match c.event_code() {
        code::WHAT_IS_YOUR_TYPE => Some(Mix::type_event(index)),
        arm @ (code::ARM_AWAY | code::ARM_STAY) => {
            mix.armed = true;
            Some(Ev::private(arm, section, BY_RECEIVER))
        }
        code::DISARM => {
            let given = frame.xdata.iter().find_map(|x| match x {
                Xdata::HbBinary(p) | Xdata::HbHex4(p) => Some(p.as_slice()),
                Xdata::Dc09 { .. } => None,
            });
            let ok = match (password, given) {
                (Some(want), Some(got)) => want.as_bytes() == got,
                (None, Some(got)) => panel_proto::build::HB_PASSWORD_DIGITS.contains(&got.len()),
                (_, None) => false,
            };
            if ok {
                mix.armed = false;
                Some(Ev::private(code::DISARM, section, BY_RECEIVER))
            } else {
                // DISARM_PWD_ERR
                Some(Ev::private(1701, section, BY_RECEIVER))
            }
        }
        code::EMERGENCY => Some(Ev::private(code::EMERGENCY, section, BY_RECEIVER)),
        mode @ (code::ENTER_SET_MODE | code::EXIT_SET_MODE) => Some(Ev::private(mode, 0, 0)),
        _ => None,
    }
}
