//! The serde shapes of trace lines as written, before validation.
//!
//! Kept apart from the public model so the model carries only validated values (µs, ordered
//! header pairs) and the text format's quirks (two spellings of `t`, a header value that may be
//! a string or an array, `null` cache counts) stay in one place.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The header line `{"trace": 1, …}`.
#[derive(Deserialize)]
pub(crate) struct RawHeaderLine {
    /// The format version.
    pub trace: u64,
    /// Free metadata.
    #[serde(default)]
    pub provider: Option<String>,
    /// Free metadata.
    #[serde(default)]
    pub model: Option<String>,
    /// Free metadata.
    #[serde(default)]
    pub note: Option<String>,
}

/// A `"type": "request"` line.
#[derive(Deserialize)]
pub(crate) struct RawRequest {
    pub t: RawTime,
    pub id: String,
    #[serde(default)]
    pub lane: Option<String>,
    pub input_tokens: u64,
    pub max_tokens: u64,
}

/// A `"type": "response"` line.
#[derive(Deserialize)]
pub(crate) struct RawResponse {
    pub t: RawTime,
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: RawHeaders,
    #[serde(default)]
    pub usage: Option<RawUsage>,
}

/// A `usage` object; the cache counts may be absent or `null` (0).
#[derive(Deserialize)]
pub(crate) struct RawUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
}

/// `t` as written: a number of seconds or an RFC 3339 string.
pub(crate) enum RawTime {
    /// A JSON number (may be negative: checked later, with a better message).
    Seconds(f64),
    /// A JSON string (parsed later).
    Text(String),
}

impl<'de> Deserialize<'de> for RawTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = RawTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds (a number) or an RFC 3339 string")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawTime, E> {
                Ok(RawTime::Seconds(value as f64))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawTime, E> {
                Ok(RawTime::Seconds(value as f64))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawTime, E> {
                Ok(RawTime::Seconds(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawTime, E> {
                Ok(RawTime::Text(value.to_owned()))
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

/// `headers`: an object whose values are strings or arrays of strings, flattened to pairs in
/// document order. A key given twice in the object is kept twice, its values gathered at the
/// key's first place — the order the writer produces, so read → write → read is the identity.
#[derive(Default)]
pub(crate) struct RawHeaders(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for RawHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = RawHeaders;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header names to strings or arrays of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawHeaders, E> {
                Ok(RawHeaders::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeaders, A::Error> {
                let mut groups: Vec<(String, Vec<String>)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let values = match map.next_value::<HeaderValues>()? {
                        HeaderValues::One(value) => vec![value],
                        HeaderValues::Many(values) => values,
                    };
                    match groups.iter_mut().find(|(seen, _)| *seen == name) {
                        Some((_, gathered)) => gathered.extend(values),
                        None => groups.push((name, values)),
                    }
                }
                let pairs = groups
                    .into_iter()
                    .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
                    .collect();
                Ok(RawHeaders(pairs))
            }
        }
        deserializer.deserialize_any(HeadersVisitor)
    }
}

/// One header's value(s).
enum HeaderValues {
    /// `"name": "value"`.
    One(String),
    /// `"name": ["value", "value"]`.
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for HeaderValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValuesVisitor;
        impl<'de> Visitor<'de> for ValuesVisitor {
            type Value = HeaderValues;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header value: a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<HeaderValues, E> {
                Ok(HeaderValues::One(value.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderValues, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(HeaderValues::Many(values))
            }
        }
        deserializer.deserialize_any(ValuesVisitor)
    }
}
