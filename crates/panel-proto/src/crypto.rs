//! DC-09 encryption (protocol.md §1.10): AES-128/192/256 in CBC mode with a zero IV and the
//! DC-09 pad, ciphertext carried as hex text.
//!
//! This module owns:
//!
//! * keys: [`Key`] parsed from configuration text as hex digits or as ASCII bytes
//!   ([`KeyFormat`]), 16/24/32 bytes selecting AES-128/192/256;
//! * encryption: [`encrypt_hex`] / [`encrypt_hex_into`] prepend 1..16 pad bytes to the body and
//!   write the ciphertext as upper-case hex;
//! * decryption: [`decrypt_hex`] turns hex text back into plaintext bytes;
//! * validation: [`validate_plaintext`] checks the pad, the `|` / `]` marker and the trailing
//!   timestamp shape, which is how a wrong key (or the wrong key format) is detected;
//!   [`open`] does both.
//!
//! It does not know frames: the caller cuts the encrypted region out of a frame (everything
//! after the data block's `[` up to CR) and parses the plaintext afterwards.

use std::fmt;
use std::str::FromStr;

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

use crate::error::{Error, Result};

/// AES block size in bytes; also the maximum pad length.
const BLOCK: usize = 16;

/// Length of a DC-09 timestamp `_HH:MM:SS,MM-DD-YYYY`.
const TIMESTAMP_LEN: usize = 20;

/// How the key text in configuration is interpreted.
///
/// The DC-09 Annex B.4 example hex-decodes its key; pysiaalarm (and so Home Assistant) uses
/// the key string's ASCII bytes. A 32-character key is valid in both formats (AES-128 as hex,
/// AES-256 as ASCII), so the format is a per-account setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// The key text is hex digits (either case): 32/48/64 digits → AES-128/192/256.
    #[default]
    Hex,
    /// The key text's bytes are the key: 16/24/32 bytes → AES-128/192/256.
    Ascii,
}

impl KeyFormat {
    /// The configuration spelling of this format: `"hex"` or `"ascii"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyFormat::Hex => "hex",
            KeyFormat::Ascii => "ascii",
        }
    }
}

impl FromStr for KeyFormat {
    type Err = String;

    /// Parses `"hex"` or `"ascii"`, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("hex") {
            Ok(KeyFormat::Hex)
        } else if t.eq_ignore_ascii_case("ascii") {
            Ok(KeyFormat::Ascii)
        } else {
            Err(format!(
                "unknown key format {s:?}; expected \"hex\" or \"ascii\""
            ))
        }
    }
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The raw key bytes, one variant per AES key size, so that building a cipher cannot fail.
#[derive(Clone, PartialEq, Eq)]
enum KeyBytes {
    Aes128([u8; 16]),
    Aes192([u8; 24]),
    Aes256([u8; 32]),
}

/// An AES key. Debug prints only the length (e.g. `Key(AES-128, ****)`), never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    bytes: KeyBytes,
}

impl Key {
    /// Parse key text from configuration.
    ///
    /// * [`KeyFormat::Hex`]: 32, 48 or 64 hex digits, either case, nothing else (no spaces,
    ///   no `0x`).
    /// * [`KeyFormat::Ascii`]: the text's bytes are the key; it must be 16, 24 or 32 bytes.
    ///
    /// The text is used as given (not trimmed). Error messages never contain key material.
    pub fn parse(text: &str, format: KeyFormat) -> Result<Key> {
        match format {
            KeyFormat::Ascii => {
                let n = text.len();
                if matches!(n, 16 | 24 | 32) {
                    Key::from_bytes(text.as_bytes())
                } else {
                    Err(Error::BadKey(format!(
                        "ASCII key has {n} bytes; need 16, 24 or 32"
                    )))
                }
            }
            KeyFormat::Hex => {
                let digits = text.as_bytes();
                if let Some(i) = digits.iter().position(|&b| hex_value(b).is_none()) {
                    return Err(Error::BadKey(format!(
                        "hex key character {i} is not a hex digit (is the key meant as ASCII?)"
                    )));
                }
                let n = digits.len();
                if !matches!(n, 32 | 48 | 64) {
                    let hint = if matches!(n, 16 | 24) {
                        " (a key of this length would be valid as ASCII)"
                    } else {
                        ""
                    };
                    return Err(Error::BadKey(format!(
                        "key has {n} hex digits; need 32, 48 or 64{hint}"
                    )));
                }
                let mut buf = [0u8; 32];
                let len = n / 2;
                for (dst, pair) in buf.iter_mut().zip(digits.chunks_exact(2)) {
                    *dst = hex_pair(pair);
                }
                Key::from_bytes(&buf[..len])
            }
        }
    }

