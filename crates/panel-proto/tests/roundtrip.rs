//! Property tests: any frame the builders can express decodes back to itself, encrypted or
//! not, and the decoder never panics on arbitrary bytes.
#![allow(clippy::unwrap_used)]

use panel_proto::build::{contact_id, encode, encode_encrypted, panel_frame, sia_data};
use panel_proto::crypto::Key;
use panel_proto::framing::{decode, Decoded, Decoder, DecoderConfig};
use panel_proto::parse::decrypt;
use panel_proto::timestamp::Timestamp;
use panel_proto::{Data, Frame, Id, Quirks, Xdata};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        Just(Id::AdmCid),
        Just(Id::HengBo),
        Just(Id::SiaDcs),
        Just(Id::Null)
    ]
}

fn account() -> impl Strategy<Value = String> {
    "[0-9A-Fa-z]{3,16}"
}

fn xdata() -> impl Strategy<Value = Xdata> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Xdata::HbBinary),
        "[0-9A-F]{0,30}".prop_map(|s| Xdata::HbHex4(s.into_bytes())),
        ("[G-Z]", "[a-zA-Z0-9 ./:]{1,20}").prop_filter_map("no hex-looking value", |(i, v)| {
            // A value starting with 4 hex digits could be read as the HB 4-char form.
            let x = Xdata::Dc09 {
                id: i.as_bytes()[0],
                value: v.as_str().into(),
            };
            Some(x)
        }),
    ]
}

prop_compose! {
    fn frame()(id in id(), seq in 0u16..=9999, r in proptest::option::of("[0-9A-F]{1,6}"),
               l in "[0-9A-F]{0,6}", acct in account(), data_acct in proptest::option::of(account()),
               ev in 0u16..10000, group in 0u8..100, zone in 0u16..1000, sia in "N(ri[0-9]/)?[A-Z]{2}[0-9]{1,3}",
               xd in proptest::collection::vec(xdata(), 0..3), t in proptest::option::of(0i64..4_000_000_000))
        -> Frame {
        let data = match id {
            Id::Null => Data::Empty,
            Id::SiaDcs => Data::Sia(sia_data(data_acct.as_deref(), &sia)),
            _ => Data::ContactId(contact_id(data_acct.as_deref(), ev, group, zone)),
        };
        let mut f = panel_frame(id, seq, r.as_deref(), Some(&l), &acct, data, t.map(Timestamp::from_unix));
        f.xdata = xd;
        f
    }
}

/// Whether a DC-09 xdata value could be mistaken for the HB 4-char form by the §1.8.1 rule.
fn ambiguous(f: &Frame) -> bool {
    f.xdata.iter().any(|x| match x {
        Xdata::Dc09 { id, value } => {
            let mut s = vec![*id];
            s.extend_from_slice(value.as_bytes());
            s.len() >= 4 && s[..4].iter().all(u8::is_ascii_hexdigit)
        }
        _ => false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_gives_the_same_frame(f in frame()) {
        prop_assume!(!ambiguous(&f));
        let mut out = Vec::new();
        encode(&f, &mut out).unwrap();
        match decode(&out, &DecoderConfig { max_frame_len: 4096, quirks: Quirks::default() }) {
            Decoded::Frame { frame, consumed } => {
                prop_assert_eq!(consumed, out.len());
                prop_assert_eq!(frame, f);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn encrypted_round_trip(f in frame(), key in proptest::collection::vec(any::<u8>(), 32), bits in 0usize..3,
                            pad in any::<[u8; 16]>(), t in 0i64..4_000_000_000) {
        prop_assume!(!ambiguous(&f));
        let key = Key::from_bytes(&key[..16 + 8 * bits]).unwrap();
        let mut f = f;
        f.timestamp = Some(Timestamp::from_unix(t));
        let mut out = Vec::new();
        encode_encrypted(&f, &key, &pad, &mut out).unwrap();
        let Decoded::Frame { frame: mut got, .. } = decode(&out, &DecoderConfig { max_frame_len: 4096, quirks: Quirks::default() }) else {
            return Err(TestCaseError::fail("did not decode"));
        };
        prop_assert!(got.encrypted);
        decrypt(&mut got, &key).unwrap();
        got.encrypted = false;
        prop_assert_eq!(got, f);
    }

    #[test]
    fn decoder_never_panics_and_always_makes_progress(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dec = Decoder::new(DecoderConfig { max_frame_len: 512, quirks: Quirks::ALL });
        let (_, rest) = dec.decode_all(&bytes);
        prop_assert!(rest <= bytes.len());
    }

    #[test]
    fn mutated_valid_frames_never_panic(f in frame(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut out = Vec::new();
        encode(&f, &mut out).unwrap();
        let i = pos % out.len();
        out[i] = byte;
        let _ = Decoder::new(DecoderConfig { max_frame_len: 4096, quirks: Quirks::ALL }).decode_all(&out);
    }
}
