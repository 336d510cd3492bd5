//! A link driven by arbitrary bytes, time steps, commands, handled/invalidate/close calls.
//! It must never panic, and what it asks the driver to do must be sound:
//!
//! * an ACK to an event frame comes after (and in the same reply group as) the store of
//!   that frame: same account, same seq; every reply decodes and echoes the seq it answers;
//! * every command frame decodes as a HENG-BO frame, and every request the fuzzer issued
//!   finishes exactly once (all of them by the time the link is closed);
//! * `read` never consumes more than it was given, a throttle asks for at least 1 ms, and a
//!   closed link does nothing.
//!
//! Input: byte 0 selects the account setup, byte 1 the rate limit, then a list of
//! operations (see `Op`).
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use panel_proto::build::Command;
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::link::{
    AccountPolicy, Admission, CloseReason, CommandRequest, Link, LinkConfig, Now, Output, Policies,
    Record, ReplyKind, Retry,
};
use panel_proto::timestamp::Window;
use panel_proto::{Frame, Id, Quirks};

/// Accounts of the protocol.md examples; these are the "configured" ones.
const KNOWN: [&str; 5] = ["1409", "12345A", "861234567890", "F100D", "AAAB"];

struct Setup {
    unknown: Admission,
    key: Option<Key>,
    quirks: Quirks,
    window: Window,
    types_known: bool,
}

impl Setup {
    fn new(b: u8) -> Setup {
        let key_text = if b & 0x08 == 0 {
            "000102030405060708090A0B0C0D0E0F"
        } else {
            "0123456789ABCDEF0123456789ABCDEF"
        };
        Setup {
            unknown: [
                Admission::Unknown,
                Admission::Flagged,
                Admission::Refused,
                Admission::Configured,
            ][usize::from(b & 3)],
            key: (b & 0x04 != 0).then(|| Key::parse(key_text, KeyFormat::Hex).expect("valid key")),
            quirks: if b & 0x10 != 0 {
                Quirks::ALL
            } else {
                Quirks::default()
            },
            window: if b & 0x20 != 0 {
                Window {
                    past_secs: u32::MAX,
                    future_secs: u32::MAX,
                }
            } else {
                Window::default()
            },
            types_known: b & 0x80 != 0,
        }
    }
}

impl Policies for Setup {
    fn policy(&self, account: &str) -> AccountPolicy {
        let known = KNOWN.contains(&account);
        AccountPolicy {
            admission: if known {
                Admission::Configured
            } else {
                self.unknown
            },
            key: self.key.clone(),
            quirks: self.quirks,
            tz_offset_secs: if known { 0 } else { 3600 },
            supervision_ms: 60_000,
            supervision_grace_ms: 30_000,
            window: self.window,
            allowed_sources: Vec::new(),
            allow_plaintext: true,
            // Both presence rules get exercised: known accounts stay connected, others are
            // connect-on-demand.
            on_demand: !known,
        }
    }

    fn host_type(&self, _account: &str) -> Option<i32> {
        // Type 6 is what 1737 reports: a known host's repeated report is touched, not stored.
        self.types_known.then_some(6)
    }
}

/// Everything the fuzzer tracks about the link it drives.
struct Harness {
    link: Link,
    setup: Setup,
    buf: Vec<u8>,
    now: Now,
    outstanding: HashSet<u64>,
    next_request: u64,
    closed: bool,
    redecode: Decoder,
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let setup = Setup::new(data[0]);
    let now = Now {
        mono_ms: 0,
        unix_ms: 1_717_200_000_000,
    };
    let cfg = LinkConfig {
        decoder: DecoderConfig {
            max_frame_len: 1024,
            quirks: Quirks::ALL,
        },
        first_frame_timeout_ms: 30_000,
        rate_per_sec: u32::from(data[1] & 0x0F) + 1,
        rate_burst: u32::from(data[1] >> 4) + 1,
        type_query: (data[0] & 0x40 != 0).then_some(Retry {
            timeout_ms: 1_000,
            retries: 1,
        }),
        seed: u64::from(data[1]),
        peer: None,
        max_accounts: 64,
    };
    let mut h = Harness {
        link: Link::new(cfg, now),
        setup,
        buf: Vec::new(),
        now,
        outstanding: HashSet::new(),
        next_request: 1,
        closed: false,
        redecode: Decoder::new(DecoderConfig {
            max_frame_len: 1 << 20,
            quirks: Quirks::ALL,
        }),
    };
    let mut ops = &data[2..];
    while let Some((&op, rest)) = ops.split_first() {
        ops = h.step(op, rest);
    }
    h.close(CloseReason::ClosedByPeer);
});

