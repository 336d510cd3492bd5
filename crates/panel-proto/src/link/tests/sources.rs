//! Who may speak for an account: `allowed_sources`, plaintext refused for keyed accounts,
//! the accounts-per-connection cap and the per-source limit on new accounts.

use super::*;
use crate::crypto::{Key, KeyFormat};

fn policy_from(nets: &[&str]) -> AccountPolicy {
    AccountPolicy {
        allowed_sources: nets.iter().map(|n| n.parse().unwrap()).collect(),
        ..AccountPolicy::default()
    }
}

fn link_from(peer: &str) -> Link {
    Link::new(
        LinkConfig {
            peer: Some(peer.parse().unwrap()),
            ..config()
        },
        at(0),
    )
}

#[test]
fn frames_from_outside_the_allowed_sources_are_dropped_and_inside_are_acked() {
    let acc = Accounts::new().with("1409", policy_from(&["10.1.0.0/16", "127.0.0.1"]));
    for (peer, want) in [
        ("10.1.2.3", "ack 0000"),
        ("127.0.0.1", "ack 0000"),
        (
            "10.2.0.1",
            "dropped: source address not in the account's allowed_sources",
        ),
    ] {
        let mut l = link_from(peer);
        let out = feed(&mut l, &bytes(&null("1409", None, Some("0"))), at(0), &acc);
        assert_eq!(shape(&out).last().unwrap(), want, "{peer}");
        if want.starts_with("dropped") {
            assert_eq!(
                shape(&out).len(),
                1,
                "no ONLINE, no store: {:?}",
                shape(&out)
            );
        }
    }
}

#[test]
fn a_keyed_account_refuses_plaintext_unless_it_allows_it() {
    let key = Key::parse("0123456789ABCDEF0123456789ABCDEF", KeyFormat::Hex).unwrap();
    for (allow_plaintext, want) in [
        (
            false,
            "dropped: plaintext frame for an account with a key (allow_plaintext is off)",
        ),
        (true, "ack 0001"),
    ] {
        let policy = AccountPolicy {
            key: Some(key.clone()),
            allow_plaintext,
            ..AccountPolicy::default()
        };
        let acc = Accounts::new().with("1409", policy);
        let mut l = link();
        let out = feed(&mut l, &bytes(&dc09_event("1409", 1, 1130, 3)), at(0), &acc);
        assert_eq!(shape(&out).last().unwrap(), want);
        let stores = out.iter().filter(|o| matches!(o, Output::Store(_))).count();
        assert_eq!(stores > 0, allow_plaintext, "{:?}", shape(&out));
    }
}

#[test]
fn a_connection_speaks_for_at_most_max_accounts_accounts() {
    let acc = Accounts::new();
    let mut l = Link::new(
        LinkConfig {
            max_accounts: 2,
            ..config()
        },
        at(0),
    );
    let mut last = Vec::new();
    for a in ["A1", "A2", "A3", "A1"] {
        let out = feed(&mut l, &bytes(&null(a, None, Some("0"))), at(0), &acc);
        last.push(shape(&out).last().unwrap().clone());
    }
    assert_eq!(
        last,
        [
            "ack 0000",
            "ack 0000",
            "dropped: connection already speaks for max_accounts_per_connection accounts",
            "ack 0000"
        ]
    );
    assert_eq!(l.accounts().collect::<Vec<_>>(), ["A1", "A2"]);
}

#[test]
fn a_limited_new_account_is_dropped_and_asked_about_again_on_its_next_frame() {
    let mut acc = Accounts::new();
    acc.unknown = Admission::Limited;
    let mut l = link();
    for _ in 0..2 {
        let out = feed(&mut l, &bytes(&null("7777", None, Some("0"))), at(0), &acc);
        assert_eq!(
            shape(&out),
            ["dropped: too many new unknown accounts from this source this minute"]
        );
    }
    assert_eq!(acc.lookups.get(), 2, "a limit is not cached");
    acc.unknown = Admission::Unknown;
    let out = feed(&mut l, &bytes(&null("7777", None, Some("0"))), at(0), &acc);
    assert_eq!(shape(&out).last().unwrap(), "ack 0000");
}