    /// Make a key from raw bytes: 16, 24 or 32 bytes → AES-128, AES-192 or AES-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key> {
        let bytes = if let Ok(b) = <[u8; 16]>::try_from(bytes) {
            KeyBytes::Aes128(b)
        } else if let Ok(b) = <[u8; 24]>::try_from(bytes) {
            KeyBytes::Aes192(b)
        } else if let Ok(b) = <[u8; 32]>::try_from(bytes) {
            KeyBytes::Aes256(b)
        } else {
            return Err(Error::BadKey(format!(
                "key has {} bytes; need 16, 24 or 32",
                bytes.len()
            )));
        };
        Ok(Key { bytes })
    }

    /// The key size in bits: 128, 192 or 256.
    pub fn bits(&self) -> u32 {
        match self.bytes {
            KeyBytes::Aes128(_) => 128,
            KeyBytes::Aes192(_) => 192,
            KeyBytes::Aes256(_) => 256,
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(AES-{}, ****)", self.bits())
    }
}

/// An initialised block cipher for one of the three key sizes.
enum Cipher {
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
}

impl Cipher {
    fn new(key: &Key) -> Cipher {
        match &key.bytes {
            KeyBytes::Aes128(b) => Cipher::Aes128(aes::Aes128::new(b.into())),
            KeyBytes::Aes192(b) => Cipher::Aes192(aes::Aes192::new(b.into())),
            KeyBytes::Aes256(b) => Cipher::Aes256(aes::Aes256::new(b.into())),
        }
    }

    fn encrypt_block(&self, block: &mut [u8; BLOCK]) {
        match self {
            Cipher::Aes128(c) => c.encrypt_block(block.into()),
            Cipher::Aes192(c) => c.encrypt_block(block.into()),
            Cipher::Aes256(c) => c.encrypt_block(block.into()),
        }
    }

    fn decrypt_block(&self, block: &mut [u8; BLOCK]) {
        match self {
            Cipher::Aes128(c) => c.decrypt_block(block.into()),
            Cipher::Aes192(c) => c.decrypt_block(block.into()),
            Cipher::Aes256(c) => c.decrypt_block(block.into()),
        }
    }
}

/// Encrypt `body` (everything that follows the pad: e.g. `b"|#12345A|1130 01 015]_10:20:30,06-01-2024"`
/// or `b"]_10:20:31,06-01-2024"`) with pad bytes taken from `pad_source` (the first n bytes used,
/// where n = 1..16 is the pad length; any `|`, `[`, `]` in them replaced by `0`). Returns the
/// ciphertext as UPPER-case hex text.
///
/// The pad length is chosen so that pad + body is a multiple of 16 bytes; a body that already
/// is one gets 16 pad bytes. Pass random bytes as `pad_source` in production.
pub fn encrypt_hex(key: &Key, body: &[u8], pad_source: &[u8; 16]) -> String {
    let mut out = Vec::new();
    encrypt_hex_into(key, body, pad_source, &mut out);
    // Only ASCII hex digits were written, so this cannot fail; the fallback is never taken.
    String::from_utf8(out).unwrap_or_default()
}

