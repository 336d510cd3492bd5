//! Operating-system limits that decide how many panels fit in one process: open files
//! (`RLIMIT_NOFILE`) and the ephemeral port range.
//!
//! The workspace forbids `unsafe`, so the soft open-file limit is raised to the hard limit
//! with util-linux `prlimit --pid <self>` (same effect as `setrlimit`), and the limits are
//! read back from `/proc/self/limits`. Everything here is best effort: a missing tool or
//! file gives a warning, never a failure.

use std::process::{Command, Stdio};

/// Open files a process needs besides its panels (runtime, stdio, epoll …).
const SPARE_FDS: u64 = 64;

/// The open-file limits: (soft, hard); `u64::MAX` means unlimited.
pub(crate) fn nofile() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line["Max open files".len()..].split_whitespace().map(|w| {
        if w == "unlimited" {
            Some(u64::MAX)
        } else {
            w.parse().ok()
        }
    });
    Some((nums.next()??, nums.next()??))
}

/// Raise the soft open-file limit to the hard limit; returns the soft limit in effect and
/// warnings for the user (limit below what `panels` need, range of ports too small).
pub(crate) fn prepare(panels: u32, source_ips: usize, udp: bool) -> (Option<u64>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut soft = None;
    if let Some((s, hard)) = nofile() {
        soft = Some(s);
        if s < hard {
            let value = if hard == u64::MAX {
                "unlimited".to_string()
            } else {
                hard.to_string()
            };
            let ok = Command::new("prlimit")
                .arg(format!("--pid={}", std::process::id()))
                .arg(format!("--nofile={value}:{value}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|st| st.success());
            soft = nofile().map(|(s, _)| s);
            if !ok {
                warnings.push(format!(
                    "could not raise the open-file limit from {s} to {value} (is util-linux \
                     `prlimit` installed?); raise it with `ulimit -n {value}`"
                ));
            }
        }
        let need = u64::from(panels) + SPARE_FDS;
        if let Some(s) = soft.filter(|s| *s < need) {
            warnings.push(format!(
                "the open-file limit is {s} (hard limit {hard}) but {panels} panels need about \
                 {need}: at most ~{} panels can be connected at once; raise the hard limit \
                 (e.g. `ulimit -Hn {need}` as root, or LimitNOFILE=)",
                s.saturating_sub(SPARE_FDS)
            ));
        }
    }
    if !udp {
        if let Some(ports) = ephemeral_ports() {
            let per_ip = u64::from(panels).div_ceil(source_ips.max(1) as u64);
            if per_ip > ports {
                warnings.push(format!(
                    "{per_ip} connections per source address but only {ports} ephemeral ports; \
                     spread them with --source-ips (e.g. 127.0.0.2-127.0.0.40)"
                ));
            }
        }
    }
    (soft, warnings)
}

/// The size of the ephemeral port range, from `/proc/sys/net/ipv4/ip_local_port_range`.
fn ephemeral_ports() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    Some(hi.saturating_sub(lo) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let (soft, hard) = nofile().unwrap_or((0, 0));
            assert!(soft > 0 && soft <= hard);
        }
    }
}
