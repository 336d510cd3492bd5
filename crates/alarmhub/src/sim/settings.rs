//! Validated simulator settings: [`super::SimArgs`] checked and turned into the values the
//! panels use (resolved target, parsed key, source-address range, durations). Every problem
//! is reported as one sentence naming the flag, and `main` turns it into exit code 2.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use panel_proto::crypto::{Key, KeyFormat};

use super::{SimArgs, SimDialect, SimKeyFormat};

/// Longest account a panel may send (the receiver's configuration limit).
const MAX_ACCOUNT_LEN: usize = 32;
/// Most addresses a `--source-ips` range may hold.
const MAX_SOURCE_IPS: u32 = 1 << 16;

/// What the virtual panels speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Hengbo hosts: `HENG-BO`/`ADM-CID` with the `R123ABC L456DEF` placeholders.
    Hb,
    /// DC-09 communicators sending Contact ID (`ADM-CID`), `L0` and no `R`.
    Cid,
    /// DC-09 communicators sending SIA DC-03 (`SIA-DCS`).
    Sia,
}

impl Dialect {
    /// The `--dialect` spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Dialect::Hb => "hb",
            Dialect::Cid => "dc09-cid",
            Dialect::Sia => "dc09-sia",
        }
    }
}

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The first receiver (reports, UDP).
    pub target: SocketAddr,
    /// Every receiver of `--target A,B,…`: panel `i` starts on `targets[i % n]` and moves
    /// to the next one whenever its connection fails, as a panel with a primary and a
    /// secondary receiver does.
    pub targets: Vec<SocketAddr>,
    pub panels: u32,
    pub dialect: Dialect,
    pub key: Option<Key>,
    pub udp: bool,
    pub heartbeat: Option<Duration>,
    /// Events per second, all panels together.
    pub rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub source_ips: Vec<IpAddr>,
    pub json: bool,
    pub account_prefix: String,
    pub ack_timeout: Duration,
    pub connect_rate: f64,
    pub retries: u32,
    pub password: Option<String>,
    /// DC-09 `R` token value, when one is sent.
    pub receiver: Option<String>,
}

impl Settings {
    /// The header account of panel `index` (0-based): prefix + 6-digit number from 1.
    pub(crate) fn account(&self, index: u32) -> String {
        format!("{}{:06}", self.account_prefix, u64::from(index) + 1)
    }

    /// The source address panel `index` binds to, when `--source-ips` was given.
    pub(crate) fn source_ip(&self, index: u32) -> Option<IpAddr> {
        if self.source_ips.is_empty() {
            return None;
        }
        Some(self.source_ips[index as usize % self.source_ips.len()])
    }

    /// Events per second of one panel.
    pub(crate) fn per_panel_rate(&self) -> f64 {
        self.rate / f64::from(self.panels.max(1))
    }
}

