//! systemd integration: readiness and stopping notifications, and the watchdog — pinged at
//! half the configured interval, but only while the store's writer is alive, so a stuck
//! writer stops the pings and systemd restarts the service. Without systemd (no
//! `NOTIFY_SOCKET`, no `WATCHDOG_USEC`) every call here does nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Tell systemd the service is ready (every listener bound, the registry restored).
pub fn notify_ready() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

/// Tell systemd the service is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}

/// Ping the watchdog until `cancel`, while the store is healthy. Returns at once when
/// systemd asked for no watchdog.
pub async fn watchdog_loop(store: Arc<dyn Store>, cancel: CancellationToken) {
    let Some(usec) = watchdog_usec() else { return };
    let interval = Duration::from_micros(usec / 2);
    let max_silence = Duration::from_micros(usec / 2).max(Duration::from_secs(2));
    let mut stopped = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if store.is_healthy(max_silence) {
            if stopped {
                tracing::info!("store writer healthy again; watchdog pings resume");
                stopped = false;
            }
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        } else if !stopped {
            tracing::error!(
                "store writer stuck; withholding watchdog pings so systemd restarts alarmhub"
            );
            stopped = true;
        }
    }
}

/// The watchdog interval systemd asks for, as libsystemd's `sd_watchdog_enabled` reads it:
/// `WATCHDOG_USEC` set, and `WATCHDOG_PID` either absent or this process.
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then_some(usec)
}
