//! SIGHUP: reload what can change without a restart. Today that is the TLS certificate,
//! key and client CA (renewed certificates take effect for new connections; open TLS
//! sessions and every panel connection continue). Configuration reload will hook in here as another field of
//! [`Reload`].
//!
//! Without a handler SIGHUP would terminate the daemon, so [`Hangup::install`] runs first
//! thing in `serve`, and [`Hangup::run`] starts answering once the parts exist.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::tls::Tls;

/// What a SIGHUP reloads.
#[derive(Debug, Default, Clone)]
pub struct Reload {
    /// The API listeners' TLS certificate, when TLS is on.
    pub tls: Option<Arc<Tls>>,
}

impl Reload {
    /// Reload everything; failures are logged and leave the old state in use.
    pub fn run(&self) {
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; the old one stays in use")
                }
            }
        }
    }
}

/// The installed SIGHUP handler.
pub struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Hangup {
    /// Install the handler (SIGHUP no longer terminates the process).
    pub fn install() -> std::io::Result<Hangup> {
        Ok(Hangup {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        })
    }

    /// Answer each SIGHUP with `reload` until `cancel`.
    pub fn run(self, reload: Reload, cancel: CancellationToken) {
        #[cfg(unix)]
        {
            let mut signal = self.signal;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        s = signal.recv() => if s.is_none() { return },
                    }
                    tracing::info!("SIGHUP received: reloading");
                    reload.run();
                }
            });
        }
        #[cfg(not(unix))]
        let _ = (reload, cancel);
    }
}
