//! Compat service tests: reply mapping, Sync confirmation batch by batch, the live
//! `IsNeedSync` count, and a real HTTP/2 client that hangs up mid-stream.

use super::*;
use crate::events::{Detail, Facts, NewEvent, Source, StoredEvent};
use futures::StreamExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

static SEQ: AtomicI64 = AtomicI64::new(0);

fn event(account: &str, source: Source, code: u16, zone: u16, at_ms: i64) -> Arc<StoredEvent> {
    Arc::new(StoredEvent {
        seq: SEQ.fetch_add(1, Ordering::Relaxed) + 1,
        event: NewEvent {
            account: account.to_string(),
            source,
            code,
            sia_code: None,
            group: 0,
            zone,
            received_at_ms: at_ms,
            panel_time: None,
            protocol: "HENG-BO".into(),
            frame_seq: "0001".into(),
            peer: "127.0.0.1:5000".into(),
            facts: Facts::default(),
            detail: Detail::empty(),
            dedup_key: None,
        },
    })
}

fn report(reg: &Registry, account: &str, code: u16, zone: u16, at_ms: i64) {
    reg.apply_all(&[event(account, Source::Panel, code, zone, at_ms)]);
}

fn config(toml: &str) -> Arc<Config> {
    Arc::new(Config::from_toml_str(toml, "<test>").unwrap())
}

fn service(reg: &Arc<Registry>, cfg: Arc<Config>) -> CompatService {
    CompatService::from_parts(Arc::clone(reg), cfg)
}

async fn collect(s: &CompatService, account: &str) -> Vec<MachineReply> {
    s.sync_stream(account)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await
}

const ACCT: &str = "861234567890";
const T: i64 = 1_700_000_000_123;

fn wired_host(reg: &Registry) {
    report(reg, ACCT, 1737, 0, T); // wired host: type 6
    report(reg, ACCT, 1400, 0, T); // disarmed: status 2
    report(reg, ACCT, 1130, 5, T + 1000); // burglary, zone 5
}

#[tokio::test]
async fn reply_maps_type_status_and_the_last_alarm() {
    let reg = Arc::new(Registry::new());
    wired_host(&reg);
    let s = service(&reg, Arc::new(Config::default()));
    let r = collect(&s, "").await;
    assert_eq!(
        r,
        vec![MachineReply {
            account: ACCT.into(),
            online: true,
            r#type: 6,
            status: 2,
            password: String::new(),
            alarm_message: Some(AlarmMessage {
                valid: true,
                zone: 5,
                event: 1130,
                timestamp: 1_700_000_001,
                source: 0,
            }),
        }]
    );
}

#[tokio::test]
async fn a_panel_without_type_status_or_alarm_maps_to_unknowns_and_zeros() {
    let reg = Arc::new(Registry::new());
    reg.apply_all(&[event("555000", Source::Receiver, 1946, 0, T)]);
    let s = service(&reg, Arc::new(Config::default()));
    let r = collect(&s, "").await;
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].online, r[0].r#type, r[0].status), (true, -1, -1));
    assert_eq!(r[0].alarm_message, Some(AlarmMessage::default()));
}

#[tokio::test]
async fn password_is_served_only_when_the_config_allows_it() {
    let accounts = "[[accounts]]\naccount = \"861234567890\"\npassword = \"123456\"\n";
    let reg = Arc::new(Registry::new());
    wired_host(&reg);
    report(&reg, "555000", 1400, 0, T);
    let hidden = service(&reg, config(accounts));
    assert_eq!(collect(&hidden, ACCT).await[0].password, "");
    let served = service(
        &reg,
        config(&format!("[grpc]\nserve_passwords = true\n{accounts}")),
    );
    assert_eq!(collect(&served, ACCT).await[0].password, "123456");
    // Accounts without a configured password: empty either way.
    assert_eq!(collect(&served, "555000").await[0].password, "");
}

