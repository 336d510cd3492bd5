//! The penalty box: source addresses that sent more invalid input than
//! `panel.max_invalid_per_min` on a connection (or as a UDP peer) are refused for a while —
//! new TCP connections are refused at accept, datagrams dropped on arrival — so an attacker
//! costs the receiver an accept or a receive, not a session that decodes, counts and logs
//! every byte. The first stay lasts `panel.penalty_secs`; each new stay within a day
//! doubles, up to `panel.penalty_max_secs`. Connections already open from the source are
//! not touched (a well-behaved panel behind the same address keeps its link).
//!
//! A new TCP connection from a source in the box is not closed at once but held unread
//! for [`HOLD`] ([`Held`], at most [`MAX_HELD`] at a time; beyond, the oldest is closed):
//! a flooder that reconnects as soon as it is refused would otherwise turn the box into a
//! loop of accept, close and reconnect that costs both sides a CPU — while held, its
//! writes fill the socket buffers and it waits.
//!
//! Also here: the per-source token bucket of new TCP connections
//! (`panel.connect_rate_per_source`), owned by the accept loop.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Sources tracked at most (each table); beyond it the stale entries are forgotten, and if
/// none is stale the new source is not tracked (the tables stay bounded).
const MAX_SOURCES: usize = 100_000;
/// A new stay within this long of the last one doubles.
const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
struct Stay {
    until: Instant,
    strikes: u32,
    last: Instant,
}

/// Sources refused for a while.
#[derive(Debug, Default)]
pub struct PenaltyBox {
    stays: Mutex<HashMap<IpAddr, Stay>>,
    /// Entries in `stays`: lets the per-accept and per-datagram check skip the lock while
    /// the box is empty (the usual case).
    len: AtomicUsize,
}

impl PenaltyBox {
    /// Whether `source` is in the box at `now`.
    pub fn holds(&self, source: IpAddr, now: Instant) -> bool {
        if self.len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let m = self.stays.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&source).is_some_and(|s| s.until > now)
    }

    /// Put `source` in the box at `now`: `base` the first time, doubled for each stay that
    /// follows within a day, at most `max`. Returns how long (zero when `base` is zero: no
    /// penalty box).
    pub fn punish(&self, source: IpAddr, now: Instant, base: Duration, max: Duration) -> Duration {
        if base.is_zero() {
            return Duration::ZERO;
        }
        let mut m = self.stays.lock().unwrap_or_else(|p| p.into_inner());
        if !m.contains_key(&source) && m.len() >= MAX_SOURCES {
            m.retain(|_, s| s.until > now || now.saturating_duration_since(s.last) < DAY);
            if m.len() >= MAX_SOURCES {
                return Duration::ZERO;
            }
        }
        let stay = m.entry(source).or_insert(Stay {
            until: now,
            strikes: 0,
            last: now,
        });
        if stay.until > now {
            // Already in (another connection of the source hit the budget too).
            return stay.until.saturating_duration_since(now);
        }
        let strikes = if now.saturating_duration_since(stay.last) < DAY {
            stay.strikes.saturating_add(1)
        } else {
            1
        };
        let factor = 1u32 << strikes.saturating_sub(1).min(20);
        let length = base.saturating_mul(factor).min(max.max(base));
        *stay = Stay {
            until: now + length,
            strikes,
            last: now,
        };
        self.len.store(m.len(), Ordering::Relaxed);
        length
    }
}

/// How long a connection from a source in the box is held unread before it is closed.
pub const HOLD: Duration = Duration::from_secs(1);
/// Connections held at most (their descriptors come out of `panel.fd_reserve`).
pub const MAX_HELD: usize = 64;

/// Connections from sources in the box, held unread until their time is up (the accept
/// loop's own queue, oldest first; each is held for the same [`HOLD`], so the oldest is
/// always the first due).
#[derive(Debug)]
pub struct Held {
    conns: VecDeque<(TcpStream, tokio::time::Instant)>,
    /// Armed for the oldest connection's time while there is one.
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            conns: VecDeque::new(),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }
}

