//! [`EventsSize`]: what [`super::Store::events_size`] answers, for `[store] max_size_mb`.

/// How much room the stored events take ([`super::Store::events_size`]), for `[store] max_size_mb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsSize {
    /// Bytes the events take with their indexes (SQLite: their pages, from `dbstat`;
    /// PostgreSQL: `pg_total_relation_size` of the events table, indexes and TOAST
    /// included, which keeps the room of removed rows for reuse).
    pub bytes: u64,
    /// Events stored.
    pub rows: u64,
    /// `bytes` leaves out the room of removed events (SQLite). When false (PostgreSQL) the
    /// size cap estimates what the live events take from `rows` instead.
    pub exact: bool,
}
