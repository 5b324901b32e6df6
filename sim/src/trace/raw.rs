//! The serde shapes of trace lines as written, before validation.
//!
//! Kept apart from the public model so the model carries only validated values (µs, ordered
//! header pairs) and the text format's quirks (two spellings of `t`, a header value that may be
//! a string or an array, `null` cache counts) stay in one place.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

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
    /// The world to replay it in (v1.1); a key given twice is an error where it is read.
    #[serde(default)]
    pub world: Option<crate::world::WorldObject>,
}

/// A `"type": "request"` line. Its strings borrow from the line unless they hold escapes.
///
/// `kind` and `trace` are what the line's type probe reads: a line parsed straight as this
/// shape, without a probe first, is taken only when they say it is a request line.
#[derive(Deserialize)]
pub(crate) struct RawRequest<'a> {
    #[serde(borrow)]
    pub t: RawTime<'a>,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub lane: Option<Text<'a>>,
    pub input_tokens: u64,
    pub max_tokens: u64,
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(default)]
    pub trace: Option<de::IgnoredAny>,
}

/// A `"type": "response"` line (`kind` and `trace` as for [`RawRequest`]).
#[derive(Deserialize)]
pub(crate) struct RawResponse<'a> {
    #[serde(borrow)]
    pub t: RawTime<'a>,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub status: u16,
    #[serde(default)]
    pub headers: RawHeaders,
    #[serde(default)]
    pub usage: Option<RawUsage>,
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(default)]
    pub trace: Option<de::IgnoredAny>,
}

/// A JSON string borrowed from the line unless it holds escapes. serde borrows a bare
/// `Cow<str>` field but copies one inside an `Option`; this one borrows in both.
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(value.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
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

/// The largest time a numeric `t` may hold, in microseconds (2⁵² µs, about 142 years): up to
/// there, microseconds → the `f64` of seconds the writer prints → parsed back is exact, so a
/// trace written in the numeric form reads back unchanged.
pub(crate) const MAX_NUMERIC_MICROS: u64 = 1 << 52;

/// Why a number of seconds could not become microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondsError {
    /// Below zero.
    Negative,
    /// NaN, infinite, or beyond [`MAX_NUMERIC_MICROS`].
    OutOfRange,
}

/// A numeric `t` (seconds, a JSON number, so an `f64`) → whole microseconds, rounded to
/// nearest (the writer's `f64` of `µs / 10⁶` may be a hair below the microsecond it came from),
/// at most [`MAX_NUMERIC_MICROS`].
pub(crate) fn seconds_to_micros(seconds: f64) -> Result<u64, SecondsError> {
    if seconds.is_sign_negative() && seconds != 0.0 {
        return Err(SecondsError::Negative);
    }
    let duration = Duration::try_from_secs_f64(seconds).map_err(|_| SecondsError::OutOfRange)?;
    match u64::try_from(duration.as_nanos().saturating_add(500) / 1_000) {
        Ok(micros) if micros <= MAX_NUMERIC_MICROS => Ok(micros),
        _ => Err(SecondsError::OutOfRange),
    }
}

/// Whole microseconds → the `f64` of seconds the writer prints (the JSON number nearest to the
/// exact value; [`seconds_to_micros`] takes it back to the same microsecond).
#[expect(
    clippy::float_arithmetic,
    reason = "one correctly rounded division of two exact values gives the f64 nearest µs/10^6"
)]
pub(crate) fn micros_to_seconds(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// `t` as written: a number of seconds or an RFC 3339 string.
pub(crate) enum RawTime<'a> {
    /// A JSON number (may be negative: checked later, with a better message).
    Seconds(f64),
    /// A number of seconds already read to its exact whole microseconds, at most
    /// [`MAX_NUMERIC_MICROS`] (never from serde: the writer's spelling read without it).
    Micros(u64),
    /// A JSON string (parsed later), borrowed from the line unless it holds escapes.
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTime<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TimeVisitor<'a> {
            type Value = RawTime<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds (a number) or an RFC 3339 string")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawTime<'a>, E> {
                Ok(RawTime::Seconds(value as f64))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawTime<'a>, E> {
                Ok(RawTime::Seconds(value as f64))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawTime<'a>, E> {
                Ok(RawTime::Seconds(value))
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<RawTime<'a>, E> {
                Ok(RawTime::Text(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawTime<'a>, E> {
                Ok(RawTime::Text(Cow::Owned(value.to_owned())))
            }
        }
        deserializer.deserialize_any(TimeVisitor(PhantomData))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_to_the_nearest_microsecond() {
        assert_eq!(seconds_to_micros(0.812), Ok(812_000));
        assert_eq!(seconds_to_micros(0.0000004), Ok(0));
        assert_eq!(seconds_to_micros(0.0000006), Ok(1));
        assert_eq!(seconds_to_micros(-0.0), Ok(0));
        assert_eq!(seconds_to_micros(-0.5), Err(SecondsError::Negative));
        assert_eq!(seconds_to_micros(f64::NAN), Err(SecondsError::OutOfRange));
        assert_eq!(seconds_to_micros(1e300), Err(SecondsError::OutOfRange));
    }

    #[test]
    fn seconds_round_trip_through_the_printed_number() {
        for micros in [
            0,
            1,
            999_999,
            812_000,
            4_000_000_000_123_456,
            MAX_NUMERIC_MICROS,
        ] {
            let printed = serde_json::to_string(&micros_to_seconds(micros)).unwrap();
            let read: f64 = serde_json::from_str(&printed).unwrap();
            assert_eq!(seconds_to_micros(read), Ok(micros), "{printed}");
        }
    }
}
