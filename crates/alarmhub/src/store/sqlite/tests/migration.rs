//! The migration from schema version 1 (facts inside the detail JSON) to version 2 (typed
//! columns), on a file laid out exactly as a version-1 build left it.

use panel_proto::rules::Dialect;

use super::{open, reader, DB_FILE};
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

/// A version-1 database in `dir` holding [`V1_ROWS`].
fn write_v1(dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch(super::super::schema::MIGRATIONS_FOR_TESTS[0])
        .unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', 1)",
        [],
    )
    .unwrap();
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
