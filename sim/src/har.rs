//! The part of HAR 1.2 the importer reads: entries with their request and response.
//!
//! HAR (HTTP Archive) is what browsers' dev tools, mitmproxy, Charles and Proxyman export, so it
//! is how most users can capture real rate-limit traffic. Only the fields the importer needs are
//! modelled; everything else (`creator`, `pages`, `timings`, cookies, …) is ignored, so captures
//! from tools that add their own `_fields` still load. Fields the spec marks required but the
//! importer can live without are optional here: being lenient about a capture is cheaper than
//! asking the user to edit a multi-megabyte file.
//!
//! Response bodies may be stored base64-encoded (`content.encoding: "base64"`, used by mitmproxy
//! and Chrome for some responses); [`Content::decoded_text`] undoes that with the `base64`
//! crate. Dates go through the core's RFC 3339 parser, the one that reads headers and traces.
//!
//! Values are checked as they are parsed, so a bad one is reported with its line and column:
//! an entry's `time` beyond what a trace can hold is an error there, not a silent 0.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use headroom::datetime::{DateError, parse_rfc3339};
use headroom::time::{Duration, UnixTime};
use serde::{Deserialize, Deserializer};

use crate::trace::{MAX_NUMERIC_MICROS, strip_position};

mod body;

pub use body::{estimate_input_tokens, usage_from_body};

/// A HAR file: `{"log": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR object {\"log\": {\"entries\": […]}}")]
pub struct Har {
    /// The log.
    pub log: Log,
}

/// The HAR log.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR log: an object {\"entries\": […]}")]
pub struct Log {
    /// Every recorded exchange, usually in start order (not guaranteed).
    pub entries: Vec<Entry>,
}

/// One request/response exchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR entry: an object with startedDateTime, request and response")]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When the request started: ISO 8601 (`2025-06-01T10:00:00.123Z`, `…+02:00`).
    pub started_date_time: String,
    /// Total elapsed time of the exchange (HAR gives fractional milliseconds; -1 or absent:
    /// unknown, `None`). More than a trace can hold (about 142 years) is a parse error.
    #[serde(default, deserialize_with = "elapsed")]
    pub time: Option<Duration>,
    /// What was sent.
    pub request: HarRequest,
    /// What came back (`status` 0 when nothing did).
    pub response: HarResponse,
}

impl Entry {
    /// `startedDateTime` as a wall-clock time. RFC 3339 (as HAR 1.2 asks), plus the `±HHMM`
    /// offset without a colon that some tools write.
    ///
    /// # Errors
    ///
    /// Why the text is not such a date-time (the core's parser's answer).
    ///
    /// # Examples
    ///
    /// ```
    /// # let entry: headroom_sim::har::Entry = serde_json::from_str(r#"{"startedDateTime": "2025-06-01T12:00:00.5+0200",
    /// #   "request": {"method": "GET", "url": "https://x"}, "response": {"status": 200}}"#).unwrap();
    /// use headroom::time::UnixTime;
    /// assert_eq!(entry.started(), Ok(UnixTime::from_micros(1_748_772_000_500_000)));
    /// ```
    pub fn started(&self) -> Result<UnixTime, DateError> {
        let text = self.started_date_time.as_bytes();
        parse_rfc3339(text).or_else(|why| match colon_in_offset(text) {
            Some(fixed) => parse_rfc3339(&fixed).map_err(|_| why),
            None => Err(why),
        })
    }
}

/// `…+HHMM` → `…+HH:MM`; `None` unless the text ends in a sign and four ASCII digits. Works on
/// bytes, so any text (a multi-byte character anywhere) is safe.
fn colon_in_offset(text: &[u8]) -> Option<Vec<u8>> {
    let split = text.len().checked_sub(5)?;
    let (head, offset) = text.split_at(split);
    match offset {
        [sign @ (b'+' | b'-'), h0, h1, m0, m1]
            if [h0, h1, m0, m1].iter().all(|digit| digit.is_ascii_digit()) =>
        {
            let mut fixed = head.to_vec();
            fixed.extend_from_slice(&[*sign, *h0, *h1, b':', *m0, *m1]);
            Some(fixed)
        }
        _ => None,
    }
}

