//! Sur-Gard automation output (`[[automation]] kind = "surgard"`): alarmhub behaves like a
//! Sur-Gard receiver's automation port toward central-station software (MASterMind, SIMS,
//! Manitou, Patriot …).
//!
//! * [`codec`]: the message bytes (heartbeat, Contact ID, SIA) and the account mapping;
//! * [`signal`]: what an event means to the central station, by its origin (Hengbo,
//!   DC-09 SIA-DCS, DC-09 ADM-CID, the receiver);
//! * [`link`]: the ACK / NAK / timeout / resend / heartbeat rules, pure;
//! * [`driver`]: the TCP connection (listen or connect) fed from the event log by cursor;
//! * [`status`]: metrics and the watchable link status.

pub mod codec;
pub mod driver;
pub mod link;
pub mod signal;
pub mod status;

pub use driver::{cursor_name, StatusWatch, SurgardOutput};
pub use status::{LinkState, LinkStatus};
