//! Codec throughput: decode (with CRC check), encode, ACK building, DC-09 AES decryption and
//! encryption, CRC-16 (protocol.md §4.2 frame 16 / §4.3 frame 28, §6 for ademco_hb figures).
//!
//! Two groups measure the same operations: `codec_frames` reports frames/s
//! (`Throughput::Elements`), `codec_bytes` reports bytes/s (`Throughput::Bytes`, the frame's
//! length on the wire: the input for decoders, the output for encoders).
//!
//! Run: `cargo bench -p panel-proto --bench codec` (about a minute; `bench/codec.sh` runs it and
//! writes BENCHMARKS.md). Every input is checked against the documented bytes before timing.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use panel_proto::build::{self, AckStyle};
use panel_proto::crc::crc16;
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::framing::{self, Decoded, Decoder, DecoderConfig};
use panel_proto::parse;
use panel_proto::timestamp::Timestamp;
use panel_proto::Frame;

/// protocol.md §4.2 frame 16: HB Contact ID burglary, 91 bytes LF to CR.
const HB_EVENT: &[u8] = b"\n73D40051\"ADM-CID\"0002R123ABCL456DEF#861234567890[#000123|1130 00 005]_00:30:00,06-01-2024\r";
/// Its HB-style ACK (§4.2 frame 16).
const HB_ACK: &[u8] = b"\nAB81003A\"ACK\"0002R123ABCL456DEF#861234567890[]_00:30:01,06-01-2024\r";
/// DC-09 SIA fire alarm (the Annex B.4 event, unencrypted).
const DC09_SIA: &[u8] =
    b"\nDC530046\"SIA-DCS\"9876R579BDFL789ABC#12345A[#12345A|NFA129]_13:14:15,02-15-2006\r";
/// protocol.md §4.3 frame 28: encrypted ADM-CID, AES-128.
const CID_AES128: &[u8] = b"\n3D8B0084\"*ADM-CID\"0011R579BDFL789ABC#12345A[2F8D4528FCF14D3E25815AA2AC5770C2A5DCE428A04131B9F81D42740A176793C9F2A0D35D4B99B55499BFFBCA4048CF\r";
const CID_AES128_KEY: &str = "000102030405060708090A0B0C0D0E0F";
/// The 7-byte demonstration pad of frame 28 (only the first 7 bytes are used).
const CID_AES128_PAD: &[u8; 16] = b"ABCDEFGHIJKLMNOP";

/// Frames in the stream benchmark.
const STREAM_FRAMES: usize = 100;

fn decode_one(bytes: &[u8]) -> Frame {
    match framing::decode(bytes, &DecoderConfig::default()) {
        Decoded::Frame { frame, consumed } if consumed == bytes.len() => frame,
        other => panic!("benchmark input does not decode: {other:?}"),
    }
}

/// Everything the benchmarks need, built and checked once.
struct Inputs {
    hb_frame: Frame,
    ack_ts: Timestamp,
    hb_encoded_len: usize,
    ack_len: usize,
    /// `STREAM_FRAMES` HB event frames (seq 0001..0100, zones 1..100) back to back.
    stream: Vec<u8>,
    key: Key,
    cid_plain: Frame,
    cid_encrypted_len: usize,
}

fn inputs() -> Inputs {
    let hb_frame = decode_one(HB_EVENT);
    let mut out = Vec::new();
    build::encode(&hb_frame, &mut out).expect("encode");
    assert_eq!(out, HB_EVENT, "encode must reproduce frame 16");
    let hb_encoded_len = out.len();

    let ack_ts = Timestamp::parse(b"_00:30:01,06-01-2024").expect("timestamp");
    out.clear();
    build::ack(&hb_frame, AckStyle::Hb, ack_ts, &mut out).expect("ack");
    assert_eq!(out, HB_ACK, "ack must reproduce the documented HB ACK");
    let ack_len = out.len();

    decode_one(DC09_SIA);

    let mut stream = Vec::new();
    for i in 0..STREAM_FRAMES {
        let n = u16::try_from(i + 1).expect("small");
        let mut f = hb_frame.clone();
        f.seq = build::seq4(n);
        f.data = panel_proto::Data::ContactId(build::contact_id(Some("000123"), 1130, 0, n));
        build::encode(&f, &mut stream).expect("encode");
    }
    let (frames, left) = Decoder::default().decode_all(&stream);
    assert_eq!((frames.len(), left), (STREAM_FRAMES, 0));
    assert!(frames.iter().all(Result::is_ok));

    let key = Key::parse(CID_AES128_KEY, KeyFormat::Hex).expect("key");
    let mut cid_plain = decode_one(CID_AES128);
    parse::decrypt(&mut cid_plain, &key).expect("decrypt");
    assert_eq!(
        cid_plain.contact_id().map(|c| c.raw.as_str()),
        Some("1130 01 015")
    );
    out.clear();
    build::encode_encrypted(&cid_plain, &key, CID_AES128_PAD, &mut out).expect("encrypt");
    assert_eq!(out, CID_AES128, "encryption must reproduce frame 28");
    let cid_encrypted_len = out.len();

    Inputs {
        hb_frame,
        ack_ts,
        hb_encoded_len,
        ack_len,
        stream,
        key,
        cid_plain,
        cid_encrypted_len,
    }
}