/// Reads an entry's `time`: milliseconds as a JSON number; negative means unknown (`None`);
/// more than [`MAX_NUMERIC_MICROS`] is an error, reported where the number is.
fn elapsed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let Some(millis) = Option::<f64>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if millis < 0.0 {
        return Ok(None);
    }
    // Reading the milliseconds as if they were seconds keeps float arithmetic out of our code:
    // `x` "seconds" are `x·10⁹` ns, so `x` ms are that many ns ÷ 10⁶ µs, rounded to nearest.
    let micros = std::time::Duration::try_from_secs_f64(millis)
        .ok()
        .and_then(|as_if_seconds| {
            u64::try_from(as_if_seconds.as_nanos().saturating_add(500_000) / 1_000_000).ok()
        })
        .filter(|micros| *micros <= MAX_NUMERIC_MICROS);
    match micros {
        Some(micros) => Ok(Some(Duration::from_ticks(micros))),
        None => Err(serde::de::Error::custom(format!(
            "{millis:e} ms is out of range (at most {} ms)",
            MAX_NUMERIC_MICROS / 1_000
        ))),
    }
}

/// A recorded request.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR request: an object with method and url")]
#[serde(rename_all = "camelCase")]
pub struct HarRequest {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The body, for requests that had one.
    #[serde(default)]
    pub post_data: Option<PostData>,
}

/// A request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR postData object")]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    /// Its media type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The body as text (absent when the tool stored `params` instead).
    #[serde(default)]
    pub text: Option<String>,
}

/// A recorded response.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR response: an object with status")]
#[serde(rename_all = "camelCase")]
pub struct HarResponse {
    /// HTTP status; 0 (or negative) when the request got no response (aborted, failed).
    pub status: i64,
    /// Response headers in wire order, duplicates kept.
    #[serde(default)]
    pub headers: Vec<NameValue>,
    /// The body.
    #[serde(default)]
    pub content: Option<Content>,
}

/// A header (or any HAR name/value pair).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(expecting = "a HAR name/value pair: an object {\"name\": …, \"value\": …}")]
pub struct NameValue {
    /// The name, in the case the tool recorded.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A response body.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a HAR content object")]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// Its media type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The body text (decoded from content-encoding such as gzip by the recording tool).
    #[serde(default)]
    pub text: Option<String>,
    /// `base64` when `text` is base64; absent for plain text.
    #[serde(default)]
    pub encoding: Option<String>,
}

impl Content {
    /// The body as text: `text` itself, or base64-decoded when `encoding` says so. `None` when
    /// there is no text, or the base64 or the UTF-8 inside it is malformed.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::har::Content;
    /// let content = Content { mime_type: None, text: Some("eyJhIjoxfQ==".into()), encoding: Some("base64".into()) };
    /// assert_eq!(content.decoded_text().as_deref(), Some("{\"a\":1}"));
    /// ```
    pub fn decoded_text(&self) -> Option<String> {
        let text = self.text.as_deref()?;
        match self.encoding.as_deref() {
            Some(encoding) if encoding.eq_ignore_ascii_case("base64") => {
                String::from_utf8(decode_base64(text).ok()?).ok()
            }
            _ => Some(text.to_owned()),
        }
    }
}

/// Why a file is not a HAR document: where, and what serde_json said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarError {
    /// The field at fault (`log.entries[2].time`); empty for the document as a whole.
    pub path: String,
    /// 1-based line in the file (serde_json's).
    pub line: usize,
    /// 1-based byte column in that line (serde_json's).
    pub column: usize,
    /// serde_json's message, without its position.
    pub message: String,
}

impl std::fmt::Display for HarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for HarError {}

impl HarError {
    /// From a serde_json error at `path` (`.`/`?` meaning none).
    fn new(path: &str, error: &serde_json::Error) -> Self {
        Self {
            path: match path.strip_suffix(".?").unwrap_or(path) {
                "." | "?" => String::new(),
                known => known.to_owned(),
            },
            line: error.line().max(1),
            column: error.column().max(1),
            message: strip_position(error),
        }
    }
}

/// Parses a HAR document, naming the field of a type error (`log.entries[2].time`). A leading
/// UTF-8 byte order mark (some Windows tools write one) is skipped, as the trace reader skips
/// it; columns on the first line are then counted after it.
///
/// # Errors
///
/// Malformed JSON, or JSON that is not HAR, with serde_json's line and column.
///
/// # Examples
///
/// ```
/// let har = headroom_sim::har::parse(r#"{"log": {"version": "1.2", "entries": []}}"#).unwrap();
/// assert!(har.log.entries.is_empty());
/// let error = headroom_sim::har::parse(r#"{"log": {"entries": 5}}"#).unwrap_err();
/// assert_eq!(error.to_string(), "log.entries: invalid type: integer `5`, expected a sequence");
/// assert!(headroom_sim::har::parse("\u{feff}{\"log\": {\"entries\": []}}").is_ok());
/// ```
pub fn parse(text: &str) -> Result<Har, HarError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let har = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| HarError::new(&error.path().to_string(), error.inner()))?;
    deserializer
        .end()
        .map_err(|error| HarError::new("", &error))?;
    Ok(har)
}