impl Harness {
    /// Run one operation; returns the input left after its operands.
    fn step<'a>(&mut self, op: u8, rest: &'a [u8]) -> &'a [u8] {
        match op {
            // Feed 1..=64 bytes, then read.
            0x00..=0xBF => {
                let n = (usize::from(op & 0x3F) + 1).min(rest.len());
                self.buf.extend_from_slice(&rest[..n]);
                self.read();
                &rest[n..]
            }
            // Advance both clocks by a 16-bit amount scaled by a power of two.
            0xC0..=0xCF => {
                let Some((v, rest)) = take::<2>(rest) else {
                    return &[];
                };
                let ms = u64::from(u16::from_le_bytes(v)) << (op & 0x0F);
                self.now.mono_ms = self.now.mono_ms.saturating_add(ms);
                self.now.unix_ms = self.now.unix_ms.saturating_add(ms as i64);
                rest
            }
            0xD0..=0xD7 => {
                let mut out = Vec::new();
                self.link.tick(self.now, &mut out);
                self.check(&out);
                rest
            }
            0xD8..=0xDF => self.command(op, rest),
            0xE0..=0xE7 => {
                self.link.handled(self.now);
                rest
            }
            0xE8..=0xEF => {
                self.link.invalidate_policies();
                rest
            }
            // Jump the wall clock (but not the monotonic one): hits the encrypted window.
            0xF0..=0xF7 => {
                let Some((v, rest)) = take::<4>(rest) else {
                    return &[];
                };
                self.now.unix_ms = 1_717_200_000_000 + i64::from(i32::from_le_bytes(v)) * 1000;
                rest
            }
            // Everything left as one chunk.
            0xF8..=0xFE => {
                self.buf.extend_from_slice(rest);
                self.read();
                &[]
            }
            0xFF => {
                self.close(CloseReason::Shutdown);
                rest
            }
        }
    }

    fn read(&mut self) {
        let mut out = Vec::new();
        let n = self.link.read(&self.buf, self.now, &self.setup, &mut out);
        assert!(n <= self.buf.len(), "consumed {n} of {}", self.buf.len());
        if self.closed {
            assert!(n == 0 && out.is_empty(), "a closed link read");
        }
        self.buf.drain(..n);
        if self.buf.len() > 64 * 1024 {
            self.buf.clear(); // the driver's guard
        }
        self.check(&out);
    }

    fn command<'a>(&mut self, op: u8, rest: &'a [u8]) -> &'a [u8] {
        let Some(([sel, t], rest)) = take::<2>(rest) else {
            return &[];
        };
        let account = match sel & 3 {
            0 => self.link.accounts().next().unwrap_or("861234567890").into(),
            1 => "861234567890".into(),
            _ => "1409".into(),
        };
        let command = match (sel >> 2) & 3 {
            0 => Command::ArmAway,
            1 => Command::Disarm {
                password: if sel & 0x10 != 0 {
                    "123456".into()
                } else {
                    "12ab".into()
                },
            },
            2 => Command::QueryType,
            _ => Command::Passthrough(vec![0xEB, 0xAB, 0x3F, 0xA0, 0x75]),
        };
        let id = self.next_request;
        self.next_request += 1;
        self.outstanding.insert(id);
        let req = CommandRequest {
            id,
            account,
            command,
            section: sel >> 5,
            retry: Retry {
                timeout_ms: u64::from(t) * 100,
                retries: u32::from(op & 3),
            },
            ademco_id: (sel & 0x80 != 0).then_some(0x123),
        };
        let mut out = Vec::new();
        self.link.command(req, self.now, &self.setup, &mut out);
        self.check(&out);
        rest
    }

    fn close(&mut self, reason: CloseReason) {
        let mut out = Vec::new();
        self.link.close(reason, &mut out);
        self.check(&out);
        self.closed = true;
        assert!(
            self.outstanding.is_empty(),
            "requests never finished: {:?}",
            self.outstanding
        );
        assert_eq!(self.link.next_deadline(), None);
    }

    /// The soundness rules of the outputs of one call.
    fn check(&mut self, out: &[Output]) {
        // (account, seq) of the events stored since the last reply.
        let mut group: Vec<(String, String)> = Vec::new();
        // Accounts touched since the last reply: an event frame not stored (a type report
        // repeating the type on record) is touched instead.
        let mut touched: Vec<String> = Vec::new();
        for o in out {
            match o {
                Output::Store(Record::Event(e)) => {
                    group.push((e.account.to_string(), e.frame.seq.to_string()));
                }
                Output::Touch { account } => touched.push(account.to_string()),
                Output::Reply(r) => {
                    let reply = self.decode(&r.bytes);
                    if matches!(r.kind, ReplyKind::Ack { .. }) {
                        assert_eq!(reply.id, Id::Ack);
                        assert_eq!(reply.seq, r.to.seq, "the ACK echoes the seq");
                        if r.to.id.carries_event() {
                            let key = (r.to.account.to_string(), r.to.seq.to_string());
                            let repeated_type = self.setup.types_known && touched.contains(&key.0);
                            assert!(
                                group.contains(&key) || repeated_type,
                                "ACK to an unstored event {key:?}: {out:?}"
                            );
                        }
                    }
                    group.clear();
                    touched.clear();
                }
                Output::Send(s) => {
                    let f = self.decode(&s.bytes);
                    assert_eq!((f.seq_number(), f.id), (Some(s.seq), Id::HengBo));
                }
                Output::Finished(f) => {
                    if let Some(id) = f.request {
                        assert!(
                            self.outstanding.remove(&id),
                            "request {id} finished twice or never issued"
                        );
                    }
                }
                Output::Throttle { ms } => assert!(*ms >= 1),
                _ => {}
            }
        }
    }

    fn decode(&self, bytes: &[u8]) -> Frame {
        match self.redecode.decode(bytes) {
            Decoded::Frame { frame, consumed } if consumed == bytes.len() => frame,
            other => panic!("the link wrote a frame that does not decode: {other:?}"),
        }
    }
}

fn take<const N: usize>(b: &[u8]) -> Option<([u8; N], &[u8])> {
    let head = b.get(..N)?;
    let mut a = [0u8; N];
    a.copy_from_slice(head);
    Some((a, &b[N..]))
}
