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
//! and Chrome for some responses); [`Content::decoded_text`] undoes that with a small local
//! decoder instead of a dependency.

use serde::Deserialize;

use crate::trace::time::parse_rfc3339;

mod body;

pub use body::{estimate_input_tokens, usage_from_body};

/// A HAR file: `{"log": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Har {
    /// The log.
    pub log: Log,
}

/// The HAR log.
#[derive(Debug, Clone, Deserialize)]
pub struct Log {
    /// Every recorded exchange, usually in start order (not guaranteed).
    pub entries: Vec<Entry>,
}

/// One request/response exchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When the request started: ISO 8601 (`2025-06-01T10:00:00.123Z`, `…+02:00`).
    pub started_date_time: String,
    /// Total elapsed time of the exchange in milliseconds (fractional; -1 or absent: unknown).
    #[serde(default)]
    pub time: Option<f64>,
    /// What was sent.
    pub request: HarRequest,
    /// What came back (`status` 0 when nothing did).
    pub response: HarResponse,
}

impl Entry {
    /// `startedDateTime` as µs since the Unix epoch. RFC 3339 (as HAR 1.2 asks), plus the
    /// `±HHMM` offset without a colon that some tools write.
    ///
    /// # Errors
    ///
    /// Why the text is not such a date-time.
    ///
    /// # Examples
    ///
    /// ```
    /// # let entry: headroom_sim::har::Entry = serde_json::from_str(r#"{"startedDateTime": "2025-06-01T12:00:00.5+0200",
    /// #   "request": {"method": "GET", "url": "https://x"}, "response": {"status": 200}}"#).unwrap();
    /// assert_eq!(entry.started_unix_us(), Ok(1_748_772_000_500_000));
    /// ```
    pub fn started_unix_us(&self) -> Result<i64, &'static str> {
        let text = self.started_date_time.as_str();
        parse_rfc3339(text).or_else(|why| {
            let split = text
                .len()
                .checked_sub(5)
                .filter(|at| text.is_char_boundary(*at));
            match split.map(|at| text.split_at(at)) {
                Some((head, offset)) if offset.starts_with(['+', '-']) && !offset.contains(':') => {
                    let (hours, minutes) = offset.split_at(3);
                    parse_rfc3339(&format!("{head}{hours}:{minutes}")).map_err(|_| why)
                }
                _ => Err(why),
            }
        })
    }
}

/// A recorded request.
#[derive(Debug, Clone, Deserialize)]
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
pub struct NameValue {
    /// The name, in the case the tool recorded.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A response body.
#[derive(Debug, Clone, Deserialize)]
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
                String::from_utf8(decode_base64(text)?).ok()
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
        let text = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        Self {
            path: match path.strip_suffix(".?").unwrap_or(path) {
                "." | "?" => String::new(),
                known => known.to_owned(),
            },
            line: error.line().max(1),
            column: error.column().max(1),
            message: text.strip_suffix(&suffix).unwrap_or(&text).to_owned(),
        }
    }
}

/// Parses a HAR document, naming the field of a type error (`log.entries[2].time`).
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
/// ```
pub fn parse(text: &str) -> Result<Har, HarError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let har = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| HarError::new(&error.path().to_string(), error.inner()))?;
    deserializer
        .end()
        .map_err(|error| HarError::new("", &error))?;
    Ok(har)
}

/// Decodes standard or URL-safe base64, padded or not, ignoring whitespace.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0_u32;
    let mut bits = 0_u32;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_standard_and_url_safe_forms() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVs\nbG8h").as_deref(), Some(&b"hello!"[..]));
        assert_eq!(decode_base64("-_8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(decode_base64(""), Some(Vec::new()));
        assert_eq!(decode_base64("a*b"), None);
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
            entry.started_unix_us()
        };
        assert_eq!(at("2025-06-01T10:00:00.5Z"), Ok(1_748_772_000_500_000));
        assert_eq!(at("2025-06-01T12:00:00.5+0200"), Ok(1_748_772_000_500_000));
        assert_eq!(at("2025-06-01T07:00:00.5-0300"), Ok(1_748_772_000_500_000));
        assert!(at("2025-06-01T12:00:00.5+02").is_err());
        assert!(at("2025-06-01T12:00:00é0200").is_err());
        assert!(at("yesterday").is_err());
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
