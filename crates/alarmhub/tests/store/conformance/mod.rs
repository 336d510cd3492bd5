//! The store contract, written once against `Arc<dyn Store>`: every backend must pass it.
//!
//! A backend provides a [`Backend`] (a fresh, empty database per test, which `open` opens —
//! again and again, for the reopen tests) and instantiates the suite in its own test file:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "store/conformance/mod.rs"]
//! mod conformance;
//! mod postgres_conformance {
//!     conformance_suite!(crate::postgres_backend);   // async fn() -> Option<impl Backend>
//! }
//! ```
//!
//! Time is a manual [`Clock`] handed to the store, so the dedup window is crossed by
//! setting the clock, not by waiting. Nothing here knows how a backend stores things;
//! backend internals are tested next to the backend.

mod accounts;
mod alarm_log;
mod alarms;
mod appends;
mod reads;
mod retention;
mod state;

use std::sync::{Arc, Mutex};

use alarmhub::clock::Clock;
use alarmhub::events::{Appended, Detail, Facts, NewEvent, Source, StoredEvent};
use alarmhub::store::{CommitHooks, EventQuery, OnCommit, Store, StoreOptions};
use async_trait::async_trait;

pub use accounts::*;
pub use alarm_log::*;
pub use alarms::*;
pub use appends::*;
pub use reads::*;
pub use retention::*;
pub use state::*;

/// "Now" for every test: events are received around it.
pub const NOW: i64 = 1_700_000_000_000;
/// The dedup window every test store uses.
pub const WINDOW: i64 = 300_000;

/// How the suite gets at one backend's database.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Open the test's database (the same one on every call) with `opts`, feeding `hooks`.
    async fn open(&self, opts: StoreOptions, hooks: CommitHooks) -> Arc<dyn Store>;
}

/// What a backend constructor may return: the backend, or `None` when its server is not
/// reachable (the test is then skipped; the constructor says so loudly).
pub trait MaybeBackend {
    type B: Backend;
    fn available(self) -> Option<Self::B>;
}

impl<B: Backend> MaybeBackend for Option<B> {
    type B = B;
    fn available(self) -> Option<B> {
        self
    }
}

/// A store open on `backend`, the clock it reads, and what its `on_commit` saw.
pub struct Open {
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub committed: Arc<Mutex<Vec<i64>>>,
}

impl Open {
    /// Open `backend` with its clock at `now`.
    pub async fn at(backend: &dyn Backend, now: i64) -> Open {
        Open::with_answered(backend, now, None).await
    }

    /// [`Open::at`], with `answered` as the store's `answered` commit hook.
    pub async fn with_answered(
        backend: &dyn Backend,
        now: i64,
        answered: Option<OnCommit>,
    ) -> Open {
        let clock = Clock::manual(now);
        let committed: Arc<Mutex<Vec<i64>>> = Arc::default();
        let sink = Arc::clone(&committed);
        let opts = StoreOptions {
            dedup_window_ms: WINDOW,
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        let hooks = CommitHooks {
            committed: Box::new(move |evs: &[Arc<StoredEvent>]| {
                sink.lock().unwrap().extend(evs.iter().map(|e| e.seq));
            }),
            answered,
        };
        Open {
            store: backend.open(opts, hooks).await,
            clock,
            committed,
        }
    }

    /// Close the store (as at shutdown) so the database can be opened again.
    pub async fn close(self) {
        self.store.close().await.unwrap();
    }

    pub async fn append(&self, events: Vec<NewEvent>) -> Vec<Appended> {
        self.store.append(events).await.unwrap()
    }

    pub async fn all(&self) -> Vec<StoredEvent> {
        self.store.events_after(0, 0).await.unwrap()
    }

    pub async fn query(&self, q: EventQuery) -> Vec<i64> {
        seqs(&self.store.query_events(&q).await.unwrap())
    }
}

pub fn event(account: &str, code: u16, received_at_ms: i64, dedup_key: Option<u64>) -> NewEvent {
    NewEvent {
        account: account.into(),
        source: Source::Panel,
        code,
        sia_code: None,
        group: 1,
        zone: 3,
        received_at_ms,
        panel_time: None,
        protocol: "ADM-CID".into(),
        frame_seq: "0001".into(),
        peer: "127.0.0.1:40000".into(),
        facts: Facts::default(),
        detail: Detail::empty(),
        dedup_key,
    }
}

pub fn seqs(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// One `#[tokio::test]` per contract, on the backend `$backend()` (an async fn returning
/// `Option<impl Backend>` over a fresh database; `None` skips the test).
#[macro_export]
macro_rules! conformance_suite {
    ($backend:path) => {
        $crate::conformance_suite!(@tests $backend;
            appended_events_read_back_unchanged,
            an_empty_append_stores_nothing,
            seqs_strictly_increase_without_gaps_across_batches_and_reopen,
            concurrent_appends_get_distinct_gap_free_seqs,
            duplicate_within_one_batch_is_stored_once,
            duplicate_in_a_later_batch_within_the_window_returns_the_original_seq,
            same_key_after_the_window_is_stored_again,
            events_without_a_dedup_key_are_never_duplicates,
            dedup_survives_reopen,
            on_commit_sees_new_events_in_seq_order_before_the_caller_is_answered,
            the_answered_hook_sees_new_events_in_seq_order_after_the_callers_are_answered,
            events_after_pages_in_seq_order,
            query_filters_by_account_time_range_and_code,
            query_filters_sia_only_events_by_their_sia_code,
            query_pages_with_after_and_before_seq_in_both_orders,
            account_queries_page_across_many_commits_in_both_orders_and_after_reopen,
            a_large_batch_is_one_call_with_one_outcome_per_event,
            snapshot_round_trips_and_a_new_one_replaces_it_whole,
            cursors_survive_reopen,
            check_writable_succeeds_on_a_healthy_store,
            a_closed_store_refuses_work,
            accounts_are_stored_replaced_and_removed_ignoring_case_and_survive_reopen,
            purge_removes_old_events_in_batches_and_keeps_seqs_increasing,
            alarm_events_open_group_and_restore_once_with_the_cursor,
            a_closed_alarm_is_final_and_the_next_event_opens_a_new_one,
            of_two_concurrent_takes_exactly_one_wins,
            a_batch_of_updates_applies_each_op_and_refuses_only_its_own,
            alarm_changes_have_their_own_increasing_seq_and_wake_followers,
            the_queue_is_ordered_by_priority_then_age_and_pages,
            the_open_alarms_read_for_escalation_match_the_full_records,
            open_alarms_and_the_change_log_survive_reopen,
            every_alarm_change_reads_back_whole_from_any_seq_and_after_reopen,
        );
    };
    (@tests $backend:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                use $crate::conformance::MaybeBackend;
                let Some(backend) = $backend().await.available() else {
                    return;
                };
                $crate::conformance::$name(&backend).await;
            }
        )*
    };
}
