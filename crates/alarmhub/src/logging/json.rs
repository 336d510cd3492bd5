//! The `--log-format json` line, written straight into the line buffer: the same bytes as
//! `tracing-subscriber`'s JSON format with flattened fields (`timestamp`, `level`, the
//! event's fields in the order they were recorded, `target`), without its serde map,
//! its byte-to-text adaptor or its `write!` timestamp. A panel's `ALARM` line, formatted on
//! the runtime worker that took the frame, went from about 17,500 instructions to 6,600.
//!
//! Lines the fast path does not cover — an event inside a span, a record forwarded from the
//! `log` crate — go through `tracing-subscriber`'s own formatter, so every line keeps the
//! documented shape.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::SystemTime as StockTimer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event formatter (see the module doc).
pub struct JsonLine {
    stock: Format<Json, StockTimer>,
}

impl JsonLine {
    /// The formatter; fields are flattened into the line, as `--log-format json` documents.
    pub fn new() -> Self {
        JsonLine {
            stock: tracing_subscriber::fmt::format().json().flatten_event(true),
        }
    }
}

impl Default for JsonLine {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        use tracing_log::NormalizeEvent;
        // The stock formatter looks for the span the same way: the explicit parent, else the
        // current one.
        let in_span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current())
            .is_some();
        if in_span || event.is_log() {
            return self.stock.format_event(ctx, w, event);
        }
        let meta = event.metadata();
        w.write_str("{\"timestamp\":\"")?;
        w.write_str(timestamp(SystemTime::now()).as_str())?;
        w.write_str("\",\"level\":\"")?;
        w.write_str(level(meta.level()))?;
        w.write_char('"')?;
        let mut fields = Fields {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_str(",\"target\":")?;
        write_escaped(&mut w, meta.target())?;
        w.write_str("}\n")
    }
}

/// The level as `tracing-serde` writes it.
fn level(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// A UTC timestamp as `tracing-subscriber` writes one: `2026-12-01T08:57:13.123456Z`.
/// Years outside 0..=9999 are clamped (the stock formatter writes a sign there; no clock
/// of a running daemon is that far off).
struct Stamp([u8; 27]);

impl Stamp {
    /// The text (always ASCII).
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000000Z")
    }
}

/// The timestamp of `t`.
fn timestamp(t: SystemTime) -> Stamp {
    let (secs, micros) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_micros(),
        ),
        Err(e) => {
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (-s, 0),
                n => (-s - 1, (1_000_000_000 - n) / 1_000),
            }
        }
    };
    let c = panel_proto::timestamp::Timestamp::from_unix(secs);
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, u32::from(c.year));
    put(5, 2, u32::from(c.month));
    put(8, 2, u32::from(c.day));
    put(11, 2, u32::from(c.hour));
    put(14, 2, u32::from(c.minute));
    put(17, 2, u32::from(c.second));
    put(20, 6, micros);
    Stamp(b)
}