/// Same as [`encrypt_hex`], appending the upper-case hex into `out` (for allocation-free
/// builders). Existing content of `out` is kept.
pub fn encrypt_hex_into(key: &Key, body: &[u8], pad_source: &[u8; 16], out: &mut Vec<u8>) {
    let cipher = Cipher::new(key);
    let pad_len = BLOCK - body.len() % BLOCK;
    let mut pad = [0u8; BLOCK];
    for (dst, &src) in pad.iter_mut().zip(pad_source.iter()) {
        *dst = if matches!(src, b'|' | b'[' | b']') {
            b'0'
        } else {
            src
        };
    }
    let total = pad_len + body.len();
    out.reserve(total * 2);

    // The plaintext is the virtual concatenation pad[..pad_len] ++ body; walk it block by block.
    let mut chain = [0u8; BLOCK]; // IV = 16 zero bytes
    let mut pos = 0;
    while pos < total {
        let mut block = [0u8; BLOCK];
        for (k, b) in block.iter_mut().enumerate() {
            let i = pos + k;
            let plain = if i < pad_len {
                pad[i]
            } else {
                body.get(i - pad_len).copied().unwrap_or(0)
            };
            *b = plain ^ chain[k];
        }
        cipher.encrypt_block(&mut block);
        push_hex(&block, out);
        chain = block;
        pos += BLOCK;
    }
}

/// Decode hex text (upper or lower case) and decrypt it with AES-CBC, zero IV.
///
/// Returns the whole plaintext, pad included. Errors ([`Error::Decrypt`]): empty text, a
/// non-hex character (naming its index), odd length, or a length that is not a multiple of
/// 16 bytes (32 hex digits). The plaintext is not checked; see [`validate_plaintext`] or
/// [`open`].
pub fn decrypt_hex(key: &Key, hex: &[u8]) -> Result<Vec<u8>> {
    if hex.is_empty() {
        return Err(Error::Decrypt("ciphertext is empty".to_owned()));
    }
    if let Some(i) = hex.iter().position(|&b| hex_value(b).is_none()) {
        return Err(Error::Decrypt(format!(
            "ciphertext character {i} ({}) is not a hex digit",
            describe_byte(hex[i])
        )));
    }
    if hex.len() % 2 != 0 {
        return Err(Error::Decrypt(format!(
            "ciphertext has an odd number of hex digits ({})",
            hex.len()
        )));
    }
    if hex.len() % (2 * BLOCK) != 0 {
        return Err(Error::Decrypt(format!(
            "ciphertext length {} is not a multiple of 32 hex digits (16-byte AES blocks)",
            hex.len()
        )));
    }

    let cipher = Cipher::new(key);
    let mut plain = Vec::with_capacity(hex.len() / 2);
    let mut chain = [0u8; BLOCK]; // IV = 16 zero bytes
    for chunk in hex.chunks_exact(2 * BLOCK) {
        let mut block = [0u8; BLOCK];
        for (dst, pair) in block.iter_mut().zip(chunk.chunks_exact(2)) {
            *dst = hex_pair(pair);
        }
        let cipher_block = block;
        cipher.decrypt_block(&mut block);
        plain.extend(block.iter().zip(chain.iter()).map(|(p, c)| p ^ c));
        chain = cipher_block;
    }
    Ok(plain)
}

/// What a validated plaintext contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plaintext {
    /// Number of pad bytes at the start (1..16).
    pub pad_len: usize,
    /// What follows the pad.
    pub kind: PlaintextKind,
}

/// The kind of content after the pad of a decrypted plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextKind {
    /// `|` after the pad: an event data block follows.
    Event,
    /// `]` after the pad: NULL / ACK, only a timestamp follows.
    Empty,
}

