//! Which code table names an event, and so its name and class: a DC-09 panel's own
//! reports use the standard Contact ID table (its 1134 is an entry/exit burglary), every
//! other event — Hengbo frames, the receiver's ONLINE/OFFLINE, commands, ingested events —
//! the Hengbo table first (HB private codes such as 1134 door bell, 1799, 1946). An event
//! without a known code falls back to its SIA code.
//!
//! The registry's alarm class, the API's event names and the receiver's alarm log all ask
//! here, so they always agree.

use panel_proto::codes::{self, Class, EventInfo, SiaCodeInfo};
use panel_proto::rules::Dialect;

use super::{NewEvent, Source};

/// The table the code of an event from `source`, about a panel speaking `dialect`, is
/// looked up in.
pub fn code_table(source: Source, dialect: Option<Dialect>) -> Dialect {
    match (source, dialect) {
        (Source::Panel, Some(Dialect::Dc09)) => Dialect::Dc09,
        _ => Dialect::Hb,
    }
}

/// What the tables say about an event: its code's entry, or else its SIA code's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Named by its 4-digit code.
    Code(EventInfo),
    /// Named by its SIA code (no known 4-digit code).
    Sia(SiaCodeInfo),
}

impl Meaning {
    /// The event's class.
    pub fn class(&self) -> Class {
        match self {
            Meaning::Code(i) => i.class,
            Meaning::Sia(i) => i.class,
        }
    }
}

/// The meaning of `code` (0 = none) / `sia` in `table`.
pub fn meaning(code: u16, sia: Option<&str>, table: Dialect) -> Option<Meaning> {
    if code != 0 {
        if let Some(i) = codes::event_info_for(code, table) {
            return Some(Meaning::Code(i));
        }
    }
    sia.and_then(codes::sia_code).map(Meaning::Sia)
}

impl NewEvent {
    /// What the tables say about this event (see the module docs for which table).
    pub fn meaning(&self) -> Option<Meaning> {
        let table = code_table(self.source, self.facts.dialect);
        meaning(self.code, self.sia_code.as_deref(), table)
    }

    /// This event's class, when its code (or SIA code) is known.
    pub fn class(&self) -> Option<Class> {
        self.meaning().map(|m| m.class())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Facts;

    fn ev(source: Source, dialect: Option<Dialect>, code: u16) -> NewEvent {
        NewEvent {
            account: "A".into(),
            source,
            code,
            sia_code: None,
            group: 0,
            zone: 1,
            received_at_ms: 0,
            panel_time: None,
            protocol: String::new(),
            frame_seq: String::new(),
            peer: String::new(),
            facts: Facts {
                dialect,
                ..Facts::default()
            },
            detail: Default::default(),
            dedup_key: None,
        }
    }

    #[test]
    fn code_1134_is_a_burglary_on_dc09_and_a_door_bell_on_hb() {
        let dc09 = ev(Source::Panel, Some(Dialect::Dc09), 1134);
        assert_eq!(dc09.class(), Some(Class::Alarm));
        let hb = ev(Source::Panel, Some(Dialect::Hb), 1134);
        assert_eq!(hb.class(), Some(Class::Info));
        // An ingested event has no dialect: the Hengbo table, as before.
        assert_eq!(ev(Source::Ingest, None, 1134).class(), Some(Class::Info));
    }

    #[test]
    fn the_receivers_own_codes_are_named_for_dc09_panels_too() {
        let online = ev(Source::Receiver, Some(Dialect::Dc09), 1946);
        assert!(matches!(online.meaning(), Some(Meaning::Code(i)) if i.name == "ONLINE"));
    }

    #[test]
    fn sia_codes_name_events_without_a_known_code() {
        let mut e = ev(Source::Panel, Some(Dialect::Dc09), 0);
        e.sia_code = Some("BA".into());
        assert_eq!(e.class(), Some(Class::Alarm));
        e.sia_code = Some("QQ".into());
        assert_eq!(e.meaning(), None);
    }
}