/// Decodes standard or URL-safe base64, padded or not, ignoring whitespace (tools wrap long
/// bodies).
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let compact: String = text.split_ascii_whitespace().collect();
    let alphabet = if compact.contains(['-', '_']) {
        &alphabet::URL_SAFE
    } else {
        &alphabet::STANDARD
    };
    GeneralPurpose::new(alphabet, config).decode(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_standard_and_url_safe_forms() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(decode_base64("-_8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("+/8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a*b").is_err());
    }

    #[test]
    fn content_text_is_plain_unless_marked_base64() {
        let plain = Content {
            mime_type: None,
            text: Some("aGk=".into()),
            encoding: None,
        };
        assert_eq!(plain.decoded_text().as_deref(), Some("aGk="));
        let encoded = Content {
            encoding: Some("BASE64".into()),
            ..plain.clone()
        };
        assert_eq!(encoded.decoded_text().as_deref(), Some("hi"));
        let broken = Content {
            text: Some("/w==".into()),
            ..encoded
        };
        assert_eq!(broken.decoded_text(), None, "0xff is not UTF-8");
    }

    #[test]
    fn started_date_times_accept_rfc3339_and_colonless_offsets() {
        let at = |text: &str| {
            let entry = Entry {
                started_date_time: text.to_owned(),
                time: None,
                request: HarRequest {
                    method: "GET".into(),
                    url: "https://x".into(),
                    post_data: None,
                },
                response: HarResponse {
                    status: 200,
                    headers: Vec::new(),
                    content: None,
                },
            };
            entry.started()
        };
        let want = Ok(UnixTime::from_micros(1_748_772_000_500_000));
        assert_eq!(at("2025-06-01T10:00:00.5Z"), want);
        assert_eq!(at("2025-06-01T12:00:00.5+0200"), want);
        assert_eq!(at("2025-06-01T07:00:00.5-0300"), want);
        assert!(at("2025-06-01T12:00:00.5+02").is_err());
        assert!(at("2025-06-01T12:00:00é0200").is_err());
        assert!(at("yesterday").is_err());
        // Found by the `trace` fuzz target: a multi-byte character in the offset used to split
        // the text inside the character (a panic).
        assert_eq!(
            at("2025-06-01T12:00:00.5+\u{feff}0"),
            Err(DateError::Syntax)
        );
        assert_eq!(
            at("2025-06-01T12:00:00.5\u{feff}0200"),
            Err(DateError::Syntax)
        );
        // One parser, one answer on leap seconds: the core's (`:60` is `:59`).
        assert_eq!(
            at("2016-12-31T23:59:60Z"),
            Ok(UnixTime::from_secs(1_483_228_799))
        );
    }

    #[test]
    fn times_out_of_range_are_errors_where_they_stand() {
        let entry = |time: &str| {
            format!(
                "{{\"log\": {{\"entries\": [{{\"startedDateTime\": \"2025-06-01T10:00:00Z\",\n \"time\": {time}, \"request\": {{\"method\": \"GET\", \"url\": \"u\"}}, \"response\": {{\"status\": 200}}}}]}}}}"
            )
        };
        let error = parse(&entry("1e308")).unwrap_err();
        assert_eq!(error.path, "log.entries[0].time");
        assert_eq!((error.line, error.column), (2, 14));
        assert!(
            error.message.contains("1e308 ms is out of range"),
            "{error}"
        );
        let times = |time: &str| parse(&entry(time)).unwrap().log.entries[0].time;
        assert_eq!(times("812.5"), Some(headroom::time::micros(812_500)));
        assert_eq!(times("-1"), None);
        assert_eq!(times("null"), None);
    }

    #[test]
    fn errors_describe_har_not_rust_types() {
        for (text, expected) in [
            ("[]", "a HAR object {\"log\": {\"entries\": […]}}"),
            ("\"x\"", "a HAR object {\"log\": {\"entries\": […]}}"),
            ("{\"log\": 5}", "a HAR log: an object {\"entries\": […]}"),
            (
                "{\"log\": {\"entries\": [5]}}",
                "a HAR entry: an object with",
            ),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(!message.contains("struct"), "{text}: {message}");
            assert!(!message.contains(" at line "), "{text}: {message}");
        }
    }

    #[test]
    fn parse_reports_paths_lines_and_columns() {
        let error = parse("{\"log\": {\"entries\": [\n  {\"startedDateTime\": 5}]}}").unwrap_err();
        assert_eq!(error.path, "log.entries[0].startedDateTime");
        assert_eq!((error.line, error.column), (2, 23));
        let error = parse("{\"log\": {\"entries\": []}} x").unwrap_err();
        assert_eq!(error.to_string(), "trailing characters");
        assert_eq!((error.line, error.column), (1, 26));
    }
}
