//! What the bridge publishes about panels, and what it already published: retained
//! messages (discovery configs, states, availability, zones) are sent only when their
//! payload changes, so a refresh of a thousand quiet panels sends nothing.

use std::collections::HashMap;

use serde_json::json;

use super::discovery;
use super::state::{ha_state, status_of, Confirmed, Pending};
use super::topics::Topics;
use crate::events::StoredEvent;
use crate::outputs::source::PanelSnapshot;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: String,
    /// Retain flag.
    pub retain: bool,
}

/// Host or section of a panel.
pub type Key = (String, u8);

/// The bridge's picture of what Home Assistant was told.
#[derive(Debug)]
pub struct View {
    /// The topic scheme.
    pub topics: Topics,
    discovery: bool,
    names: HashMap<String, String>,
    /// Commands in flight.
    pub pending: HashMap<Key, Pending>,
    confirmed: HashMap<Key, Confirmed>,
    retained: HashMap<String, String>,
}

impl View {
    /// A view publishing under `topics`; `names` are the configured panel names by
    /// lower-case account.
    pub fn new(topics: Topics, discovery: bool, names: HashMap<String, String>) -> View {
        View {
            topics,
            discovery,
            names,
            pending: HashMap::new(),
            confirmed: HashMap::new(),
            retained: HashMap::new(),
        }
    }

    /// Forget what was published (new connection, Home Assistant restarted): everything
    /// is sent again.
    pub fn forget(&mut self) {
        self.retained.clear();
    }

    /// Forget the state topics of `account`, so its state is sent again even if unchanged
    /// (after a refused or failed command, Home Assistant gets the previous state back).
    pub fn forget_state(&mut self, account: &str) {
        for s in 0..=3u8 {
            self.retained.remove(&self.topics.state(account, s));
        }
    }

    /// A command for `key` was confirmed by the host.
    pub fn confirm(&mut self, key: Key, c: Confirmed) {
        self.confirmed.insert(key, c);
    }

    fn put(&mut self, out: &mut Vec<Msg>, topic: String, payload: String) {
        if self.retained.get(&topic) != Some(&payload) {
            self.retained.insert(topic.clone(), payload.clone());
            out.push(Msg {
                topic,
                payload,
                retain: true,
            });
        }
    }

    /// The retained messages about `p` that changed.
    pub fn panel(&mut self, p: &PanelSnapshot) -> Vec<Msg> {
        let mut out = Vec::new();
        let name = self.names.get(&p.account.to_ascii_lowercase()).cloned();
        let sections = discovery::sections(p);
        if self.discovery {
            for &s in &sections {
                let cfg = discovery::alarm_panel(&self.topics, p, s, name.as_deref());
                self.put(
                    &mut out,
                    self.topics.panel_config(&p.account, s),
                    cfg.to_string(),
                );
            }
            for &z in &p.zones_seen {
                let cfg = discovery::zone_sensor(&self.topics, p, z, name.as_deref());
                self.put(
                    &mut out,
                    self.topics.zone_config(&p.account, z),
                    cfg.to_string(),
                );
            }
        }
        let online = if p.online { "online" } else { "offline" };
        self.put(
            &mut out,
            self.topics.availability(&p.account),
            online.into(),
        );
        for &s in &sections {
            if let Some(state) = self.state(p, s) {
                self.put(&mut out, self.topics.state(&p.account, s), state.into());
            }
        }
        for &z in &p.zones_seen {
            let on = if p.active_alarms.contains_key(&z) {
                "ON"
            } else {
                "OFF"
            };
            self.put(&mut out, self.topics.zone(&p.account, z), on.into());
        }
        out
    }

    fn state(&mut self, p: &PanelSnapshot, section: u8) -> Option<&'static str> {
        let key = (p.account.clone(), section);
        // A confirmed command's target holds only until the host's own report moves on.
        if let Some(c) = self.confirmed.get(&key) {
            if status_of(p, section) != c.status_before {
                self.confirmed.remove(&key);
            }
        }
        let pending = self.pending.get(&key).copied();
        ha_state(p, section, pending, self.confirmed.get(&key).copied())
    }

    /// The event topic's message for a stored event (not retained).
    pub fn event(&self, e: &StoredEvent) -> Msg {
        let ev = &e.event;
        let meaning = ev.meaning();
        let info = match meaning {
            Some(crate::events::naming::Meaning::Code(i)) => Some(i),
            _ => None,
        };
        let class = meaning.map(|m| m.class());
        let payload = json!({
            "seq": e.seq,
            "account": ev.account,
            "time_ms": ev.received_at_ms,
            "source": ev.source.as_str(),
            "code": ev.code,
            "sia_code": ev.sia_code,
            "group": ev.group,
            "zone": ev.zone,
            "class": class.map(|c| c.as_str()),
            "name": info.map(|i| i.name),
            "description": info.map(|i| i.description),
        });
        Msg {
            topic: self.topics.event(&ev.account),
            payload: payload.to_string(),
            retain: false,
        }
    }
}
