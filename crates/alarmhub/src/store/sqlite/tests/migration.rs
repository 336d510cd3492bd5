//! The migrations from schema version 1 (facts inside the detail JSON) to version 2 (typed
//! columns), on a file laid out exactly as a version-1 build left it, and from version 4 to
//! 5 (the alarms' escalated flag as a column), on a file as a version-4 build left it.

use panel_proto::rules::Dialect;

use super::{open, reader, DB_FILE};
use crate::alarms::{AlarmState, OpenAlarm, Priority};
use crate::events::{ControlAction, ControlFacts, ControlOutcome, Facts};
use crate::store::StoreError;

/// Rows as version 1 wrote them: `(source, code, detail)`.
const V1_ROWS: &[(&str, u16, &str)] = &[
    (
        "panel",
        1130,
        r#"{"ademco_id":291,"dialect":"hb","unknown_account":true}"#,
    ),
    ("panel", 1799, r#"{"dialect":"hb","signal_strength":21}"#),
    // A signal strength on another code was never read: it stays out of the column.
    ("panel", 1130, r#"{"dialect":"dc09","signal_strength":9}"#),
    (
        "receiver",
        1946,
        r#"{"dialect":"dc09","reason":"first valid frame"}"#,
    ),
    (
        "control",
        1400,
        r#"{"action":"disarm","message":"no ACK","outcome":"timed_out"}"#,
    ),
    // Values the daemon never wrote stay NULL rather than failing every later read.
    ("control", 3400, r#"{"action":"explode","outcome":"done"}"#),
    ("ingest", 1130, r#"{"ademco_id":-5,"dialect":"martian"}"#),
    ("ingest", 1130, "{}"),
];

/// A database in `dir` laid out as a build of schema `version` left it (its migrations run
/// and its version recorded), empty.
fn at_version(dir: &std::path::Path, version: usize) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    for sql in &super::super::schema::MIGRATIONS_FOR_TESTS[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
        [version as i64],
    )
    .unwrap();
    conn
}

/// A version-1 database in `dir` holding [`V1_ROWS`].
fn write_v1(dir: &std::path::Path) {
    let conn = at_version(dir, 1);
    for (i, (source, code, detail)) in V1_ROWS.iter().enumerate() {
        conn.execute(
            "INSERT INTO events (account, source, code, grp, zone, received_at_ms, protocol, \
             frame_seq, peer, detail) VALUES ('A', ?1, ?2, 0, 0, ?3, '', '', '', ?4)",
            rusqlite::params![source, code, i as i64, detail],
        )
        .unwrap();
    }
}

fn facts(dialect: Option<Dialect>) -> Facts {
    Facts {
        dialect,
        ..Facts::default()
    }
}

#[test]
fn a_version_1_file_gets_its_facts_from_the_detail_into_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path());
    drop(open(dir.path()));
    let events = reader(dir.path()).events_after(0, 0).unwrap();
    let got: Vec<Facts> = events.iter().map(|e| e.event.facts).collect();
    let hb = Some(Dialect::Hb);
    let dc09 = Some(Dialect::Dc09);
    assert_eq!(
        got,
        vec![
            Facts {
                ademco_id: Some(291),
                unknown_account: true,
                ..facts(hb)
            },
            Facts {
                signal_strength: Some(21),
                ..facts(hb)
            },
            facts(dc09),
            facts(dc09),
            Facts {
                control: Some(ControlFacts {
                    action: ControlAction::Disarm,
                    outcome: ControlOutcome::TimedOut,
                }),
                ..facts(None)
            },
            facts(None),
            facts(None),
            facts(None),
        ]
    );
    // The display detail is left exactly as it was.
    for (e, (_, _, detail)) in events.iter().zip(V1_ROWS) {
        assert_eq!(e.event.detail.as_str(), *detail);
    }
    let version: i64 = rusqlite::Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, super::super::schema::SCHEMA_VERSION);
    // Opening again does not migrate twice (ALTER TABLE would fail on existing columns).
    drop(open(dir.path()));
}

#[test]
fn a_reader_refuses_a_version_1_file_until_the_writer_has_migrated_it() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path());
    let err = super::SqliteReader::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaOutdated {
                found: 1,
                expected,
                ..
            } if expected == super::super::schema::SCHEMA_VERSION
        ),
        "{err}"
    );
    assert!(err.to_string().contains("alarmhub serve"), "{err}");
}

/// Alarm rows as version 4 wrote them: `(id, state, priority, body)`; only the body knew
/// whether an alarm had escalated.
const V4_ALARMS: &[(i64, &str, i64, &str)] = &[
    (1, "new", 2, r#"{"id":1,"escalated":true}"#),
    (2, "new", 3, r#"{"id":2,"escalated":false}"#),
    // Taken after it escalated: the flag stays in the row, open_alarms reports false.
    (3, "taken", 1, r#"{"id":3,"escalated":true}"#),
    (4, "closed", 1, r#"{"id":4,"escalated":true}"#),
    // Rows from before the flag existed.
    (5, "new", 4, r#"{"id":5}"#),
];

/// A version-4 database in `dir` holding [`V4_ALARMS`].
fn write_v4(dir: &std::path::Path) {
    let conn = at_version(dir, 4);
    for (id, state, priority, body) in V4_ALARMS {
        conn.execute(
            "INSERT INTO alarms (id, account, state, priority, opened_at_ms, body) \
             VALUES (?1, 'A', ?2, ?3, ?1, ?4)",
            rusqlite::params![id, state, priority, body],
        )
        .unwrap();
    }
}

#[test]
fn a_version_4_file_gets_the_escalated_flag_of_its_alarms_into_a_column() {
    let dir = tempfile::tempdir().unwrap();
    write_v4(dir.path());
    drop(open(dir.path()));
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let column: Vec<(i64, bool)> = conn
        .prepare("SELECT id, escalated FROM alarms ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        column,
        vec![(1, true), (2, false), (3, true), (4, true), (5, false)]
    );
    let open_alarms = reader(dir.path()).open_alarms().unwrap();
    let p = |n: u8| Priority::try_from(n).unwrap();
    let alarm = |id, state, priority, escalated| OpenAlarm {
        id,
        state,
        priority,
        opened_at_ms: id,
        escalated,
    };
    assert_eq!(
        open_alarms,
        vec![
            alarm(3, AlarmState::Taken, p(1), false),
            alarm(1, AlarmState::New, p(2), true),
            alarm(2, AlarmState::New, p(3), false),
            alarm(5, AlarmState::New, p(4), false),
        ]
    );
    // Opening again does not migrate twice (ALTER TABLE would fail on the existing column).
    drop(open(dir.path()));
}
