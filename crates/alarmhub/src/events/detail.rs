//! [`Detail`]: an event's display-only JSON object, kept as its text, and
//! [`DetailWriter`], which writes one straight to text on the receiver's per-event path.
//!
//! Nothing in the daemon branches on it (typed facts do that), so it is never parsed on the
//! way in or out of the store: replaying a million events at start reads each detail as one
//! string, and the API hands the same text to clients as `detail_json`.

use std::fmt;

/// A JSON object as text (`{}` when empty). Built from a `serde_json` value by whoever creates
/// the event, or read back from the store, which only ever holds text written from a value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Detail(Box<str>);

impl Detail {
    /// The empty object `{}`.
    pub fn empty() -> Detail {
        Detail("{}".into())
    }

    /// Text read back from the store, where it was written by [`Detail::as_str`]. Not
    /// validated (a display field is not worth a parse per row).
    pub fn from_stored(text: String) -> Detail {
        Detail(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON value, for display code and tests that look inside (`Null` if the text is
    /// not JSON, which only a hand-edited database could cause).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl Default for Detail {
    fn default() -> Detail {
        Detail::empty()
    }
}

impl From<serde_json::Value> for Detail {
    fn from(v: serde_json::Value) -> Detail {
        // `to_string` on the value writes bytes straight into a buffer; `Display` (the same
        // compact JSON) goes through the formatter, which cost a fifth of the receiver's
        // per-event work. Serializing a `Value` cannot fail (its keys are strings).
        let text = serde_json::to_string(&v).unwrap_or_else(|_| String::from("{}"));
        Detail(text.into_boxed_str())
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for Detail {
    fn from(m: serde_json::Map<String, serde_json::Value>) -> Detail {
        Detail::from(serde_json::Value::Object(m))
    }
}

/// Writes a JSON object member by member into one string: the text a `serde_json` map of the
/// same members gives (compact, keys in sorted order), without building the map and its
/// keys first. Members must be added in ascending key order (`serde_json`'s map is sorted;
/// checked in debug builds), and a key must not need escaping.
#[derive(Debug)]
pub struct DetailWriter {
    text: Vec<u8>,
    #[cfg(debug_assertions)]
    last_key: &'static str,
}

impl DetailWriter {
    /// An empty object, with room for a typical panel event's detail.
    pub fn new() -> DetailWriter {
        let mut text = Vec::with_capacity(96);
        text.push(b'{');
        DetailWriter {
            text,
            #[cfg(debug_assertions)]
            last_key: "",
        }
    }

    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(
                self.last_key.is_empty() || self.last_key < key,
                "detail keys out of order: {key:?} after {:?}",
                self.last_key
            );
            self.last_key = key;
        }
        if self.text.len() > 1 {
            self.text.push(b',');
        }
        self.text.push(b'"');
        self.text.extend_from_slice(key.as_bytes());
        self.text.extend_from_slice(b"\":");
        &mut self.text
    }

    /// `"key":"value"`, the value escaped as JSON.
    pub fn str(&mut self, key: &'static str, value: &str) {
        let text = self.key(key);
        push_json(text, value);
    }

    /// `"key":n`.
    pub fn uint(&mut self, key: &'static str, n: u64) {
        let text = self.key(key);
        push_json(text, &n);
    }

    /// `"key":true` / `false`.
    pub fn bool(&mut self, key: &'static str, b: bool) {
        let text = self.key(key);
        push_json(text, &b);
    }

    /// `"key":[…]`: `items` writes the array's elements through the [`ArrayWriter`].
    pub fn array(&mut self, key: &'static str, items: impl FnOnce(&mut ArrayWriter<'_>)) {
        let text = self.key(key);
        text.push(b'[');
        let mut array = ArrayWriter { text, first: true };
        items(&mut array);
        array.text.push(b']');
    }

    /// The finished object.
    pub fn finish(mut self) -> Detail {
        self.text.push(b'}');
        // Always UTF-8: `&str` keys, and values written by `serde_json`.
        let text = String::from_utf8(self.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Detail(text.into_boxed_str())
    }
}

impl Default for DetailWriter {
    fn default() -> DetailWriter {
        DetailWriter::new()
    }
}

/// The elements of an array member of a [`DetailWriter`].
#[derive(Debug)]
pub struct ArrayWriter<'a> {
    text: &'a mut Vec<u8>,
    first: bool,
}

impl ArrayWriter<'_> {
    /// An object element of string members, given in ascending key order.
    pub fn object(&mut self, members: &[(&str, &str)]) {
        if !self.first {
            self.text.push(b',');
        }
        self.first = false;
        self.text.push(b'{');
        for (i, (key, value)) in members.iter().enumerate() {
            debug_assert!(
                i == 0 || members[i - 1].0 < *key,
                "object keys out of order"
            );
            if i > 0 {
                self.text.push(b',');
            }
            push_json(self.text, key);
            self.text.push(b':');
            push_json(self.text, value);
        }
        self.text.push(b'}');
    }
}

/// `value` as JSON, escaped by `serde_json` itself (writing to a `Vec` cannot fail, and a
/// string or a number always serialises).
fn push_json<T: serde::Serialize + ?Sized>(text: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(text, value);
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_gives_the_text_serde_json_gives_for_the_same_members() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        for s in ["", "a", "\"\\/", controls.as_str(), "é 厨房 ✓ \u{7f}"] {
            let mut w = DetailWriter::new();
            w.bool("a", true);
            w.str("b", s);
            w.uint("c", u64::MAX);
            w.array("d", |a| {
                a.object(&[("k", s), ("v", "x")]);
                a.object(&[]);
            });
            let want = serde_json::json!({"a": true, "b": s, "c": u64::MAX, "d": [{"k": s, "v": "x"}, {}]});
            let got = w.finish();
            assert_eq!(
                got.as_str(),
                serde_json::to_string(&want).unwrap_or_default()
            );
            assert_eq!(got.to_value(), want);
        }
        assert_eq!(DetailWriter::new().finish().as_str(), "{}");
        let mut w = DetailWriter::new();
        w.array("x", |_| {});
        assert_eq!(w.finish().as_str(), r#"{"x":[]}"#);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "out of order")]
    fn keys_out_of_order_are_caught_in_debug_builds() {
        let mut w = DetailWriter::new();
        w.str("b", "");
        w.str("a", "");
    }

    #[test]
    fn a_value_round_trips_through_its_text() {
        let d = Detail::from(serde_json::json!({"b": [1, 2], "a": "x"}));
        assert_eq!(d.as_str(), r#"{"a":"x","b":[1,2]}"#);
        assert_eq!(d.to_value()["b"][1], 2);
        assert_eq!(Detail::from_stored(d.as_str().into()), d);
        assert_eq!(Detail::default().as_str(), "{}");
        assert_eq!(
            Detail::from_stored("{".into()).to_value(),
            serde_json::Value::Null
        );
    }
}
