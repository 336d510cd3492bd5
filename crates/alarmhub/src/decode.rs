//! `alarmhub decode`: decode frames an installer pasted from a log (text with `<LF>`,
//! `\n`, … escapes) or piped in raw, and print one JSON object per frame.
//!
//! Decoding is lenient (every quirk allowed) so installers see what a panel sends; the
//! `quirks` field says which non-conformities the frame needed.

use std::io::Write;

use panel_proto::codes::{self, code};
use panel_proto::crypto::{Key, KeyFormat};
use panel_proto::escape::unescape;
use panel_proto::framing::{Decoded, Decoder, DecoderConfig};
use panel_proto::rules::{detect_dialect, reply_for, Reply};
use panel_proto::{Data, Frame, Quirks, Xdata};
use serde_json::{json, Map, Value};

/// What to decode and how.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Key for encrypted frames.
    pub key: Option<Key>,
    /// Largest frame accepted.
    pub max_frame_len: usize,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Decode every frame in `input`; write one JSON line per frame (or per error) to `out`
/// and a message per error to `err`. Returns the number of errors.
pub fn decode_bytes(
    input: &[u8],
    opts: &DecodeOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<usize> {
    let dec = Decoder::new(DecoderConfig {
        max_frame_len: opts.max_frame_len,
        quirks: Quirks::ALL,
    });
    let mut pos = 0usize;
    let mut errors = 0;
    let mut frames = 0;
    loop {
        let rest = &input[pos..];
        match dec.decode(rest) {
            Decoded::Frame { frame, consumed } => {
                frames += 1;
                let v = match decrypt_if_needed(frame, opts) {
                    Ok(frame) => frame_json(&frame, pos, consumed),
                    Err(e) => {
                        errors += 1;
                        writeln!(err, "frame at byte {pos}: {e}")?;
                        json!({ "offset": pos, "error": e.to_string() })
                    }
                };
                writeln!(out, "{v}")?;
                pos += consumed;
            }
            Decoded::Invalid { error, consumed } => {
                // Trailing line ends after the last frame are not worth an error.
                let trailing_ws = rest.iter().all(|b| b.is_ascii_whitespace())
                    && matches!(error, panel_proto::Error::Garbage { .. });
                if !trailing_ws {
                    errors += 1;
                    let at = error_offset(&error).map_or(pos, |o| pos + o);
                    writeln!(err, "byte {at}: {error}")?;
                    writeln!(
                        out,
                        "{}",
                        json!({ "offset": at, "frame_offset": pos, "error": error.to_string() })
                    )?;
                }
                pos += consumed.clamp(1, rest.len());
            }
            Decoded::Incomplete => {
                if !rest.is_empty() {
                    errors += 1;
                    writeln!(
                        err,
                        "byte {pos}: incomplete frame ({} bytes; the length field or the CR is missing)",
                        rest.len()
                    )?;
                    writeln!(
                        out,
                        "{}",
                        json!({ "offset": pos, "error": "incomplete frame" })
                    )?;
                }
                break;
            }
        }
    }
    if frames == 0 && errors == 0 {
        errors += 1;
        writeln!(
            err,
            "no frame found (a frame starts with LF, written <LF> or \\n)"
        )?;
    }
    Ok(errors)
}

fn error_offset(e: &panel_proto::Error) -> Option<usize> {
    use panel_proto::Error as E;
    match e {
        E::BadLength { offset, .. } | E::MissingCr { offset } | E::BadField { offset, .. } => {
            Some(*offset)
        }
        _ => None,
    }
}

fn decrypt_if_needed(mut frame: Frame, opts: &DecodeOptions) -> Result<Frame, String> {
    if !matches!(frame.data, Data::Encrypted(_)) {
        return Ok(frame);
    }
    let Some(key) = &opts.key else {
        return Ok(frame);
    };
    panel_proto::parse::decrypt(&mut frame, key)
        .map_err(|e| format!("{e} (check --key and --key-format)"))?;
    Ok(frame)
}

/// The JSON object for one frame (field names documented in the README).
pub fn frame_json(f: &Frame, offset: usize, bytes: usize) -> Value {
    let mut m = Map::new();
    m.insert("offset".into(), json!(offset));
    m.insert("bytes".into(), json!(bytes));
    m.insert("id".into(), json!(f.id.as_str()));
    m.insert("encrypted".into(), json!(f.encrypted));
    m.insert("seq".into(), json!(f.seq.as_str()));
    m.insert("R".into(), json!(f.receiver.as_deref()));
    m.insert("L".into(), json!(f.line.as_deref()));
    m.insert("account".into(), json!(f.account.as_deref()));
    let dialect = detect_dialect(f);
    m.insert("dialect".into(), json!(dialect.as_str()));
    let reply = match reply_for(f) {
        Reply::Ack => "ACK",
        Reply::Duh => "DUH",
        Reply::Nothing => "none",
    };
    m.insert("reply".into(), json!(reply));
    let mut event_code = None;
    match &f.data {
        Data::Empty => {
            m.insert("data".into(), json!("empty"));
        }
        Data::ContactId(c) => {
            event_code = Some(c.event_code());
            m.insert("data".into(), json!("contact_id"));
            m.insert("data_account".into(), json!(c.account.as_deref()));
            m.insert("ademco_id".into(), json!(c.ademco_id()));
            m.insert("qualifier".into(), json!(c.qualifier));
            m.insert("event_code".into(), json!(c.event_code()));
            m.insert("group".into(), json!(c.group));
            m.insert("zone".into(), json!(c.zone));
            // Named in the table of the sender's dialect (HB codes only for Hengbo hosts).
            if let Some(info) = c.info(dialect) {
                m.insert("event_name".into(), json!(info.name));
                m.insert("event_description".into(), json!(info.description));
                m.insert("event_class".into(), json!(info.class.as_str()));
                m.insert("sia_code".into(), json!(info.sia));
                if !info.zh.is_empty() {
                    m.insert("event_zh".into(), json!(info.zh));
                }
            }
            if codes::zone_is_source(c.event_code()) {
                m.insert(
                    "operation_source".into(),
                    json!(codes::operation_source(c.zone, false)),
                );
            }
            if let Some(t) = codes::machine_type_from_event(c.event_code()) {
                m.insert("machine_type".into(), json!(t));
                m.insert(
                    "machine_type_name".into(),
                    json!(codes::machine_type(t).name),
                );
            }
            if let Some(s) = codes::status_from_event(c.event_code()) {
                m.insert("machine_status".into(), json!(s.number()));
                m.insert("machine_status_name".into(), json!(s.name()));
            }
        }
        Data::Sia(s) => {
            m.insert("data".into(), json!("sia"));
            m.insert("data_account".into(), json!(s.account.as_deref()));
            m.insert("sia_body".into(), json!(s.body.as_str()));
            m.insert("sia_code".into(), json!(s.code.as_deref()));
            m.insert("zone".into(), json!(s.number.as_deref()));
            m.insert("group".into(), json!(s.area.as_deref()));
            m.insert("user".into(), json!(s.user.as_deref()));
            m.insert("sia_text".into(), json!(s.text.as_deref()));
            m.insert("new_event".into(), json!(s.new_event));
            if let Some(info) = s.code.as_deref().and_then(codes::sia_code) {
                m.insert("event_description".into(), json!(info.description));
                m.insert("event_class".into(), json!(info.class.as_str()));
            }
        }
        Data::Encrypted(h) => {
            m.insert("data".into(), json!("encrypted"));
            m.insert("ciphertext".into(), json!(h));
            m.insert(
                "note".into(),
                json!("encrypted; pass --key (and --key-format) to decrypt"),
            );
        }
        Data::Other(s) => {
            m.insert("data".into(), json!("other"));
            m.insert("data_raw".into(), json!(s.as_str()));
        }
    }
    let xdata: Vec<Value> = f.xdata.iter().map(|x| xdata_json(x, event_code)).collect();
    m.insert("xdata".into(), Value::Array(xdata));
    m.insert(
        "timestamp".into(),
        json!(f.timestamp.map(|t| t.to_string())),
    );
    m.insert(
        "timestamp_unix".into(),
        json!(f.timestamp.and_then(|t| t.to_unix())),
    );
    m.insert("quirks".into(), json!(f.quirks.names()));
    Value::Object(m)
}

fn xdata_json(x: &Xdata, event_code: Option<u16>) -> Value {
    let (form, payload) = match x {
        Xdata::HbBinary(p) => ("hb_binary_length", p.as_slice()),
        Xdata::HbHex4(p) => ("hb_hex4_length", p.as_slice()),
        Xdata::Dc09 { id, value } => {
            return json!({ "form": "dc09", "id": char::from(*id).to_string(), "value": value.as_str(),
                           "meaning": dc09_xdata_name(*id) });
        }
    };
    let mut v =
        json!({ "form": form, "hex": hex(payload), "text": String::from_utf8_lossy(payload) });
    // The 4-char form carries ASCII hex of the bytes (protocol.md §1.8.1).
    let bytes: Vec<u8> = match x {
        Xdata::HbHex4(p) if p.len() % 2 == 0 && p.iter().all(u8::is_ascii_hexdigit) => p
            .chunks(2)
            .filter_map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
            .collect(),
        _ => payload.to_vec(),
    };
    match event_code {
        Some(code::SIGNAL_STRENGTH) if bytes.len() == 1 => {
            v["signal_strength"] = json!(codes::signal_strength(bytes[0]));
        }
        Some(code::DISARM | code::ARM_AWAY) if !payload.is_empty() => {
            v["password"] = json!(String::from_utf8_lossy(payload));
        }
        Some(code::COM_PASSTHROUGH) => {
            v["passthrough_hex"] = json!(hex(&bytes));
        }
        _ => {}
    }
    v
}

fn dc09_xdata_name(id: u8) -> &'static str {
    match id {
        b'A' => "authentication hash",
        b'H' => "time of occurrence",
        b'M' => "MAC address",
        b'V' => "verification link",
        b'P' => "programming data",
        b'I' => "alarm text",
        b'S' => "site name",
        b'O' => "building name",
        b'L' => "location",
        b'R' => "room",
        b'T' => "alarm trigger",
        b'X' => "longitude",
        b'Y' => "latitude",
        b'Z' => "altitude",
        _ => "unknown",
    }
}