/// Validate a decrypted plaintext: 1..16 pad bytes not in `|[]`, then `|` or `]`, and it must
/// end with a well-shaped 20-char timestamp `_DD:DD:DD,DD-DD-DDDD` (digits where D). A wrong
/// key gives garbage, which this rejects.
///
/// Only the shape of the timestamp is checked, not its values or the replay window.
pub fn validate_plaintext(plain: &[u8]) -> Result<Plaintext> {
    let mut found = None;
    for (i, &b) in plain.iter().enumerate().take(BLOCK + 1) {
        match b {
            b'|' | b']' if i == 0 => {
                return Err(Error::Decrypt(format!(
                    "plaintext starts with `{}`: no pad bytes",
                    b as char
                )));
            }
            b'|' => {
                found = Some((i, PlaintextKind::Event));
                break;
            }
            b']' => {
                found = Some((i, PlaintextKind::Empty));
                break;
            }
            b'[' => {
                return Err(Error::Decrypt(format!(
                    "`[` at plaintext byte {i}, inside the pad (wrong key or key format?)"
                )));
            }
            _ => {}
        }
    }
    let Some((pad_len, kind)) = found else {
        return Err(Error::Decrypt(
            "no `|` or `]` after 1..16 pad bytes (wrong key or key format?)".to_owned(),
        ));
    };

    let min_len = pad_len + 1 + TIMESTAMP_LEN;
    if plain.len() < min_len {
        return Err(Error::Decrypt(format!(
            "plaintext has {} bytes, too short for {pad_len} pad bytes, `{}` and a \
             20-character timestamp",
            plain.len(),
            if kind == PlaintextKind::Event {
                '|'
            } else {
                ']'
            }
        )));
    }
    let ts_start = plain.len() - TIMESTAMP_LEN;
    check_timestamp_shape(&plain[ts_start..], ts_start)?;
    Ok(Plaintext { pad_len, kind })
}

/// Try to decrypt with `key`; on failure of [`validate_plaintext`], return the error.
/// Convenience: [`decrypt_hex`] + [`validate_plaintext`].
///
/// On success returns the whole plaintext (pad included) and its layout.
pub fn open(key: &Key, hex: &[u8]) -> Result<(Vec<u8>, Plaintext)> {
    let plain = decrypt_hex(key, hex)?;
    let info = validate_plaintext(&plain)?;
    Ok((plain, info))
}

/// Check that `ts` (20 bytes) has the shape `_DD:DD:DD,DD-DD-DDDD`. `offset` is where it starts
/// in the plaintext, for the error message.
fn check_timestamp_shape(ts: &[u8], offset: usize) -> Result<()> {
    const SHAPE: &[u8; TIMESTAMP_LEN] = b"_DD:DD:DD,DD-DD-DDDD";
    for (k, (&b, &want)) in ts.iter().zip(SHAPE.iter()).enumerate() {
        let ok = if want == b'D' {
            b.is_ascii_digit()
        } else {
            b == want
        };
        if !ok {
            let expected = if want == b'D' {
                "a digit".to_owned()
            } else {
                format!("`{}`", want as char)
            };
            return Err(Error::Decrypt(format!(
                "plaintext does not end with a timestamp `_HH:MM:SS,MM-DD-YYYY`: byte {} is {}, \
                 expected {expected} (wrong key or key format?)",
                offset + k,
                describe_byte(b)
            )));
        }
    }
    Ok(())
}

/// The value of one hex digit (either case), or `None`.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte written by two hex digits. Callers check the digits first; anything that is not
/// a hex digit (or a missing digit) counts as 0.
fn hex_pair(pair: &[u8]) -> u8 {
    let digit = |i: usize| pair.get(i).copied().and_then(hex_value).unwrap_or(0);
    (digit(0) << 4) | digit(1)
}

/// Append `bytes` as upper-case hex to `out`.
fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0F)]);
    }
}

