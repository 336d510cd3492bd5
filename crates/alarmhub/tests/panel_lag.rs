//! Panels that give up while the store lags (issue #14, cluster-100k), against the real
//! binary on loopback with its writer stalled (`/debug/stall-writer`): the sockets of panels
//! that closed while their frames waited for the store are released at once (after a short
//! grace for a half-closed peer), so a node's descriptors stay near one per live panel, and
//! their places under `max_connections` go to the panels that connect next.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::frames::{bytes, hb_event};
use common::{eventually, Daemon, Panel};

/// Panels that connect, send an event and give up while the writer is stalled.
const QUITTERS: usize = 200;
/// The writer stall: long enough for every check below to run inside it.
const STALL_SECS: u64 = 20;
/// Descriptors a daemon may open beyond its idle count while it works (store, pools, logs).
const SLACK_FDS: usize = 24;
const LIMITS: &str = "connect_rate_per_source = 0\nmax_new_accounts_per_source_per_min = 0";

fn fds(d: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", d.child.id()))
        .unwrap()
        .count()
}

fn start(panel_extra: &str) -> (tempfile::TempDir, Daemon) {
    let tmp = tempfile::tempdir().unwrap();
    let panel = format!("{LIMITS}\n{panel_extra}");
    let d = Daemon::with_hooks(tmp.path(), &panel);
    (tmp, d)
}

/// `n` panels, each with its own account, send one event and close without waiting.
fn quit_after_one_event(d: &Daemon, first: usize, n: usize) {
    for i in first..first + n {
        let mut p = Panel::connect(d.panel);
        p.send(&bytes(&hb_event(
            1,
            &format!("{:06}", 700_000 + i),
            1130,
            0,
            5,
        )));
        drop(p);
    }
}

/// Whether the daemon closed `p` within `within` (an end of stream, or a reset when it
/// closed with our frame unread).
fn closed_within(p: &mut Panel, within: Duration) -> bool {
    p.stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    match std::io::Read::read(&mut p.stream, &mut buf) {
        Ok(n) => n == 0,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

#[test]
fn sockets_of_panels_that_gave_up_while_the_store_lagged_are_released() {
    let (_tmp, d) = start("");
    // One panel served normally first, so the store and its connections are warm.
    let mut warm = Panel::connect(d.panel);
    warm.send(&bytes(&hb_event(1, "699999", 1130, 0, 5)));
    assert!(warm.recv(Duration::from_secs(5)).is_some());
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let idle = fds(&d);

    let stalled_at = d.stall_writer(STALL_SECS);
    quit_after_one_event(&d, 0, QUITTERS);
    // Within the half-close grace (2 s) and a little, well inside the stall.
    let released = eventually(Duration::from_secs(6), || fds(&d) <= idle + SLACK_FDS);
    let now = fds(&d);
    assert!(
        stalled_at.elapsed() < Duration::from_secs(STALL_SECS),
        "the checks ran past the stall: the test proves nothing"
    );
    assert!(
        released,
        "{now} descriptors with the store stalled, {idle} idle: the sockets of {QUITTERS} \
         panels that closed are still held"
    );
}

#[test]
fn places_under_max_connections_go_to_the_next_panels_while_the_store_lags() {
    let (_tmp, d) = start("max_connections = 5");
    let stalled_at = d.stall_writer(STALL_SECS);
    quit_after_one_event(&d, 0, 5);
    // After the grace the five places are free again, although the five sessions still
    // wait for the store: a new panel is served, not closed at accept.
    std::thread::sleep(Duration::from_secs(4));
    let mut next = Panel::connect(d.panel);
    next.send(&bytes(&hb_event(1, "799999", 1130, 0, 5)));
    assert!(
        !closed_within(&mut next, Duration::from_secs(2)),
        "refused: the places of panels that are gone were still taken"
    );
    assert!(stalled_at.elapsed() < Duration::from_secs(STALL_SECS));
    // Its event is ACKed once the store is back.
    let ack = next.recv(Duration::from_secs(STALL_SECS + 10));
    assert_eq!(
        ack.map(|f| f.seq.to_string()).as_deref(),
        Some("0001"),
        "no ACK after the stall"
    );
}

#[test]
fn sessions_that_outlive_their_sockets_are_bounded_at_twice_max_connections() {
    let (_tmp, d) = start("max_connections = 2");
    let stalled_at = d.stall_writer(STALL_SECS);
    // Two rounds of two panels that give up: four sessions still wait for the store, with
    // no socket each after the grace.
    quit_after_one_event(&d, 0, 2);
    std::thread::sleep(Duration::from_secs(4));
    quit_after_one_event(&d, 2, 2);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        Panel::refused(d.panel, Duration::from_secs(2)),
        "a fifth session was let in while four waited for the store"
    );
    assert!(stalled_at.elapsed() < Duration::from_secs(STALL_SECS));
}

#[test]
fn a_panel_that_half_closes_still_gets_the_ack_of_an_event_stored_within_the_grace() {
    let (_tmp, d) = start("");
    // A stall shorter than the half-close grace (2 s): the socket is kept for the ACK.
    d.stall_writer(1);
    let mut p = Panel::connect(d.panel);
    p.send(&bytes(&hb_event(3, "799997", 1130, 0, 5)));
    p.stream.shutdown(std::net::Shutdown::Write).unwrap();
    let ack = p.recv(Duration::from_secs(10));
    assert_eq!(
        ack.map(|f| f.seq.to_string()).as_deref(),
        Some("0003"),
        "a half-closed panel lost the ACK of an event stored within the grace"
    );
}