fn secs(flag: &str, v: f64, min: f64, max: f64) -> Result<Duration, String> {
    if !v.is_finite() || v < min || v > max {
        return Err(format!(
            "--{flag} {v}: must be between {min} and {max} seconds"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Check `args` and build the settings; the error is a message for the user.
pub(crate) fn validate(args: &SimArgs) -> Result<Settings, String> {
    if args.panels == 0 || args.panels > 1_000_000 {
        return Err(format!(
            "--panels {}: must be between 1 and 1000000",
            args.panels
        ));
    }
    let targets = args
        .target
        .split(',')
        .map(|t| resolve(t.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(&target) = targets.first() else {
        return Err("--target: give at least one HOST:PORT".into());
    };
    if args.udp && targets.len() > 1 {
        return Err("--target: several receivers are for TCP panels; UDP takes one".into());
    }
    let key = match &args.key {
        None => None,
        Some(_) if args.dialect == SimDialect::Hb => {
            return Err(
                "--key: Hengbo (hb) panels do not encrypt; use --dialect dc09-cid or dc09-sia"
                    .into(),
            )
        }
        Some(text) => {
            let format = match args.key_format {
                SimKeyFormat::Hex => KeyFormat::Hex,
                SimKeyFormat::Ascii => KeyFormat::Ascii,
            };
            Some(Key::parse(text, format).map_err(|e| format!("--key: {e}"))?)
        }
    };
    let heartbeat = if args.heartbeat == 0.0 {
        None
    } else {
        Some(secs("heartbeat", args.heartbeat, 1.0, 86_400.0)?)
    };
    let rate = args.rate.unwrap_or(f64::from(args.panels) / 10.0);
    if !rate.is_finite() || !(0.0..=10_000_000.0).contains(&rate) {
        return Err(format!(
            "--rate {rate}: must be between 0 and 10000000 events per second"
        ));
    }
    if !args.connect_rate.is_finite() || !(1.0..=1_000_000.0).contains(&args.connect_rate) {
        return Err(format!(
            "--connect-rate {}: must be between 1 and 1000000 connections per second",
            args.connect_rate
        ));
    }
    if args.retries > 100 {
        return Err(format!("--retries {}: at most 100", args.retries));
    }
    check_prefix(&args.account_prefix)?;
    if let Some(p) = &args.password {
        if let Err(rule) = panel_proto::build::check_hb_password(p) {
            return Err(format!("--password: {rule}"));
        }
    }
    if let Some(r) = &args.receiver_number {
        if args.dialect == SimDialect::Hb {
            return Err("--receiver-number: Hengbo (hb) panels send their own R123ABC".into());
        }
        if !(1..=6).contains(&r.len()) || !r.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "--receiver-number {r:?}: must be 1 to 6 hex digits"
            ));
        }
    }
    let source_ips = match &args.source_ips {
        None => Vec::new(),
        Some(text) => parse_source_ips(text)?,
    };
    if source_ips
        .first()
        .is_some_and(|ip| !target.is_ipv4() && ip.is_ipv4())
    {
        return Err(format!(
            "--source-ips: IPv4 source addresses cannot reach the IPv6 target {target}"
        ));
    }
    let duration = secs("duration", args.duration, 0.1, 7.0 * 86_400.0)?;
    let warmup = secs("warmup", args.warmup, 0.0, 7.0 * 86_400.0)?;
    if warmup >= duration {
        return Err(format!(
            "--warmup {}: must be shorter than --duration {}",
            args.warmup, args.duration
        ));
    }
    Ok(Settings {
        target,
        targets,
        panels: args.panels,
        dialect: match args.dialect {
            SimDialect::Hb => Dialect::Hb,
            SimDialect::Dc09Cid => Dialect::Cid,
            SimDialect::Dc09Sia => Dialect::Sia,
        },
        key,
        udp: args.udp,
        heartbeat,
        rate,
        duration,
        warmup,
        source_ips,
        json: args.json,
        account_prefix: args.account_prefix.clone(),
        ack_timeout: secs("ack-timeout", args.ack_timeout, 0.01, 3600.0)?,
        connect_rate: args.connect_rate,
        retries: args.retries,
        password: args.password.clone(),
        receiver: args.receiver_number.clone(),
    })
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    let mut addrs = target
        .to_socket_addrs()
        .map_err(|e| format!("--target {target:?}: {e} (expected HOST:PORT)"))?;
    addrs
        .next()
        .ok_or_else(|| format!("--target {target:?}: the name has no address"))
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    if let Some(c) = prefix
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '[' | ']' | '|' | '"' | '#'))
    {
        return Err(format!(
            "--account-prefix {prefix:?}: {c:?} is not allowed in an account (printable ASCII \
             without spaces and [ ] | \" #)"
        ));
    }
    // Panel numbers have 6 digits, 7 for the millionth panel.
    if prefix.len() + 7 > MAX_ACCOUNT_LEN {
        return Err(format!(
            "--account-prefix {prefix:?}: at most {} characters (accounts are at most \
             {MAX_ACCOUNT_LEN})",
            MAX_ACCOUNT_LEN - 7
        ));
    }
    Ok(())
}

/// `A-B` (inclusive IPv4 range) or a single address.
pub(crate) fn parse_source_ips(text: &str) -> Result<Vec<IpAddr>, String> {
    let bad = |why: &str| {
        format!("--source-ips {text:?}: {why} (expected FIRST-LAST, e.g. 127.0.0.2-127.0.0.40)")
    };
    let Some((a, b)) = text.split_once('-') else {
        let ip: IpAddr = text.trim().parse().map_err(|_| bad("not an IP address"))?;
        return Ok(vec![ip]);
    };
    let a: Ipv4Addr = a
        .trim()
        .parse()
        .map_err(|_| bad("the first address is not IPv4"))?;
    let b: Ipv4Addr = b
        .trim()
        .parse()
        .map_err(|_| bad("the last address is not IPv4"))?;
    let (lo, hi) = (u32::from(a), u32::from(b));
    if lo > hi {
        return Err(bad("the first address is after the last"));
    }
    if hi - lo >= MAX_SOURCE_IPS {
        return Err(bad("more than 65536 addresses"));
    }
    Ok((lo..=hi).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn source_ip_ranges_parse_inclusively_and_reject_nonsense() {
        let v = parse_source_ips("127.0.0.2-127.0.0.40").unwrap();
        assert_eq!(v.len(), 39);
        assert_eq!(v[0], "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(v[38], "127.0.0.40".parse::<IpAddr>().unwrap());
        assert_eq!(parse_source_ips("127.0.0.9").unwrap().len(), 1);
        for bad in [
            "127.0.0.9-127.0.0.1",
            "x-127.0.0.1",
            "127.0.0.1-",
            "10.0.0.0-10.2.0.0",
        ] {
            let e = parse_source_ips(bad).unwrap_err();
            assert!(e.contains("--source-ips"), "{e}");
        }
    }

    #[test]
    fn prefixes_with_forbidden_or_too_many_characters_are_refused() {
        assert!(check_prefix("SIM").is_ok());
        assert!(check_prefix("A").is_ok());
        assert!(check_prefix("S M").is_err());
        assert!(check_prefix("S#").is_err());
        assert!(check_prefix(&"X".repeat(26)).is_err());
        assert!(check_prefix(&"X".repeat(25)).is_ok());
    }
}