/// A byte for an error message: printable ASCII as `'c'`, anything else as `0xNN`.
fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02X}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TS: &[u8] = b"_10:20:30,06-01-2024";

    fn hex_key(text: &str) -> Key {
        Key::parse(text, KeyFormat::Hex).unwrap()
    }

    fn ascii_key(text: &str) -> Key {
        Key::parse(text, KeyFormat::Ascii).unwrap()
    }

    fn decrypt_err(key: &Key, hex: &[u8]) -> String {
        match decrypt_hex(key, hex) {
            Err(Error::Decrypt(msg)) => msg,
            other => panic!("expected Error::Decrypt, got {other:?}"),
        }
    }

    fn validate_err(plain: &[u8]) -> String {
        match validate_plaintext(plain) {
            Err(Error::Decrypt(msg)) => msg,
            other => panic!("expected Error::Decrypt, got {other:?}"),
        }
    }

    fn key_err(text: &str, format: KeyFormat) -> String {
        match Key::parse(text, format) {
            Err(Error::BadKey(msg)) => msg,
            other => panic!("expected Error::BadKey, got {other:?}"),
        }
    }

    #[test]
    fn annex_b4_example_decrypts_with_the_hex_decoded_key() {
        let key = hex_key("0123456789ABCDEF0123456789ABCDEF");
        assert_eq!(key.bits(), 128);
        let hex = b"209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1";
        let (plain, info) = open(&key, hex).unwrap();
        assert_eq!(plain, b"ppppppppppppp|12345A|NFA129]_13:14:15,02-15-2006");
        assert_eq!(
            info,
            Plaintext {
                pad_len: 13,
                kind: PlaintextKind::Event
            }
        );
    }

    #[test]
    fn annex_b4_example_fails_validation_with_the_key_text_as_ascii_bytes() {
        let key = ascii_key("0123456789ABCDEF0123456789ABCDEF");
        assert_eq!(key.bits(), 256);
        let hex = b"209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1";
        assert!(matches!(open(&key, hex), Err(Error::Decrypt(_))));
    }

    #[test]
    fn pysiaalarm_null_decrypts_with_an_ascii_key() {
        let key = ascii_key("AAAAAAAAAAAAAAAA");
        assert_eq!(key, Key::from_bytes(&[0x41; 16]).unwrap());
        let hex = b"B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9";
        let (plain, info) = open(&key, hex).unwrap();
        assert_eq!(plain, b"ppppppppppp]_18:24:52,07-05-2020");
        assert_eq!(
            info,
            Plaintext {
                pad_len: 11,
                kind: PlaintextKind::Empty
            }
        );
    }

    #[test]
    fn constructed_adm_cid_event_decrypts_and_re_encrypts_identically() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        let hex = "2F8D4528FCF14D3E25815AA2AC5770C2A5DCE428A04131B9F81D42740A176793C9F2A0D35D4B99B55499BFFBCA4048CF";
        let (plain, info) = open(&key, hex.as_bytes()).unwrap();
        assert_eq!(plain, b"ABCDEFG|#12345A|1130 01 015]_10:20:30,06-01-2024");
        assert_eq!(info.pad_len, 7);
        assert_eq!(info.kind, PlaintextKind::Event);

        let body = b"|#12345A|1130 01 015]_10:20:30,06-01-2024";
        assert_eq!(encrypt_hex(&key, body, b"ABCDEFGHIJKLMNOP"), hex);
    }

    #[test]
    fn constructed_encrypted_ack_decrypts_and_re_encrypts_identically() {
        let key = hex_key("000102030405060708090a0b0c0d0e0f");
        let hex = "1BBE60A9088EFDF3BB51EC087BFA60B8EEF3FA64DB8CB77ABEBC8E41877552CC";
        let (plain, info) = open(&key, hex.as_bytes()).unwrap();
        assert_eq!(plain, b"00000000000]_10:20:31,06-01-2024");
        assert_eq!(
            info,
            Plaintext {
                pad_len: 11,
                kind: PlaintextKind::Empty
            }
        );
        assert_eq!(
            encrypt_hex(&key, b"]_10:20:31,06-01-2024", &[b'0'; 16]),
            hex
        );
    }

    #[test]
    fn ascii_key_event_example_decrypts() {
        let key = ascii_key("AAAAAAAAAAAAAAAA");
        let hex = b"EEAA98E329A15FDD67D6C80A41AA77E3429B01F859B6775F1AA0DBFC12FEE86756905BC8F4F65104763441842105DBA5";
        let (plain, info) = open(&key, hex).unwrap();
        assert_eq!(plain, b"ABCDEFGHI|#1111|1130 01 015]_10:20:30,06-01-2024");
        assert_eq!(
            info,
            Plaintext {
                pad_len: 9,
                kind: PlaintextKind::Event
            }
        );
    }

    #[test]
    fn lower_case_ciphertext_decrypts_like_upper_case() {
        let key = ascii_key("AAAAAAAAAAAAAAAA");
        let upper = "B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9";
        let lower = upper.to_ascii_lowercase();
        assert_eq!(
            decrypt_hex(&key, upper.as_bytes()).unwrap(),
            decrypt_hex(&key, lower.as_bytes()).unwrap()
        );
    }

    #[test]
    fn aes_192_and_aes_256_round_trip_with_both_key_formats() {
        let keys = [
            (
                hex_key("000102030405060708090A0B0C0D0E0F1011121314151617"),
                192,
            ),
            (
                hex_key("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                256,
            ),
            (ascii_key("abcdefghijklmnopqrstuvwx"), 192),
            (ascii_key("abcdefghijklmnopqrstuvwxyz012345"), 256),
        ];
        let body = b"|#12345A|1130 01 015][Vhttp://x]_10:20:30,06-01-2024";
        for (key, bits) in keys {
            assert_eq!(key.bits(), bits);
            let hex = encrypt_hex(&key, body, b"qwertyuiopasdfgh");
            let (plain, info) = open(&key, hex.as_bytes()).unwrap();
            assert_eq!(&plain[info.pad_len..], body);
            assert_eq!(info.kind, PlaintextKind::Event);
            assert_eq!(plain.len() % 16, 0);
        }
    }

    #[test]
    fn different_key_sizes_give_different_ciphertexts() {
        let body = b"]_10:20:31,06-01-2024";
        let a = encrypt_hex(&ascii_key("0123456789ABCDEF"), body, &[b'x'; 16]);
        let b = encrypt_hex(&ascii_key("0123456789ABCDEF01234567"), body, &[b'x'; 16]);
        let c = encrypt_hex(
            &ascii_key("0123456789ABCDEF0123456789ABCDEF"),
            body,
            &[b'x'; 16],
        );
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
    }

    #[test]
    fn a_body_that_is_already_a_multiple_of_16_gets_16_pad_bytes() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        // 1 + 11 + 20 = 32 bytes.
        let body = b"|#1234|1130]_10:20:30,06-01-2024";
        assert_eq!(body.len(), 32);
        let hex = encrypt_hex(&key, body, b"0123456789abcdef");
        assert_eq!(hex.len(), 2 * 48);
        let (plain, info) = open(&key, hex.as_bytes()).unwrap();
        assert_eq!(info.pad_len, 16);
        assert_eq!(&plain[..16], b"0123456789abcdef");
        assert_eq!(&plain[16..], body);
    }

    #[test]
    fn forbidden_pad_bytes_are_replaced_by_zero_digits() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        let body = b"|#1234|1130]_10:20:30,06-01-2024";
        let hex = encrypt_hex(&key, body, b"|[]a|[]b|[]c|[]d");
        let (plain, info) = open(&key, hex.as_bytes()).unwrap();
        assert_eq!(info.pad_len, 16);
        assert_eq!(&plain[..16], b"000a000b000c000d");
    }

    #[test]
    fn encrypt_hex_into_appends_after_existing_content() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        let body = b"]_10:20:31,06-01-2024";
        let mut out = b"prefix[".to_vec();
        encrypt_hex_into(&key, body, &[b'0'; 16], &mut out);
        assert_eq!(
            out,
            b"prefix[1BBE60A9088EFDF3BB51EC087BFA60B8EEF3FA64DB8CB77ABEBC8E41877552CC"
        );
    }

    #[test]
    fn round_trip_holds_for_every_body_length_up_to_64() {
        let key = hex_key("2B7E151628AED2A6ABF7158809CF4F3C");
        let pad_source = b"PADpadPADpadPADp";
        for len in 0..64 {
            let body: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let hex = encrypt_hex(&key, &body, pad_source);
            assert_eq!(hex.len() % 32, 0, "len {len}");
            assert!(hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
            let plain = decrypt_hex(&key, hex.as_bytes()).unwrap();
            let pad_len = 16 - len % 16;
            assert_eq!(plain.len(), pad_len + len, "len {len}");
            assert_eq!(&plain[..pad_len], &pad_source[..pad_len], "len {len}");
            assert_eq!(&plain[pad_len..], &body[..], "len {len}");

            // A well-formed event body of the same length also validates.
            if len > TS.len() {
                let mut event = vec![b'|'];
                event.resize(len - TS.len(), b'x');
                event.extend_from_slice(TS);
                let hex = encrypt_hex(&key, &event, pad_source);
                let (plain, info) = open(&key, hex.as_bytes()).unwrap();
                assert_eq!(info.pad_len, pad_len, "len {len}");
                assert_eq!(info.kind, PlaintextKind::Event);
                assert_eq!(&plain[pad_len..], &event[..]);
            }
        }
    }

    #[test]
    fn hex_keys_of_the_wrong_length_are_refused_with_the_digit_count() {
        let msg = key_err("0123456789ABCDEF0123456789ABCD", KeyFormat::Hex);
        assert_eq!(msg, "key has 30 hex digits; need 32, 48 or 64");
        let msg = key_err("AAAAAAAAAAAAAAAA", KeyFormat::Hex);
        assert!(msg.contains("16 hex digits"), "{msg}");
        assert!(msg.contains("ASCII"), "{msg}");
        assert!(key_err("", KeyFormat::Hex).contains("0 hex digits"));
    }

    #[test]
    fn hex_keys_with_a_non_hex_character_name_its_position_but_not_the_key() {
        let msg = key_err("0123456789ABCDEG0123456789ABCDEF", KeyFormat::Hex);
        assert!(msg.contains("character 15"), "{msg}");
        assert!(!msg.contains("0123"), "{msg}");
        let msg = key_err(" 0123456789ABCDEF0123456789ABCDEF", KeyFormat::Hex);
        assert!(msg.contains("character 0"), "{msg}");
    }

    #[test]
    fn ascii_keys_of_the_wrong_length_are_refused() {
        let msg = key_err("AAAAAAAAAAAAAAA", KeyFormat::Ascii);
        assert_eq!(msg, "ASCII key has 15 bytes; need 16, 24 or 32");
        assert!(key_err(&"A".repeat(33), KeyFormat::Ascii).contains("33 bytes"));
        assert!(key_err("", KeyFormat::Ascii).contains("0 bytes"));
    }

    #[test]
    fn raw_keys_must_be_16_24_or_32_bytes() {
        assert_eq!(Key::from_bytes(&[0; 16]).unwrap().bits(), 128);
        assert_eq!(Key::from_bytes(&[0; 24]).unwrap().bits(), 192);
        assert_eq!(Key::from_bytes(&[0; 32]).unwrap().bits(), 256);
        for n in [0, 1, 15, 17, 23, 25, 31, 33, 64] {
            match Key::from_bytes(&vec![0; n]) {
                Err(Error::BadKey(msg)) => assert!(msg.contains(&format!("{n} bytes")), "{msg}"),
                other => panic!("{n}: {other:?}"),
            }
        }
    }

    #[test]
    fn hex_and_ascii_keys_with_the_same_bytes_are_equal() {
        assert_eq!(
            hex_key("41414141414141414141414141414141"),
            ascii_key("AAAAAAAAAAAAAAAA")
        );
        assert_ne!(
            hex_key("41414141414141414141414141414141"),
            hex_key("41414141414141414141414141414142")
        );
    }

    #[test]
    fn key_debug_shows_only_the_size() {
        let key = hex_key("0123456789ABCDEF0123456789ABCDEF");
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "Key(AES-128, ****)");
        assert!(!dbg.contains("0123"));
        assert!(!dbg.contains("01, 35"));

        let key = ascii_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "Key(AES-256, ****)");
        assert!(!dbg.contains("AAAA"));
        assert!(!dbg.contains("65"));
    }

    #[test]
    fn key_format_parses_case_insensitively_and_names_the_allowed_values() {
        assert_eq!("hex".parse::<KeyFormat>(), Ok(KeyFormat::Hex));
        assert_eq!("HEX".parse::<KeyFormat>(), Ok(KeyFormat::Hex));
        assert_eq!("Ascii".parse::<KeyFormat>(), Ok(KeyFormat::Ascii));
        let err = "base64".parse::<KeyFormat>().unwrap_err();
        assert!(err.contains("base64") && err.contains("hex") && err.contains("ascii"));
        assert_eq!(KeyFormat::default(), KeyFormat::Hex);
        for f in [KeyFormat::Hex, KeyFormat::Ascii] {
            assert_eq!(f.as_str().parse::<KeyFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
    }

    #[test]
    fn empty_ciphertext_is_refused() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        assert_eq!(decrypt_err(&key, b""), "ciphertext is empty");
    }

    #[test]
    fn odd_length_ciphertext_is_refused() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        let msg = decrypt_err(&key, &[b'A'; 33]);
        assert!(msg.contains("odd") && msg.contains("33"), "{msg}");
    }

    #[test]
    fn non_hex_ciphertext_names_the_character_index() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        let mut hex = [b'A'; 32];
        hex[17] = b'g';
        let msg = decrypt_err(&key, &hex);
        assert!(msg.contains("character 17") && msg.contains("'g'"), "{msg}");
        hex[17] = b'\r';
        let msg = decrypt_err(&key, &hex);
        assert!(
            msg.contains("character 17") && msg.contains("0x0D"),
            "{msg}"
        );
    }

    #[test]
    fn ciphertext_that_is_not_whole_blocks_is_refused() {
        let key = hex_key("000102030405060708090A0B0C0D0E0F");
        let msg = decrypt_err(&key, &[b'0'; 50]);
        assert!(
            msg.starts_with("ciphertext length 50 is not a multiple of 32 hex digits"),
            "{msg}"
        );
    }

    #[test]
    fn garbage_plaintexts_are_rejected() {
        // No pad.
        assert!(validate_err(b"|#1234|1130]_10:20:30,06-01-2024").contains("no pad"));
        assert!(validate_err(b"]_10:20:30,06-01-2024").contains("no pad"));
        // 17 pad bytes.
        assert!(
            validate_err(b"01234567890123456|#1|1130]_10:20:30,06-01-2024")
                .contains("no `|` or `]` after 1..16 pad bytes")
        );
        // `[` in the pad.
        assert!(validate_err(b"000[0|#1|1130]_10:20:30,06-01-2024").contains("`[`"));
        // Bad timestamp shapes.
        assert!(validate_err(b"00000000000]_10:20:31/06-01-2024").contains("byte 21"));
        assert!(validate_err(b"00000000000]_10:2X:31,06-01-2024").contains("'X'"));
        assert!(validate_err(b"0000000000000000|#1234|1130]").contains("timestamp"));
        // Too short to hold a timestamp after the marker.
        assert!(validate_err(b"0]_10:20:31,06-01-202").contains("too short"));
        // Empty input.
        assert!(validate_err(b"").contains("no `|` or `]`"));
        // Random-looking bytes, as a wrong key produces.
        assert!(validate_plaintext(b"cYza7#z+KW-q\x81\x02\xfe\x10abcdefghijklmnop").is_err());
    }

    #[test]
    fn well_formed_plaintexts_are_accepted() {
        assert_eq!(
            validate_plaintext(b"0]_10:20:31,06-01-2024").unwrap(),
            Plaintext {
                pad_len: 1,
                kind: PlaintextKind::Empty
            }
        );
        assert_eq!(
            validate_plaintext(b"0123456789abcdef|#1]_10:20:31,06-01-2024").unwrap(),
            Plaintext {
                pad_len: 16,
                kind: PlaintextKind::Event
            }
        );
    }

    #[test]
    fn a_wrong_key_is_detected_by_open() {
        let right = hex_key("000102030405060708090A0B0C0D0E0F");
        let wrong = hex_key("000102030405060708090A0B0C0D0E0E");
        let hex = encrypt_hex(
            &right,
            b"|#12345A|1130 01 015]_10:20:30,06-01-2024",
            &[b'r'; 16],
        );
        assert!(open(&right, hex.as_bytes()).is_ok());
        assert!(matches!(
            open(&wrong, hex.as_bytes()),
            Err(Error::Decrypt(_))
        ));
    }
}