/// Turn the command-line frame argument into bytes (escapes understood).
pub fn frame_arg_bytes(text: &str) -> Result<Vec<u8>, String> {
    let mut b = unescape(text).map_err(|e| e.to_string())?;
    // A frame copied from a log line without its LF/CR still decodes.
    if !b.contains(&b'\n') {
        b.insert(0, b'\n');
        if b.last() != Some(&b'\r') {
            b.push(b'\r');
        }
    }
    Ok(b)
}

/// Parse `--key` / `--key-format`.
pub fn parse_key(key: Option<&str>, format: KeyFormat) -> Result<Option<Key>, String> {
    key.map(|k| Key::parse(k, format).map_err(|e| format!("--key: {e}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (usize, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let opts = DecodeOptions {
            key: None,
            max_frame_len: 1024,
        };
        let n = decode_bytes(input, &opts, &mut out, &mut err).unwrap();
        (
            n,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn signal_strength_and_password_xdata_are_explained() {
        let b = unescape("<LF>F14F0056\"HENG-BO\"0005R123ABCL456DEF#861234567890[#000123|1799 00 000][<00><01>']_08:33:00,06-01-2024<CR><LF>A7C40059\"HENG-BO\"0005R123ABCL456DEF#861234567890[#000123|1799 00 000][000227]_08:33:00,06-01-2024<CR><LF>A95B005B\"HENG-BO\"0003R123ABCL456DEF#861234567890[#000123|1400 00 000][<00><06>123456]_08:31:00,06-01-2024<CR>").unwrap();
        let (n, out, _) = run(&b);
        assert_eq!(n, 0);
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["xdata"][0]["signal_strength"], 27);
        assert_eq!(lines[1]["xdata"][0]["signal_strength"], 27);
        assert_eq!(lines[2]["xdata"][0]["password"], "123456");
        assert_eq!(lines[2]["event_name"], "DISARM");
        assert_eq!(lines[2]["machine_status_name"], "disarm");
    }

    #[test]
    fn code_1134_is_named_in_the_table_of_the_senders_dialect() {
        use panel_proto::build::{contact_id, encode, panel_frame};
        use panel_proto::{Data, Id};
        let mut b = Vec::new();
        for (id, r, l) in [(Id::AdmCid, "12", "3"), (Id::HengBo, "123ABC", "456DEF")] {
            let data = Data::ContactId(contact_id(Some("1234"), 1134, 1, 5));
            let f = panel_frame(id, 1, Some(r), Some(l), "1234", data, None);
            encode(&f, &mut b).unwrap();
        }
        let (n, out, _) = run(&b);
        assert_eq!(n, 0);
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            (
                &lines[0]["dialect"],
                &lines[0]["event_name"],
                &lines[0]["event_class"]
            ),
            (&json!("dc09"), &json!("ENTRY_EXIT"), &json!("alarm"))
        );
        assert_eq!(
            (
                &lines[1]["dialect"],
                &lines[1]["event_name"],
                &lines[1]["event_class"]
            ),
            (&json!("hb"), &json!("DOOR_RING"), &json!("info"))
        );
    }

    #[test]
    fn bad_crc_is_an_error_with_its_offset() {
        let b = unescape("ab<LF>93B40031\"NULL\"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>")
            .unwrap();
        let (n, _, err) = run(&b);
        assert_eq!(n, 2);
        assert!(err.contains("byte 0: 2 bytes of garbage"), "{err}");
        assert!(
            err.contains("bad CRC: frame says 93B4, computed 93B3"),
            "{err}"
        );
    }
}
