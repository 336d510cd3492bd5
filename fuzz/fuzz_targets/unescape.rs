//! `escape::unescape` on arbitrary UTF-8 text must return Ok or Err, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use panel_proto::escape::{escape, unescape};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = unescape(text);
    }
    // `escape` output is document notation, which `unescape` reads back exactly as long as
    // the bytes hold no `<` or `\` of their own (those are escape syntax and `escape` leaves
    // them as they are, so e.g. the bytes `<LF>` or `\q` do not survive the round trip).
    if !data.iter().any(|&b| b == b'<' || b == b'\\') {
        let shown = escape(data);
        assert_eq!(unescape(&shown).ok().as_deref(), Some(data), "{shown}");
    }
});
