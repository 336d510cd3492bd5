//! Text ↔ bytes for frames pasted from logs and documents: `<LF>`, `<CR>`, `<XX>` (one raw
//! byte in hex), `\n`, `\r`, `\\`, `\xXX`. Used by `alarmhub decode` and the test vectors.

use crate::error::{Error, Result};

fn hex_byte(b: &[u8]) -> Option<u8> {
    let hi = char::from(*b.first()?).to_digit(16)?;
    let lo = char::from(*b.get(1)?).to_digit(16)?;
    Some((hi * 16 + lo) as u8)
}

/// Turn escaped text into bytes. Unknown `<…>` sequences are kept literally; a backslash
/// followed by anything other than `n`, `r`, `t`, `\`, `0` or `xXX` is an error naming the
/// offset.
pub fn unescape(text: &str) -> Result<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let rest = &b[i..];
                if rest.starts_with(b"<LF>") {
                    out.push(b'\n');
                    i += 4;
                } else if rest.starts_with(b"<CR>") {
                    out.push(b'\r');
                    i += 4;
                } else if rest.len() >= 4 && rest[3] == b'>' && hex_byte(&rest[1..3]).is_some() {
                    out.push(hex_byte(&rest[1..3]).unwrap_or_default());
                    i += 4;
                } else {
                    out.push(b'<');
                    i += 1;
                }
            }
            b'\\' => {
                let (byte, used) = match b.get(i + 1) {
                    Some(b'n') => (b'\n', 2),
                    Some(b'r') => (b'\r', 2),
                    Some(b't') => (b'\t', 2),
                    Some(b'0') => (0, 2),
                    Some(b'\\') => (b'\\', 2),
                    Some(b'x') => match b.get(i + 2..i + 4).and_then(hex_byte) {
                        Some(v) => (v, 4),
                        None => {
                            return Err(Error::BadField {
                                field: "escape",
                                offset: i,
                                reason: "`\\x` needs two hex digits".into(),
                            })
                        }
                    },
                    _ => {
                        return Err(Error::BadField {
                            field: "escape",
                            offset: i,
                            reason: "unknown backslash escape (use \\n \\r \\t \\0 \\\\ \\xHH)"
                                .into(),
                        })
                    }
                };
                out.push(byte);
                i += used;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Show bytes in the document notation: printable ASCII as is, LF/CR as `<LF>`/`<CR>`,
/// anything else as `<XX>`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'\n' => s.push_str("<LF>"),
            b'\r' => s.push_str("<CR>"),
            0x20..=0x7E => s.push(char::from(b)),
            _ => s.push_str(&format!("<{b:02X}>")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_notation_round_trips() {
        let t = "<LF>ab<00><06>123<EB>?<CR>";
        let b = unescape(t).unwrap();
        assert_eq!(b, b"\nab\x00\x06123\xEB?\r");
        assert_eq!(escape(&b), t);
    }

    #[test]
    fn backslash_escapes_are_understood_and_bad_ones_named() {
        assert_eq!(unescape(r"\nA\r\x41\\").unwrap(), b"\nA\rA\\");
        assert!(matches!(
            unescape(r"ab\q"),
            Err(Error::BadField { offset: 2, .. })
        ));
        assert!(unescape(r"\x4").is_err());
    }

    #[test]
    fn unknown_angle_text_is_kept() {
        assert_eq!(unescape("<foo>").unwrap(), b"<foo>");
    }
}
