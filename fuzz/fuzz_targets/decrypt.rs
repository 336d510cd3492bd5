//! DC-09 decryption must never panic, whatever the key, ciphertext or plaintext.
//!
//! Input: byte 0 picks the key length (`% 3`: 16/24/32 bytes), the mode (`/ 3 % 2`) and the
//! ID token (`/ 6 % 5`); then the key bytes; then the rest.
//! * mode 0: the rest is the ciphertext hex text as received (any bytes).
//! * mode 1: the rest is a plaintext body (what follows the pad, e.g. `|#1234|1130 01 015]`
//!   + timestamp) that is encrypted first, so the plaintext parser behind
//!   `parse::decrypt` is reached; random ciphertext almost never validates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use panel_proto::build::{encode, panel_frame};
use panel_proto::crypto::{self, Key};
use panel_proto::parse::decrypt;
use panel_proto::{Data, Id};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let key_len = [16, 24, 32][usize::from(sel % 3)];
    let encrypt_first = (sel / 3) % 2 == 1;
    let id = [Id::SiaDcs, Id::AdmCid, Id::Null, Id::HengBo, Id::Ack][usize::from(sel / 6 % 5)].clone();
    if rest.len() < key_len {
        return;
    }
    let (key, rest) = rest.split_at(key_len);
    let key = Key::from_bytes(key).expect("16/24/32 bytes is a valid key");

    let hex: Vec<u8> = if encrypt_first {
        let mut pad = [0u8; 16];
        let n = rest.len().min(16);
        pad[..n].copy_from_slice(&rest[..n]);
        let body = &rest[n..];
        let hex = crypto::encrypt_hex(&key, body, &pad);
        // Encryption round trip: the plaintext is the pad followed by the body exactly.
        let plain = crypto::decrypt_hex(&key, hex.as_bytes()).expect("own ciphertext decrypts");
        assert!(plain.len() > body.len() && plain.len() - body.len() <= 16);
        assert_eq!(&plain[plain.len() - body.len()..], body);
        hex.into_bytes()
    } else {
        rest.to_vec()
    };

    let _ = crypto::open(&key, &hex);

    let mut frame = panel_frame(
        id,
        1,
        Some("579BDF"),
        Some("789ABC"),
        "12345A",
        Data::Encrypted(String::from_utf8_lossy(&hex).into_owned()),
        None,
    );
    frame.encrypted = true;
    let before = frame.clone();
    match decrypt(&mut frame, &key) {
        Ok(()) => {
            // A decrypted frame is an ordinary frame again.
            let mut out = Vec::new();
            let _ = encode(&frame, &mut out);
        }
        // "Errors leave the frame unchanged."
        Err(_) => assert_eq!(frame, before),
    }
});
