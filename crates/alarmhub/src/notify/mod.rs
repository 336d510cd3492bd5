//! Notifications: alarms reach people — webhook, WeCom, DingTalk, Feishu, WeChat, e-mail —
//! durably, signed, within each service's rate limits, and repeated until someone takes
//! the alarm.
//!
//! The parts, each in its own module:
//! * [`model`]: the [`Notification`] (what happened, to which panel, when) and its stable id;
//! * [`template`]: the `{field}` texts; [`wording`]: zh-CN and English defaults, digests;
//! * [`config`]: `[notify]` channels, rules and quiet periods (validated in `check`);
//! * [`rules`]: the [`Router`] that turns a notification into outbox [`Target`]s;
//! * [`reminder`], [`retry`], [`ratelimit`]: the pure timing decisions;
//! * [`send`]: one sender per service, classifying each answer as an [`Outcome`];
//! * [`outbox`]: the [`Outbox`] trait the durable store implements, and a memory one;
//! * [`dispatcher`]: the [`Dispatcher`] that delivers due notifications;
//! * [`produce`]: which stored events announce something (panel offline/online, control).
//!
//! How it fits the daemon (`daemon/notify.rs`, `daemon/notify_alarms.rs`): feeds follow the
//! durable event log and the alarm change log by cursors kept in the outbox, turn what they
//! read into [`Notification`]s ([`produce`]), ask the [`Router`] for their targets, and write
//! rows and the new cursor in one outbox transaction ([`Outbox::record`]), then wake the
//! dispatcher. The dispatcher claims due rows, sends, and settles each row as delivered,
//! retried later or dead-lettered. A crash anywhere loses nothing and duplicates nothing:
//! the cursor moves only with its rows, a replay derives the same ids, rows are unique per
//! (id, target), and a row claimed but not settled is sent again with the same id.

pub(crate) mod check;
pub mod config;
mod datetime;
pub mod dispatcher;
mod metrics;
pub mod model;
pub mod outbox;
pub mod produce;
pub mod ratelimit;
pub mod reminder;
pub mod retry;
mod round;
pub mod rules;
pub mod send;
pub mod template;
pub mod wording;

pub use config::{ChannelConfig, ChannelKind, NotifyConfig};
pub use datetime::DateTime;
pub use dispatcher::{Clock, Dispatcher, DispatcherHandle, RoundReport};
pub use model::{EventClass, Notification, NotificationId, What};
pub use outbox::{Delivery, DeliveryRecord, FeedBatch, MemoryOutbox, Outbox, ReminderChange};
pub use rules::{Router, Target};
pub use send::{Outcome, Sender};