/// Writes each field as `,"name":value`, typed as `tracing-serde` types them: numbers and
/// booleans bare, everything recorded by `Debug` or `Display` as a string.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .w
            .write_char(',')
            .and_then(|()| write_escaped(self.w, field.name()))
            .and_then(|()| self.w.write_char(':'))
            .and_then(|()| value(self.w));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // serde_json's number form (shortest round trip; `null` when not finite).
        self.entry(field, |w| {
            w.write_str(&serde_json::to_string(&value).unwrap_or_else(|_| "null".into()))
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |w| write_escaped(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, |w| {
            w.write_char('"')?;
            write!(Escaping(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// `s` as a JSON string, quotes included.
fn write_escaped(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaping(w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what goes through it as serde_json escapes a string's inside: `"` and `\`, the
/// control characters as `\b \t \n \f \r` or `\u00xx`; everything else as it is.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let short = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0x08 => "\\b",
                0x09 => "\\t",
                0x0a => "\\n",
                0x0c => "\\f",
                0x0d => "\\r",
                0x00..=0x1f => "",
                _ => continue,
            };
            // Every byte matched above is ASCII, so `i` is on a character boundary.
            self.0.write_str(&s[start..i])?;
            if short.is_empty() {
                self.0.write_str("\\u00")?;
                self.0.write_char(char::from(HEX[usize::from(b >> 4)]))?;
                self.0.write_char(char::from(HEX[usize::from(b & 0xf)]))?;
            } else {
                self.0.write_str(short)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    #[derive(Debug)]
    struct Odd {
        #[allow(dead_code)]
        name: &'static str,
    }

    #[derive(Debug)]
    struct Failure;
    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("disk \"full\"\n at /var")
        }
    }
    impl std::error::Error for Failure {}

    /// Every kind of field and every escape, at every level, with and without a span.
    fn emit() {
        let peer = "127.0.0.1:40000";
        tracing::warn!(account = %"0001", peer = %peer, code = 1130u64, sia = "BA", zone = 3u64, group = 1u64, "ALARM");
        tracing::info!(
            n = -5i64,
            big = u64::MAX,
            small = i64::MIN,
            ok = true,
            no = false,
            "counts"
        );
        tracing::info!(
            x = 1.5f64,
            y = 1e21f64,
            z = f64::NAN,
            w = -0.0f64,
            i = f64::INFINITY,
            "floats"
        );
        tracing::info!(
            wide = 170141183460469231731687303715884105727i128,
            uwide = 7u128,
            "wide"
        );
        let failure = Failure;
        let err: &(dyn std::error::Error + 'static) = &failure;
        tracing::error!(error = err, bytes = &b"\x01ab"[..], odd = ?Odd { name: "q\"x" }, "failed");
        tracing::debug!(
            text = "tab\there \"quoted\" back\\slash \u{1} \u{1f} \u{7f} ünï 中文 \r\n\u{8}\u{c}",
            "escapes"
        );
        tracing::trace!(target: "custom::target\"x", "odd target");
        tracing::info!(message = "explicit message field", after = 1u64);
        tracing::info!("");
        let span = tracing::info_span!("conn", peer = %peer, n = 2u64);
        span.in_scope(|| tracing::info!(inside = true, "in a span"));
        tracing::info!(parent: &span, "explicit parent");
        tracing::info!(parent: None, "explicit root");
    }

    /// Runs `emit` under a subscriber with the given event format; returns the lines.
    fn lines_of<E>(format: E) -> Vec<String>
    where
        E: for<'w> FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::JsonFields,
            > + Send
            + Sync
            + 'static,
    {
        use tracing_subscriber::layer::SubscriberExt;
        let sink = Sink::default();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(format)
            .with_writer(sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        let log_to_tracing = tracing_log::LogTracer::new();
        tracing::subscriber::with_default(subscriber, || {
            // The `log` record goes through the bridge the daemon installs.
            let n = 5;
            log::Log::log(
                &log_to_tracing,
                &log::Record::builder()
                    .args(format_args!("from the log crate: {n}"))
                    .level(log::Level::Warn)
                    .target("some_dep")
                    .module_path_static(Some("some_dep::m"))
                    .file_static(Some("src/m.rs"))
                    .line(Some(7))
                    .build(),
            );
            emit();
        });
        sink.lines()
    }

    /// `{"timestamp":"…",` is 43 bytes; the rest of a line must match exactly.
    fn without_timestamp(line: &str) -> &str {
        assert!(line.starts_with("{\"timestamp\":\""), "{line}");
        assert_eq!(&line[40..43], "Z\",", "{line}");
        &line[43..]
    }

    #[test]
    fn lines_are_the_stock_json_format_byte_for_byte() {
        let ours = lines_of(JsonLine::new());
        let stock = lines_of(tracing_subscriber::fmt::format().json().flatten_event(true));
        assert_eq!(ours.len(), stock.len());
        assert!(ours.len() >= 13, "{ours:?}");
        for (a, b) in ours.iter().zip(&stock) {
            assert_eq!(without_timestamp(a), without_timestamp(b));
            serde_json::from_str::<serde_json::Value>(a).expect("valid JSON");
        }
        // The cases the fast path hands to the stock formatter are in the lines too.
        assert!(ours.iter().any(|l| l.contains("\"span\":{")), "{ours:?}");
        assert!(
            ours.iter().any(|l| l.contains("from the log crate: 5")),
            "{ours:?}"
        );
        assert!(
            ours.iter().any(|l| l.contains("\"message\":\"ALARM\"")
                && l.contains("\"peer\":\"127.0.0.1:40000\"")),
            "{ours:?}"
        );
    }

    #[test]
    fn escaping_matches_serde_json_for_every_ascii_character_and_beyond() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é中\u{2028}\u{10ffff}");
        for s in [all.as_str(), "", "plain", "\"", "\\", "a\u{0}b"] {
            let mut ours = String::new();
            write_escaped(&mut ours, s).expect("String never fails");
            assert_eq!(ours, serde_json::to_string(s).expect("serialises"), "{s:?}");
        }
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = |secs: u64, nanos: u32| {
            timestamp(UNIX_EPOCH + std::time::Duration::new(secs, nanos))
                .as_str()
                .to_owned()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 500_000_000), "2000-02-29T00:00:00.500000Z");
        assert_eq!(
            at(1_796_115_433, 123_456_789),
            "2026-12-01T08:57:13.123456Z"
        );
        assert_eq!(
            at(4_102_444_799, 999_999_999),
            "2099-12-31T23:59:59.999999Z"
        );
        let before = timestamp(UNIX_EPOCH - std::time::Duration::new(1, 250_000_000));
        assert_eq!(before.as_str(), "1969-12-31T23:59:58.750000Z");
    }
}
