//! A stream of many frames (HB binary xdata containing LF/CR included) split at every byte
//! offset decodes to the same frames as the whole stream.
#![allow(clippy::unwrap_used)]

use panel_proto::escape::unescape;
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::Frame;

const STREAM: &[&str] = &[
    "<LF>93B30031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>",
    "garbage",
    "<LF>73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024<CR>",
    "<LF>A95B005B\"HENG-BO\"0003R123ABCL456DEF#861234567890[#000123|1400 00 000][<00><06>123456]_08:31:00,06-01-2024<CR>",
    "<LF>2DE1004C\"ADM-CID\"0056L0#123456[#123456|1406 01 000][RLivingRoom]_17:22:02,09-18-2023<CR>",
    "<LF>DC530046\"SIA-DCS\"9876R579BDFL789ABC#12345A[#12345A|NFA129]_13:14:15,02-15-2006<CR>",
];

/// Feed `chunks` to a connection-like buffer and collect what decodes.
fn feed(chunks: &[&[u8]]) -> (Vec<Frame>, usize) {
    let dec = Decoder::new(DecoderConfig::default());
    let mut buf: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    let mut errors = 0;
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            match dec.decode(&buf) {
                Decoded::Frame { frame, consumed } => {
                    frames.push(frame);
                    buf.drain(..consumed);
                }
                Decoded::Invalid { consumed, .. } => {
                    errors += 1;
                    buf.drain(..consumed);
                }
                Decoded::Incomplete => break,
            }
        }
    }
    (frames, errors)
}

fn stream_bytes() -> Vec<u8> {
    let mut all = Vec::new();
    for s in STREAM {
        all.extend(unescape(s).unwrap());
    }
    // An HB frame whose binary xdata holds LF and CR bytes.
    let f = panel_proto::build::panel_frame(
        panel_proto::Id::HengBo,
        5,
        Some("123ABC"),
        Some("456DEF"),
        "861234567890",
        panel_proto::Data::ContactId(panel_proto::build::contact_id(Some("000123"), 1704, 0, 0)),
        panel_proto::timestamp::Timestamp::parse(b"_08:40:00,06-01-2024"),
    );
    let mut f = f;
    f.xdata.push(panel_proto::Xdata::HbBinary(vec![
        0x0A, 0x0D, 0x0A, b'\r', 0x00,
    ]));
    panel_proto::build::encode(&f, &mut all).unwrap();
    all
}

#[test]
fn whole_stream_decodes_every_frame() {
    let all = stream_bytes();
    let (frames, errors) = feed(&[&all]);
    assert_eq!(frames.len(), 6);
    assert_eq!(errors, 1, "the garbage");
    assert_eq!(
        frames[5].xdata[0].payload(),
        &[0x0A, 0x0D, 0x0A, b'\r', 0x00]
    );
}

#[test]
fn split_at_every_offset_gives_the_same_frames() {
    let all = stream_bytes();
    let (whole, _) = feed(&[&all]);
    for cut in 0..=all.len() {
        let (a, b) = all.split_at(cut);
        let (frames, _) = feed(&[a, b]);
        assert_eq!(frames, whole, "split at {cut}");
    }
}

#[test]
fn byte_by_byte_gives_the_same_frames() {
    let all = stream_bytes();
    let (whole, _) = feed(&[&all]);
    let chunks: Vec<&[u8]> = all.chunks(1).collect();
    let (frames, _) = feed(&chunks);
    assert_eq!(frames, whole);
}
