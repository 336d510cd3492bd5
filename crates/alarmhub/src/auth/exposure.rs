//! When access control and TLS are needed: `[auth] required = "auto"` turns access control
//! on as soon as an API listener (gRPC or HTTP) binds a non-loopback address, and such a
//! listener without TLS refuses to start unless `insecure` is set — then it is logged as a
//! warning at start and every hour.

use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, Required};

/// How often the insecure warning repeats.
const INSECURE_WARNING_EVERY: Duration = Duration::from_secs(3600);

/// The API listeners by config key.
fn api_listeners(c: &Config) -> [(&'static str, SocketAddr); 2] {
    [
        ("grpc.listen", c.grpc.listen),
        ("http.listen", c.http.listen),
    ]
}

/// The first API listener not on a loopback address (the wildcard `0.0.0.0` is not one).
fn exposed(c: &Config) -> Option<(&'static str, SocketAddr)> {
    api_listeners(c)
        .into_iter()
        .find(|(_, a)| !a.ip().is_loopback())
}

/// Whether callers must authenticate under this configuration.
pub fn enabled(c: &Config) -> bool {
    match c.auth.required {
        Required::Always => true,
        Required::Never => false,
        Required::Auto => exposed(c).is_some(),
    }
}

/// Refuse a non-loopback API listener without TLS (unless `[auth] insecure`), naming the
/// listener and the fix. Runs before anything binds.
pub fn check(c: &Config) -> Result<(), String> {
    let Some((name, addr)) = exposed(c) else {
        return Ok(());
    };
    if c.tls.enabled() || c.auth.insecure {
        return Ok(());
    }
    Err(format!(
        "{name} = {addr} is not a loopback address and TLS is not configured: tokens and \
         alarm data would cross the network in clear. Set [tls] cert and key (or --tls-cert \
         and --tls-key), bind {name} to 127.0.0.1, or pass --insecure ([auth] insecure = \
         true) to serve without TLS anyway"
    ))
}

/// Log what is exposed how; with `insecure` on a non-loopback listener, warn now and every
/// hour until `cancel`.
pub fn announce(c: &Config, cancel: CancellationToken) {
    let on = enabled(c);
    tracing::info!(
        access_control = on,
        tls = c.tls.enabled(),
        mutual_tls = c.tls.client_ca.is_some(),
        compat_anonymous = ?c.auth.compat_anonymous,
        "API access"
    );
    let Some((name, addr)) = exposed(c) else {
        return;
    };
    if !on {
        tracing::warn!(listener = name, %addr, "access control is OFF ([auth] required = false) on a non-loopback listener: anyone who reaches it may disarm panels");
    }
    if c.tls.enabled() {
        return;
    }
    let warn = move || {
        tracing::warn!(listener = name, %addr, "serving without TLS on a non-loopback address (--insecure): tokens and alarm data cross the network in clear");
    };
    warn();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(INSECURE_WARNING_EVERY) => warn(),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml: &str) -> Config {
        Config::from_toml_str(toml, "<test>").unwrap()
    }

    #[test]
    fn auto_turns_on_for_any_non_loopback_api_listener() {
        assert!(!enabled(&cfg("")), "defaults are loopback only");
        assert!(enabled(&cfg("[grpc]\nlisten = \"0.0.0.0:50051\"\n")));
        assert!(enabled(&cfg("[http]\nlisten = \"192.0.2.1:8080\"\n")));
        assert!(enabled(&cfg("[auth]\nrequired = true\n")));
        assert!(!enabled(&cfg(
            "[auth]\nrequired = false\n[grpc]\nlisten = \"0.0.0.0:1\"\n"
        )));
        // The panel listener is not an API listener.
        assert!(!enabled(&cfg("[panel]\nlisten = \"0.0.0.0:12345\"\n")));
    }

    #[test]
    fn exposed_without_tls_is_refused_naming_the_listener_and_the_fix() {
        let e = check(&cfg("[grpc]\nlisten = \"0.0.0.0:50051\"\n")).unwrap_err();
        assert!(e.contains("grpc.listen = 0.0.0.0:50051"), "{e}");
        assert!(e.contains("--tls-cert") && e.contains("--insecure"), "{e}");
        assert!(check(&cfg(
            "[grpc]\nlisten = \"0.0.0.0:50051\"\n[auth]\ninsecure = true\n"
        ))
        .is_ok());
        assert!(check(&cfg(
            "[grpc]\nlisten = \"0.0.0.0:50051\"\n[tls]\ncert = \"c\"\nkey = \"k\"\n"
        ))
        .is_ok());
        assert!(check(&cfg("")).is_ok());
    }
}