#[tokio::test]
async fn a_full_sync_delivers_each_alarm_once_and_clears_the_change() {
    let reg = Arc::new(Registry::new());
    wired_host(&reg);
    report(&reg, "555000", 1400, 0, T);
    let s = service(&reg, Arc::new(Config::default()));
    assert_eq!(s.changed_count(), 2);
    let first = collect(&s, "").await;
    let accounts: Vec<&str> = first.iter().map(|r| r.account.as_str()).collect();
    assert_eq!(accounts, ["555000", ACCT], "sorted by account");
    assert!(first[1].alarm_message.unwrap().valid);
    assert!(!first[0].alarm_message.unwrap().valid, "no alarm at all");
    assert_eq!(s.changed_count(), 0);
    assert!(collect(&s, "").await.is_empty());
    // The panel is still there for a single-account Sync, its alarm no longer valid.
    let one = collect(&s, ACCT).await;
    let a = one[0].alarm_message.unwrap();
    assert_eq!((a.valid, a.zone, a.event), (false, 5, 1130));
    // A new alarm: pending again, valid again, once.
    report(&reg, ACCT, 1110, 3, T + 5000);
    assert_eq!(s.changed_count(), 1);
    let again = collect(&s, "").await;
    let a = again[0].alarm_message.unwrap();
    assert_eq!((a.valid, a.zone, a.event), (true, 3, 1110));
    assert!(collect(&s, "").await.is_empty());
}

#[tokio::test]
async fn a_change_racing_a_sync_stays_pending() {
    let reg = Arc::new(Registry::new());
    wired_host(&reg);
    let s = service(&reg, Arc::new(Config::default()));
    // The reply is built from the state at the call; the alarm lands before it is sent.
    let stream = s.sync_stream("").unwrap();
    report(&reg, ACCT, 1110, 3, T + 5000);
    let r: Vec<_> = stream.map(|r| r.unwrap()).collect().await;
    assert_eq!(r[0].alarm_message.unwrap().zone, 5);
    let p = reg.get(ACCT).unwrap();
    assert!(p.changed() && p.alarm_pending(), "{p:?}");
    assert_eq!(s.changed_count(), 1);
    let next = collect(&s, "").await;
    let a = next[0].alarm_message.unwrap();
    assert_eq!((a.valid, a.zone), (true, 3));
    assert_eq!(s.changed_count(), 0);
}

#[tokio::test]
async fn a_single_account_sync_does_not_clear_anything() {
    let reg = Arc::new(Registry::new());
    wired_host(&reg);
    let s = service(&reg, Arc::new(Config::default()));
    for _ in 0..2 {
        let r = collect(&s, ACCT).await;
        assert_eq!(r.len(), 1);
        assert!(r[0].alarm_message.unwrap().valid);
    }
    assert_eq!(s.changed_count(), 1);
    assert!(collect(&s, "unknown-account").await.is_empty());
    // An unchanged panel is still streamed.
    assert_eq!(collect(&s, "").await.len(), 1);
    assert_eq!(collect(&s, ACCT).await.len(), 1);
}

#[tokio::test]
async fn single_account_lookup_falls_back_to_the_configured_spelling() {
    let reg = Arc::new(Registry::new());
    report(&reg, "ABC123", 1400, 0, T);
    let s = service(&reg, config("[[accounts]]\naccount = \"ABC123\"\n"));
    assert_eq!(collect(&s, "abc123").await[0].account, "ABC123");
}

#[test]
fn bad_accounts_are_invalid_arguments_naming_the_field() {
    let reg = Arc::new(Registry::new());
    let s = service(&reg, Arc::new(Config::default()));
    for bad in [
        "x".repeat(65),
        "12\n34".into(),
        "12\u{7f}".into(),
        "账户".into(),
    ] {
        let e = s.sync_stream(&bad).err().unwrap();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad:?}");
        assert!(e.message().starts_with("account: "), "{}", e.message());
    }
    assert!(s.sync_stream(&"x".repeat(64)).is_ok());
    assert!(s.sync_stream("has space~").is_ok());
}

fn many(reg: &Registry, n: usize) {
    let events: Vec<_> = (0..n)
        .map(|i| event(&format!("{i:06}"), Source::Panel, 1130, 1, T))
        .collect();
    reg.apply_all(&events);
}