impl Held {
    /// Hold `stream` for [`HOLD`]; when [`MAX_HELD`] are held already the oldest is closed.
    pub fn hold(&mut self, stream: TcpStream) {
        if self.conns.len() >= MAX_HELD {
            self.conns.pop_front();
        }
        let until = tokio::time::Instant::now() + HOLD;
        if self.conns.is_empty() {
            self.timer.as_mut().reset(until);
        }
        self.conns.push_back((stream, until));
    }

    /// How many are held.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Wait until the oldest is due (forever while none is held), then close every one
    /// that is due.
    pub async fn release_due(&mut self) {
        if self.conns.is_empty() {
            return std::future::pending().await;
        }
        self.timer.as_mut().await;
        let now = tokio::time::Instant::now();
        while self.conns.front().is_some_and(|(_, until)| *until <= now) {
            self.conns.pop_front();
        }
        if let Some((_, until)) = self.conns.front() {
            self.timer.as_mut().reset(*until);
        }
    }
}

/// Per-source token buckets of new connections (the accept loop's own table).
#[derive(Debug, Default)]
pub struct ConnectRate {
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl ConnectRate {
    /// Whether `source` may open one more connection at `now` under `rate` per second and
    /// `burst` (rate 0: no limit); takes the token when it may.
    pub fn admit(&mut self, source: IpAddr, now: Instant, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let (rate, burst) = (f64::from(rate), f64::from(burst.max(1)));
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_SOURCES {
            // A full bucket is the same as no bucket.
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if self.buckets.len() >= MAX_SOURCES {
                return true;
            }
        }
        let (tokens, at) = self.buckets.entry(source).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_double_within_a_day_up_to_the_maximum() {
        let b = PenaltyBox::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(35));
        assert!(!b.holds(ip, t0));
        assert_eq!(b.punish(ip, t0, base, max), base);
        assert!(b.holds(ip, t0 + Duration::from_secs(9)));
        assert!(!b.holds(other, t0), "other sources are not affected");
        assert!(!b.holds(ip, t0 + base));
        let t1 = t0 + Duration::from_secs(20);
        assert_eq!(b.punish(ip, t1, base, max), Duration::from_secs(20));
        assert_eq!(
            b.punish(ip, t1 + Duration::from_secs(5), base, max),
            Duration::from_secs(15),
            "still in: the rest of the stay"
        );
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(b.punish(ip, t2, base, max), max, "capped");
        let t3 = t2 + DAY + max;
        assert_eq!(
            b.punish(ip, t3, base, max),
            base,
            "a day later: from the start"
        );
        assert_eq!(b.punish(other, t0, Duration::ZERO, max), Duration::ZERO);
        assert!(!b.holds(other, t0), "0: no penalty box");
    }

    #[tokio::test]
    async fn held_connections_are_closed_after_the_hold_and_at_most_max_held_stay() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Held::default();
        let mut clients = Vec::new();
        let t0 = tokio::time::Instant::now();
        for _ in 0..=MAX_HELD {
            let c = TcpStream::connect(addr).await.unwrap();
            held.hold(listener.accept().await.unwrap().0);
            clients.push(c);
        }
        assert_eq!(held.len(), MAX_HELD, "the oldest was closed");
        let mut first = clients.remove(0);
        let mut buf = [0u8; 16];
        assert_eq!(first.read(&mut buf).await.unwrap(), 0, "closed at once");
        let mut last = clients.pop().unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while !held.is_empty() {
                held.release_due().await;
            }
        })
        .await
        .unwrap();
        assert!(t0.elapsed() >= HOLD, "{:?}", t0.elapsed());
        assert_eq!(
            last.read(&mut buf).await.unwrap(),
            0,
            "closed after the hold"
        );
    }

    #[test]
    fn new_connections_per_source_follow_the_bucket() {
        let mut r = ConnectRate::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        let admitted = (0..100).filter(|_| r.admit(ip, t0, 10, 20)).count();
        assert_eq!(admitted, 20, "the burst");
        assert!(!r.admit(ip, t0 + Duration::from_millis(50), 10, 20));
        assert!(
            r.admit(ip, t0 + Duration::from_millis(100), 10, 20),
            "one token per 100 ms"
        );
        assert!(r.admit([10, 0, 0, 2].into(), t0, 10, 20), "per source");
        assert!((0..1000).all(|_| r.admit(ip, t0, 0, 0)), "0: no limit");
    }
}
