//! [`Detail`]: an event's display-only JSON object, kept as its text.
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