#[test]
fn replies_are_confirmed_only_after_the_stream_is_polled_past_a_yield() {
    let reg = Arc::new(Registry::new());
    many(&reg, 3);
    let s = service(&reg, Arc::new(Config::default()));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);

    // Taken but never flushed (the client went away): nothing is confirmed.
    let mut st = s.sync_stream("").unwrap();
    for _ in 0..3 {
        assert!(matches!(
            st.poll_next_unpin(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
    }
    assert!(st.poll_next_unpin(&mut cx).is_pending(), "yields to flush");
    drop(st);
    assert_eq!(s.changed_count(), 3);

    // Polled again after the yield: the batch was handed on, so it is confirmed.
    let mut st = s.sync_stream("").unwrap();
    for _ in 0..3 {
        assert!(matches!(
            st.poll_next_unpin(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
    }
    assert!(st.poll_next_unpin(&mut cx).is_pending());
    assert_eq!(reg.changed_count(), 3, "not before the next poll");
    assert!(matches!(st.poll_next_unpin(&mut cx), Poll::Ready(None)));
    assert_eq!(s.changed_count(), 0);
}

#[test]
fn confirmation_goes_batch_by_batch() {
    let reg = Arc::new(Registry::new());
    many(&reg, CONFIRM_BATCH * 2 + 5);
    let s = service(&reg, Arc::new(Config::default()));
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut st = s.sync_stream("").unwrap();
    for _ in 0..CONFIRM_BATCH {
        assert!(matches!(st.poll_next_unpin(&mut cx), Poll::Ready(Some(_))));
    }
    assert!(st.poll_next_unpin(&mut cx).is_pending());
    // The next poll confirms the first batch and returns the first reply of the next.
    assert!(matches!(st.poll_next_unpin(&mut cx), Poll::Ready(Some(_))));
    drop(st);
    assert_eq!(s.changed_count(), CONFIRM_BATCH + 5);
}

#[test]
fn the_count_is_live_at_every_call_and_cleared_by_a_sync() {
    let reg = Arc::new(Registry::new());
    many(&reg, 2);
    let s = service(&reg, Arc::new(Config::default()));
    assert_eq!(s.changed_count(), 2);
    many(&reg, 3); // "000002" is new; 0 and 1 change again
    assert_eq!(
        s.changed_count(),
        3,
        "no cached count: a change shows at once"
    );
    let r = futures::executor::block_on(collect(&s, ""));
    assert_eq!(r.len(), 3);
    assert_eq!(s.changed_count(), 0, "cleared by the Sync");
}

/// The service over real HTTP/2: a client that reads one reply and hangs up leaves
/// most panels pending; a complete Sync clears them.
#[tokio::test]
async fn over_grpc_a_client_that_goes_away_leaves_unsent_panels_pending() {
    use crate::proto::alarm_server::alarm_server_client::AlarmServerClient;
    const N: usize = 20_000;
    let reg = Arc::new(Registry::new());
    many(&reg, N);
    let s = service(&reg, Arc::new(Config::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(s.clone().into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    // Small HTTP/2 windows, as a slow client would leave them.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut c = AlarmServerClient::new(channel);
    let need = c.is_need_sync(IsNeedSyncRequest::default()).await.unwrap();
    assert_eq!(need.into_inner().changed_machine_count, N as i32);

    let mut st = c
        .sync(GetMachineRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(st.message().await.unwrap().is_some());
    drop(st);
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = s.changed_count();
    eprintln!("{left} of {N} panels still pending after the client hung up");
    // At most the flow-control window's worth went out unread.
    assert!(left > N / 2 && left < N, "{left} of {N} still pending");

    let mut c = AlarmServerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut st = c
        .sync(GetMachineRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut got = 0;
    while let Some(r) = st.message().await.unwrap() {
        assert!(r.alarm_message.unwrap().valid);
        got += 1;
    }
    assert_eq!(got, left);
    let need = c.is_need_sync(IsNeedSyncRequest::default()).await.unwrap();
    assert_eq!(need.into_inner().changed_machine_count, 0);

    let e = c
        .sync(GetMachineRequest {
            account: "x".repeat(65),
        })
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    server.abort();
}

#[tokio::test]
async fn a_sia_only_alarm_reaches_compat_clients_as_its_contact_id_equivalent() {
    let reg = Arc::new(Registry::new());
    for (account, sia, want) in [("A1", "FA", 1110), ("A2", "BA", 1130), ("A3", "DF", 0)] {
        let mut e = (*event(account, Source::Panel, 0, 3, T)).clone();
        e.event.sia_code = Some(sia.into());
        e.event.protocol = "SIA-DCS".into();
        reg.apply_all(&[Arc::new(e)]);
        let r = collect(&service(&reg, Arc::new(Config::default())), account).await;
        let alarm = r[0].alarm_message.unwrap();
        assert_eq!((alarm.zone, alarm.event), (3, want), "{sia}");
    }
}
