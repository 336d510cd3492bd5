//! Log setup: readable text by default, JSON lines with `--log-format json` ([`json`]), filters in
//! `RUST_LOG` syntax (`RUST_LOG` wins over the configuration's `log.filter`). Lines go
//! through a bounded non-blocking queue ([`writer`]): logging never blocks the runtime, and
//! a line that finds the queue full is dropped and counted. Colours only when standard
//! error is a terminal. Repeated problems from one source are summarised ([`summary`]).

pub mod json;
pub mod summary;
pub mod writer;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber (once; later calls are ignored). Keep the guard until
/// exit: dropping it waits (briefly) for the queued lines to be written.
pub fn init(format: LogFormat, filter: &str) -> writer::Guard {
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
    let (to, guard) = writer::stderr(writer::QUEUE_LINES);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(to);
    let _ = match format {
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::JsonLine::new())
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
    };
    guard
}
