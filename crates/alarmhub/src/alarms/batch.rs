//! One batch of the alarm engine applied in memory ([`Batch`]), so a store backend reads
//! each account's open alarm at most once per batch and writes each alarm row once at the
//! end of the batch, however many events of the batch concern it. The rules are those of
//! [`super::rules`]; the change rows carry the compact snapshots of [`super::stored`].
//!
//! Use: [`Batch::knows`] an input's account, or [`Batch::load`] its open alarm (from a cache
//! or the store); then [`Batch::apply`]; at the end [`Batch::finish`] gives the alarm rows
//! to insert or update and the change rows to append (alarm rows first: the change log
//! references them).

use std::collections::HashMap;

use super::SYSTEM_ACTOR;
use super::{rules, stored, Alarm, AlarmChange, AlarmInput, AlarmState, ChangeKind, Priority};

/// An alarm the batch touched, as it is at the end of the batch.
#[derive(Debug, Clone)]
pub struct Touched {
    /// The alarm after the batch.
    pub alarm: Alarm,
    /// Opened in this batch: insert the row (else update it).
    pub new: bool,
    /// The indexed columns (state, priority, escalated) differ from the stored row.
    pub columns_changed: bool,
}

/// A change row to append, with its stored snapshot text.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    /// The change (with the whole alarm after it, for the caller).
    pub change: AlarmChange,
    /// What `alarm_changes.alarm` stores ([`stored::encode`]).
    pub stored: String,
}

/// The engine's batch being applied.
#[derive(Debug)]
pub struct Batch {
    last_change: i64,
    last_alarm: i64,
    /// Account → index in `touched` of its open alarm; `None`: it has none.
    by_account: HashMap<String, Option<usize>>,
    touched: Vec<Slot>,
    rows: Vec<ChangeRow>,
}

/// An alarm in the batch: as it is now, its stored indexed columns, whether it changed.
#[derive(Debug)]
struct Slot {
    touched: Touched,
    stored: (AlarmState, Priority, bool),
    dirty: bool,
}

/// What a finished batch writes.
#[derive(Debug)]
pub struct Finished {
    /// Alarm rows to insert or update, in order of first touch.
    pub alarms: Vec<Touched>,
    /// Change rows to append, in seq order.
    pub rows: Vec<ChangeRow>,
    /// The highest change seq used.
    pub last_change: i64,
    /// The highest alarm id used.
    pub last_alarm: i64,
}

impl Batch {
    /// A batch after change seq `last_change` and alarm id `last_alarm`.
    pub fn new(last_change: i64, last_alarm: i64) -> Batch {
        Batch {
            last_change,
            last_alarm,
            by_account: HashMap::new(),
            touched: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// `true` when the batch already knows the open alarm (or its absence) of `account`.
    pub fn knows(&self, account: &str) -> bool {
        self.by_account.contains_key(account)
    }

    /// Tell the batch the stored open alarm of `account` (`None`: it has none).
    pub fn load(&mut self, account: &str, open: Option<Alarm>) {
        let slot = open.map(|alarm| self.push(alarm, false));
        self.by_account.insert(account.to_string(), slot);
    }

    /// Apply one input (its account loaded or known). Nothing happens for a restore of an
    /// account without an open alarm, or one that changes nothing.
    pub fn apply(&mut self, input: &AlarmInput) -> Result<(), serde_json::Error> {
        let slot = self.by_account.get(&input.account).copied().flatten();
        let (i, kind) = match slot {
            Some(i) => {
                let Some(kind) = rules::on_event(&mut self.touched[i].touched.alarm, input) else {
                    return Ok(());
                };
                (i, kind)
            }
            None => {
                let Some(mut alarm) = rules::open(input) else {
                    return Ok(());
                };
                self.last_alarm += 1;
                alarm.id = self.last_alarm;
                let i = self.push(alarm, true);
                self.by_account.insert(input.account.clone(), Some(i));
                (i, ChangeKind::Opened)
            }
        };
        self.last_change += 1;
        self.touched[i].dirty = true;
        let alarm = &mut self.touched[i].touched.alarm;
        alarm.change_seq = self.last_change;
        let stored = stored::encode(kind, alarm, input.zone)?;
        self.rows.push(ChangeRow {
            change: AlarmChange {
                seq: self.last_change,
                alarm_id: alarm.id,
                kind,
                actor: SYSTEM_ACTOR.to_string(),
                at_ms: input.at_ms,
                event_seq: input.seq,
                detail: "{}".to_string(),
                alarm: alarm.clone(),
            },
            stored,
        });
        Ok(())
    }

    fn push(&mut self, alarm: Alarm, new: bool) -> usize {
        self.touched.push(Slot {
            stored: (alarm.state, alarm.priority, alarm.escalated),
            touched: Touched {
                alarm,
                new,
                columns_changed: false,
            },
            dirty: false,
        });
        self.touched.len() - 1
    }

    /// The rows to write.
    pub fn finish(self) -> Finished {
        let alarms = self
            .touched
            .into_iter()
            .filter(|s| s.dirty)
            .map(|s| {
                let mut t = s.touched;
                t.columns_changed =
                    (t.alarm.state, t.alarm.priority, t.alarm.escalated) != s.stored;
                t
            })
            .collect();
        Finished {
            alarms,
            rows: self.rows,
            last_change: self.last_change,
            last_alarm: self.last_alarm,
        }
    }
}