fn decode_hb_event(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let cfg = DecoderConfig::default();
    g.bench_function("decode_hb_event", |b| {
        b.iter(|| framing::decode(black_box(HB_EVENT), &cfg))
    });
}

fn decode_hb_event_unix(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let cfg = DecoderConfig::default();
    g.bench_function("decode_hb_event_unix", |b| {
        b.iter(|| match framing::decode(black_box(HB_EVENT), &cfg) {
            Decoded::Frame { frame, .. } => {
                frame.timestamp.expect("frame 16 has a timestamp").to_unix()
            }
            _ => None,
        })
    });
}

fn decode_dc09_sia(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let cfg = DecoderConfig::default();
    g.bench_function("decode_dc09_sia", |b| {
        b.iter(|| framing::decode(black_box(DC09_SIA), &cfg))
    });
}

fn decode_stream(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, stream: &[u8]) {
    let dec = Decoder::new(DecoderConfig::default());
    g.bench_function("decode_stream_100", |b| {
        b.iter(|| {
            let mut buf = black_box(stream);
            let mut n = 0usize;
            loop {
                match dec.decode(buf) {
                    Decoded::Frame { frame, consumed } => {
                        black_box(frame);
                        buf = &buf[consumed..];
                        n += 1;
                    }
                    Decoded::Invalid { consumed, .. } => buf = &buf[consumed..],
                    Decoded::Incomplete => break,
                }
            }
            n
        })
    });
}

fn encode_hb_event(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, i: &Inputs) {
    let mut out = Vec::with_capacity(256);
    g.bench_function("encode_hb_event", |b| {
        b.iter(|| {
            out.clear();
            build::encode(black_box(&i.hb_frame), &mut out).expect("encode");
            out.len()
        })
    });
}

fn ack_hb(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, i: &Inputs) {
    let mut out = Vec::with_capacity(256);
    g.bench_function("ack_hb", |b| {
        b.iter(|| {
            out.clear();
            build::ack(black_box(&i.hb_frame), AckStyle::Hb, i.ack_ts, &mut out).expect("ack");
            out.len()
        })
    });
}

fn decrypt_cid(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, i: &Inputs) {
    let cfg = DecoderConfig::default();
    g.bench_function("decrypt_cid_aes128", |b| {
        b.iter(|| match framing::decode(black_box(CID_AES128), &cfg) {
            Decoded::Frame { mut frame, .. } => {
                parse::decrypt(&mut frame, &i.key).expect("decrypt");
                Some(frame)
            }
            _ => None,
        })
    });
}

fn encrypt_cid(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, i: &Inputs) {
    let mut out = Vec::with_capacity(256);
    g.bench_function("encrypt_cid_aes128", |b| {
        b.iter(|| {
            out.clear();
            build::encode_encrypted(black_box(&i.cid_plain), &i.key, CID_AES128_PAD, &mut out)
                .expect("encrypt");
            out.len()
        })
    });
}

/// 75 bytes of frame 16's span (protocol.md §6 times ademco_hb's CRC over 75 bytes).
fn crc75() -> &'static [u8] {
    &HB_EVENT[9..9 + 75]
}

fn crc16_75(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.bench_function("crc16_75", |b| b.iter(|| crc16(black_box(crc75()))));
}

fn bytes(n: usize) -> Throughput {
    Throughput::Bytes(u64::try_from(n).expect("small"))
}

fn benches(c: &mut Criterion) {
    let i = inputs();

    // Frames per second.
    let mut g = c.benchmark_group("codec_frames");
    g.throughput(Throughput::Elements(1));
    decode_hb_event(&mut g);
    decode_hb_event_unix(&mut g);
    decode_dc09_sia(&mut g);
    encode_hb_event(&mut g, &i);
    ack_hb(&mut g, &i);
    decrypt_cid(&mut g, &i);
    encrypt_cid(&mut g, &i);
    crc16_75(&mut g);
    g.throughput(Throughput::Elements(STREAM_FRAMES as u64));
    decode_stream(&mut g, &i.stream);
    g.finish();

    // Bytes per second: the wire length of the frame read or written.
    let mut g = c.benchmark_group("codec_bytes");
    g.throughput(bytes(HB_EVENT.len()));
    decode_hb_event(&mut g);
    g.throughput(bytes(DC09_SIA.len()));
    decode_dc09_sia(&mut g);
    g.throughput(bytes(i.hb_encoded_len));
    encode_hb_event(&mut g, &i);
    g.throughput(bytes(i.ack_len));
    ack_hb(&mut g, &i);
    g.throughput(bytes(CID_AES128.len()));
    decrypt_cid(&mut g, &i);
    g.throughput(bytes(i.cid_encrypted_len));
    encrypt_cid(&mut g, &i);
    g.throughput(bytes(crc75().len()));
    crc16_75(&mut g);
    g.throughput(bytes(i.stream.len()));
    decode_stream(&mut g, &i.stream);
    g.finish();
}

fn config() -> Criterion {
    // Short enough for the whole run to stay near a minute on a 2-vCPU VM; command-line
    // flags (`--warm-up-time`, `--measurement-time`) still override these.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = codec;
    config = config();
    targets = benches
}
criterion_main!(codec);
