//! The token bucket as the driver sees it: frames beyond the burst stay in the buffer and
//! the link asks for a pause; nothing is dropped.

use super::*;

fn slow_link(rate_per_sec: u32, rate_burst: u32) -> Link {
    Link::new(
        LinkConfig {
            rate_per_sec,
            rate_burst,
            ..config()
        },
        at(0),
    )
}

fn flood(n: u16) -> Vec<u8> {
    let mut buf = Vec::new();
    for seq in 1..=n {
        buf.extend(bytes(&dc09_event("F100D", seq, 1130, seq)));
    }
    buf
}

#[test]
fn a_flood_is_taken_up_to_the_burst_then_throttled_without_consuming_the_rest() {
    let acc = Accounts::new();
    let mut l = slow_link(4, 2);
    let buf = flood(8);
    let one = buf.len() / 8;
    let mut out = Vec::new();
    let n = l.read(&buf, at(0), &acc, &mut out);
    assert_eq!(n, 2 * one, "two frames taken");
    assert_eq!(shape(&out).last().unwrap(), "throttle 250");
    // Called again too early: nothing taken, the remaining wait.
    let mut early = Vec::new();
    assert_eq!(l.read(&buf[n..], at(100), &acc, &mut early), 0);
    assert_eq!(shape(&early), ["throttle 150"]);
}

#[test]
fn a_throttled_flood_is_answered_completely_at_the_configured_rate() {
    let acc = Accounts::new();
    let mut l = slow_link(4, 2);
    let buf = flood(8);
    let (mut pos, mut now, mut acks) = (0, 0, Vec::new());
    for _ in 0..100 {
        let mut out = Vec::new();
        pos += l.read(&buf[pos..], at(now), &acc, &mut out);
        acks.extend(replies(&out).iter().map(|r| r.to.seq.to_string()));
        match out.last() {
            Some(Output::Throttle { ms }) => now += ms,
            _ => break,
        }
    }
    assert_eq!(pos, buf.len());
    let want: Vec<String> = (1..=8).map(|s| format!("{s:04}")).collect();
    assert_eq!(acks, want, "every frame answered, in order");
    assert_eq!(now, 6 * 250, "six frames beyond the burst at 4/s");
}

#[test]
fn undecodable_bytes_cost_no_tokens() {
    let acc = Accounts::new();
    let mut l = slow_link(1, 1);
    let mut buf = b"garbage\n1234XXXX".to_vec();
    buf.extend(bytes(&null("1409", None, Some("0"))));
    let out = feed(&mut l, &buf, at(0), &acc);
    assert_eq!(shape(&out).last().unwrap(), "ack 0000");
}
