//! The topic scheme. Under `<base>` (default `alarmhub`), per panel account:
//!
//! | topic | retained | payload |
//! |---|---|---|
//! | `<base>/status` | yes | `online` / `offline` (the bridge itself; last will) |
//! | `<base>/<acct>/state` | yes | Home Assistant alarm state of the whole host |
//! | `<base>/<acct>/section/<n>/state` | yes | the same for section n of a three-section host |
//! | `<base>/<acct>/set`, `<base>/<acct>/section/<n>/set` | — | commands from Home Assistant |
//! | `<base>/<acct>/availability` | yes | `online` / `offline` from supervision |
//! | `<base>/<acct>/zone/<z>/state` | yes | `ON` while the zone's alarm is open, else `OFF` |
//! | `<base>/<acct>/event` | no | one JSON object per stored event |
//! | `<base>/<acct>/command_result` | no | the outcome of each command |
//!
//! Discovery configs go to `<prefix>/alarm_control_panel/<node>/<object>/config` and
//! `<prefix>/binary_sensor/<node>/<object>/config`. Accounts are written into topics with
//! every character other than letters, digits, `-`, `_` and `.` as `%XX`, so `+`, `#` and
//! `/` can never change a topic's meaning.

/// Builds and parses every topic of one bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
    prefix: String,
    node: String,
}

impl Topics {
    /// Topics under `base`, discovery under `prefix`.
    pub fn new(base: &str, prefix: &str) -> Topics {
        Topics {
            base: base.to_string(),
            prefix: prefix.to_string(),
            node: slug(base),
        }
    }

    /// Home Assistant's birth / will topic.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    /// The bridge's own availability (last will).
    pub fn bridge_status(&self) -> String {
        format!("{}/status", self.base)
    }

    fn panel(&self, account: &str) -> String {
        format!("{}/{}", self.base, escape(account))
    }

    fn section(&self, account: &str, section: u8) -> String {
        match section {
            0 => self.panel(account),
            n => format!("{}/section/{n}", self.panel(account)),
        }
    }

    /// Alarm state of the host (section 0) or a section.
    pub fn state(&self, account: &str, section: u8) -> String {
        format!("{}/state", self.section(account, section))
    }

    /// Commands for the host (section 0) or a section.
    pub fn command(&self, account: &str, section: u8) -> String {
        format!("{}/set", self.section(account, section))
    }

    /// Supervision verdict of the panel.
    pub fn availability(&self, account: &str) -> String {
        format!("{}/availability", self.panel(account))
    }

    /// One zone's alarm state.
    pub fn zone(&self, account: &str, zone: u16) -> String {
        format!("{}/zone/{zone}/state", self.panel(account))
    }

    /// Stored events.
    pub fn event(&self, account: &str) -> String {
        format!("{}/event", self.panel(account))
    }

    /// Command outcomes.
    pub fn command_result(&self, account: &str) -> String {
        format!("{}/command_result", self.panel(account))
    }

    /// The subscriptions that carry commands.
    pub fn command_filters(&self) -> [String; 2] {
        [
            format!("{}/+/set", self.base),
            format!("{}/+/section/+/set", self.base),
        ]
    }

    /// The account and section a command topic is for.
    pub fn parse_command(&self, topic: &str) -> Option<(String, u8)> {
        let rest = topic.strip_prefix(&self.base)?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [acct, "set"] => Some((unescape(acct)?, 0)),
            [acct, "section", n, "set"] => {
                let n: u8 = n.parse().ok().filter(|n| (1..=3).contains(n))?;
                Some((unescape(acct)?, n))
            }
            _ => None,
        }
    }

    /// Discovery topic of the alarm panel entity of a host or section.
    pub fn panel_config(&self, account: &str, section: u8) -> String {
        format!(
            "{}/alarm_control_panel/{}/{}/config",
            self.prefix,
            self.node,
            self.object_id(account, section)
        )
    }

    /// Discovery topic of a zone's binary sensor.
    pub fn zone_config(&self, account: &str, zone: u16) -> String {
        format!(
            "{}/binary_sensor/{}/{}_zone_{zone}/config",
            self.prefix,
            self.node,
            slug(account)
        )
    }

    /// Object id of a host or section entity (letters, digits and `_` only).
    pub fn object_id(&self, account: &str, section: u8) -> String {
        match section {
            0 => slug(account),
            n => format!("{}_section_{n}", slug(account)),
        }
    }

    /// The prefix of unique ids: entities of two bridges with different base topics differ.
    pub fn node(&self) -> &str {
        &self.node
    }
}

/// Letters and digits lower-cased, everything else `_xx` (hex): a valid Home Assistant
/// object id that still tells accounts apart (`A-1` and `a_1` give different slugs).
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_digit() || b.is_ascii_lowercase() {
            out.push(char::from(b));
        } else if b.is_ascii_uppercase() {
            // Upper case is marked so that "AB" and "ab" stay distinct.
            out.push('_');
            out.push(char::from(b.to_ascii_lowercase()));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// An account as one topic level.
pub fn escape(account: &str) -> String {
    let mut out = String::with_capacity(account.len());
    for b in account.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Inverse of [`escape`].
pub fn unescape(level: &str) -> Option<String> {
    let b = level.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = level.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_scheme() {
        let t = Topics::new("alarmhub", "homeassistant");
        assert_eq!(t.state("1234", 0), "alarmhub/1234/state");
        assert_eq!(t.state("1234", 2), "alarmhub/1234/section/2/state");
        assert_eq!(t.command("1234", 0), "alarmhub/1234/set");
        assert_eq!(t.availability("1234"), "alarmhub/1234/availability");
        assert_eq!(t.zone("1234", 7), "alarmhub/1234/zone/7/state");
        assert_eq!(t.event("1234"), "alarmhub/1234/event");
        assert_eq!(t.command_result("1234"), "alarmhub/1234/command_result");
        assert_eq!(
            t.panel_config("1234", 0),
            "homeassistant/alarm_control_panel/alarmhub/1234/config"
        );
        assert_eq!(
            t.zone_config("1234", 3),
            "homeassistant/binary_sensor/alarmhub/1234_zone_3/config"
        );
        assert_eq!(t.ha_status(), "homeassistant/status");
    }

    #[test]
    fn command_topics_parse_back() {
        let t = Topics::new("a/b", "ha");
        assert_eq!(t.parse_command("a/b/12%2B4/set"), Some(("12+4".into(), 0)));
        assert_eq!(
            t.parse_command("a/b/X1/section/3/set"),
            Some(("X1".into(), 3))
        );
        for bad in [
            "a/b/X1/section/4/set",
            "a/b/set",
            "a/bX/1/set",
            "a/b/%zz/set",
        ] {
            assert_eq!(t.parse_command(bad), None, "{bad}");
        }
    }

    #[test]
    fn accounts_with_topic_characters_are_escaped() {
        for acct in ["a+b", "a/b", "a%b", "861234567890", "Ab-1_2.3"] {
            let e = escape(acct);
            assert!(!e.contains(['+', '#', '/']), "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(acct));
        }
    }

    #[test]
    fn slugs_are_object_ids_and_keep_accounts_apart() {
        assert_eq!(slug("ab12"), "ab12");
        assert_eq!(slug("AB"), "_a_b");
        assert_ne!(slug("A-1"), slug("a_1"));
        assert!(slug("x/+#")
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
}
