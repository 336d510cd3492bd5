//! Log setup: readable text by default, JSON lines with `--log-format json`, filters in
//! `RUST_LOG` syntax (`RUST_LOG` wins over the configuration's `log.filter`).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber (once; later calls are ignored).
pub fn init(format: LogFormat, filter: &str) {
    // An empty RUST_LOG counts as unset (otherwise it would silence everything).
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(EnvFilter::try_new);
    let filter = match from_env {
        Some(Ok(f)) => Ok(f),
        _ => EnvFilter::try_new(filter),
    }
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
