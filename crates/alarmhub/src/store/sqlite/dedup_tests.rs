//! Tests of the sharded retransmission window (`dedup.rs`), against the one-map layout it
//! replaced as the reference.

use super::*;

#[test]
fn finds_within_the_window_only() {
    let mut w = DedupWindow::default();
    w.insert(7, 1, 1_000);
    assert_eq!(w.find(7, 999), Some(1));
    assert_eq!(w.find(7, 1_000), None, "received at the cutoff is outside");
    assert_eq!(w.find(8, 0), None);
}

#[test]
fn expiry_keeps_a_newer_copy_of_the_same_key() {
    let mut w = DedupWindow::default();
    w.insert(7, 1, 1_000);
    w.insert(7, 2, 2_000);
    w.expire(1_500);
    assert_eq!(w.find(7, 1_500), Some(2));
    assert_eq!(w.len(), 1);
    w.expire(2_000);
    assert_eq!(w.len(), 0);
    assert_eq!(w.order.len(), 0);
}

#[test]
fn rollback_forgets_exactly_the_rolled_back_inserts() {
    let mut w = DedupWindow::default();
    w.insert(1, 1, 1_000);
    let mark = w.mark();
    w.insert(2, 2, 1_000);
    w.insert(3, 3, 1_000);
    w.rollback(mark);
    assert_eq!(w.find(1, 0), Some(1));
    assert_eq!(w.find(2, 0), None);
    assert_eq!(w.find(3, 0), None);
    assert_eq!(w.len(), 1);
}

#[test]
fn a_clock_stepped_back_does_not_make_an_old_entry_match() {
    let mut w = DedupWindow::default();
    w.insert(1, 1, 5_000);
    w.insert(2, 2, 1_000); // clock stepped back
    w.expire(2_000); // front (5_000) is newer: nothing removed yet
    assert_eq!(w.find(2, 2_000), None);
    assert_eq!(w.find(1, 2_000), Some(1));
}

#[test]
fn the_order_queue_spans_chunks_both_ways() {
    let mut q = Order::default();
    let item = |n: i64| {
        (
            n as u64,
            Stored {
                seq: n,
                received_at_ms: n,
            },
        )
    };
    for n in 0..(CHUNK as i64 * 2 + 10) {
        q.push_back(item(n));
    }
    assert_eq!(q.len(), CHUNK * 2 + 10);
    for n in 0..(CHUNK as i64 + 5) {
        assert_eq!(q.pop_front(), Some(item(n)));
    }
    for n in (CHUNK as i64 + 5..CHUNK as i64 * 2 + 10).rev() {
        assert_eq!(q.pop_back(), Some(item(n)));
    }
    assert_eq!(q.len(), 0);
    assert_eq!(q.pop_front(), None);
    assert_eq!(q.pop_back(), None);
    q.push_back(item(1));
    assert_eq!(q.front(), Some(item(1)));
}

#[test]
fn shards_double_on_different_inserts() {
    // Keys spread over every shard, as hashes are. Left to itself every map would
    // double at 7/8 full, so the shards (equally full, give or take chance) would all
    // double within a few thousand inserts of each other; staggered, their doublings
    // spread over the whole growth step. Deterministic: the keys are fixed.
    let mut w = DedupWindow::default();
    let mut caps: Vec<usize> = w.shards.iter().map(HashMap::capacity).collect();
    // Inserts at which a shard that held 896 or more entries doubled.
    let mut big = Vec::new();
    for n in 0..800_000u64 {
        let key = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        w.insert(key, n as i64, 1);
        let i = shard_of(key);
        let cap = w.shards[i].capacity();
        if cap != caps[i] {
            if caps[i] >= 896 {
                big.push(n);
            }
            caps[i] = cap;
        }
    }
    assert_eq!(w.len(), 800_000);
    assert!(big.len() >= SHARDS, "{} large doublings", big.len());
    let most = big
        .iter()
        .map(|&n| big.iter().filter(|&&m| m >= n && m < n + 2_000).count())
        .max()
        .unwrap_or(0);
    assert!(most <= 16, "{most} shards doubled within 2,000 inserts");
}

/// The one-map window this one replaced, as the reference.
#[derive(Default)]
struct Model {
    latest: HashMap<u64, Stored>,
    order: VecDeque<(u64, Stored)>,
}

impl Model {
    fn expire(&mut self, cutoff_ms: i64) {
        while let Some(&(key, stored)) = self.order.front() {
            if stored.received_at_ms > cutoff_ms {
                break;
            }
            self.order.pop_front();
            if self.latest.get(&key).is_some_and(|s| s.seq == stored.seq) {
                self.latest.remove(&key);
            }
        }
    }

    fn insert(&mut self, key: u64, seq: i64, received_at_ms: i64) {
        let stored = Stored {
            seq,
            received_at_ms,
        };
        self.latest.insert(key, stored);
        self.order.push_back((key, stored));
    }

    fn rollback(&mut self, mark: usize) {
        while self.order.len() > mark {
            let Some((key, stored)) = self.order.pop_back() else {
                break;
            };
            if self.latest.get(&key).is_some_and(|s| s.seq == stored.seq) {
                self.latest.remove(&key);
            }
        }
    }

    fn find(&self, key: u64, cutoff_ms: i64) -> Option<i64> {
        self.latest
            .get(&key)
            .filter(|s| s.received_at_ms > cutoff_ms)
            .map(|s| s.seq)
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Insert key number `k` received `dt` ms after the previous insert (may be negative:
    /// a clock stepped back).
    Insert { k: u16, dt: i16 },
    /// Expire everything received `age` ms or more before the newest insert.
    Expire { age: u16 },
    /// Take a mark, insert `n` keys, roll back to the mark.
    RolledBack { k: u16, n: u16 },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        8 => (0..3000u16, -5..50i16).prop_map(|(k, dt)| Op::Insert { k, dt }),
        2 => (0..2000u16).prop_map(|age| Op::Expire { age }),
        1 => (0..3000u16, 0..5000u16).prop_map(|(k, n)| Op::RolledBack { k, n }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    /// Whatever is inserted, expired and rolled back, the sharded window answers
    /// exactly as the one-map window did.
    #[test]
    fn answers_as_the_one_map_window(ops in proptest::collection::vec(op(), 1..400)) {
        let key = |k: u16| u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let (mut w, mut m) = (DedupWindow::default(), Model::default());
        let (mut seq, mut now) = (0i64, 1_000_000i64);
        for op in ops {
            match op {
                Op::Insert { k, dt } => {
                    seq += 1;
                    now += i64::from(dt);
                    w.insert(key(k), seq, now);
                    m.insert(key(k), seq, now);
                }
                Op::Expire { age } => {
                    w.expire(now - i64::from(age));
                    m.expire(now - i64::from(age));
                }
                Op::RolledBack { k, n } => {
                    let mark = w.mark();
                    proptest::prop_assert_eq!(mark, m.order.len());
                    for j in 0..n {
                        seq += 1;
                        w.insert(key(k.wrapping_add(j)), seq, now);
                        m.insert(key(k.wrapping_add(j)), seq, now);
                    }
                    w.rollback(mark);
                    m.rollback(mark);
                }
            }
            proptest::prop_assert_eq!(w.len(), m.latest.len());
            proptest::prop_assert_eq!(w.order.len(), m.order.len());
        }
        for k in 0..3000u16 {
            for cutoff in [0, now - 500, now - 50] {
                proptest::prop_assert_eq!(w.find(key(k), cutoff), m.find(key(k), cutoff));
            }
        }
    }
}
