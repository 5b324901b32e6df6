//! `headroom inspect headers FILE|-`: what the core's parser understood, as JSON.
//!
//! When a limiter misbehaves, the first question is "what did the headers actually say, and what
//! did headroom make of them?". This command answers it for a header block pasted from
//! `curl -i`, browser dev tools or a log: it runs the very parser the engine uses
//! ([`headroom::headers::parse`]) and prints the result in the shape fixed by `trace-format.md`
//! §2, including every field that was ignored and why, with its original text.
//!
//! Input: "Name: value" lines, CRLF or LF, optionally preceded by a status line
//! (`HTTP/1.1 429 Too Many Requests`, `HTTP/2 200`). A line that starts with white space
//! continues the previous field (obsolete line folding, joined with one space). The block ends
//! at the first empty line after a field (a line of white space alone counts as empty), so a
//! body that follows is not read; a block with a 1xx status (`HTTP/1.1 100 Continue`) is
//! skipped in favour of the one after it. A leading UTF-8 byte order mark is skipped, as the
//! trace reader skips it; empty input, or white space alone, is an empty block (no fields), as
//! an empty file always was.
//!
//! Output: absent facts are absent, not `null` (as `limits` omits absent kinds); `dialect`,
//! `limits` and `ignored` are always present. Two optional fields extend the contract:
//! `window_ms` in a limit (IETF policies name their window) and `ignored_dropped` when more
//! fields were ignored than a snapshot records.

use std::io::{Read, Write};

use headroom::datetime::Rfc3339;
use headroom::headers::{self, Reading, Reset, RetryAfter, Scope, SdkNumber, Snapshot};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::cli::CliError;

/// A raw header block: the status line's code, if any, and the fields in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    /// The code of the status line, if there was one.
    pub status: Option<u16>,
    /// `(name, value)` pairs, values trimmed of surrounding white space, in input order.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Runs `inspect headers` on `path` (`-` for standard input) and prints the JSON report.
///
/// # Errors
///
/// [`CliError::Input`] when the input cannot be read or is not a header block (the message
/// names the file, line and column); [`CliError::Io`] when standard output fails.
///
/// # Examples
///
/// ```no_run
/// headroom_sim::inspect::run_headers("response-headers.txt")?;
/// # Ok::<(), headroom_sim::cli::CliError>(())
/// ```
pub fn run_headers(path: &str) -> Result<(), CliError> {
    let (label, input) = read_input(path)?;
    let block = parse_block(&label, &input)?;
    let report = report_json(&block);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}")?;
    stdout.flush()?;
    Ok(())
}

fn read_input(path: &str) -> Result<(String, Vec<u8>), CliError> {
    let mut input = Vec::new();
    if path == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut input)
            .map_err(|error| CliError::Input(format!("<stdin>: cannot read: {error}")))?;
        Ok(("<stdin>".to_owned(), input))
    } else {
        let input = std::fs::read(path)
            .map_err(|error| CliError::Input(format!("{path}: cannot read: {error}")))?;
        Ok((path.to_owned(), input))
    }
}

/// Splits a raw header block into its status and fields. `label` names the input in errors.
///
/// # Errors
///
/// [`CliError::Input`] with `LABEL:LINE:COL: message` for a line without a colon, an empty or
/// invalid field name, a continuation line before any field, or a malformed status line.
///
/// # Examples
///
/// ```
/// use headroom_sim::inspect::parse_block;
///
/// let block = parse_block("x", b"HTTP/2 429\r\nRetry-After: 16\r\n\r\nbody").unwrap();
/// assert_eq!(block.status, Some(429));
/// assert_eq!(block.fields, [(b"Retry-After".to_vec(), b"16".to_vec())]);
/// assert!(parse_block("x", b"Retry-After 16").is_err());
/// assert_eq!(parse_block("x", b" \r\n\t\n").unwrap(), Default::default());
/// assert_eq!(parse_block("x", "\u{feff}Retry-After: 16".as_bytes()).unwrap().fields.len(), 1);
/// ```
pub fn parse_block(label: &str, input: &[u8]) -> Result<HeaderBlock, CliError> {
    let error = |line: usize, column: usize, message: &str| {
        CliError::Input(format!("{label}:{line}:{column}: {message}"))
    };
    let mut block = HeaderBlock::default();
    let mut started = false;
    let input = input.strip_prefix("\u{feff}".as_bytes()).unwrap_or(input);
    for (number, line) in input.split(|&b| b == b'\n').enumerate() {
        let number = number + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // White space alone folds nothing into a field: it is an empty line.
        if line.trim_ascii().is_empty() {
            if !started {
                continue;
            }
            if block
                .status
                .is_some_and(|status| (100..200).contains(&status))
            {
                block = HeaderBlock::default();
                started = false;
                continue;
            }
            break;
        }
        if !started && line.starts_with(b"HTTP/") {
            block.status = Some(
                status_code(line).map_err(|(column, message)| error(number, column, message))?,
            );
            started = true;
            continue;
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            let Some((_, value)) = block.fields.last_mut() else {
                return Err(error(number, 1, "continuation line before any field"));
            };
            value.push(b' ');
            value.extend_from_slice(line.trim_ascii());
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(error(number, 1, "expected \"Name: value\", found no colon"));
        };
        let name = &line[..colon];
        if name.is_empty() {
            return Err(error(number, 1, "empty field name"));
        }
        if let Some(bad) = name.iter().position(|&b| !is_tchar(b)) {
            return Err(error(number, bad + 1, "invalid character in field name"));
        }
        let value = trim_ows(&line[colon + 1..]);
        block.fields.push((name.to_vec(), value.to_vec()));
        started = true;
    }
    Ok(block)
}

/// `HTTP/1.1 429 Too Many Requests` → 429, or the column and message of the problem.
fn status_code(line: &[u8]) -> Result<u16, (usize, &'static str)> {
    let version_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let rest = &line[version_end..];
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let column = version_end + spaces + 1;
    let code = &rest[spaces..];
    let digits: Vec<u8> = code
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    let after = code.get(digits.len()).copied();
    if digits.len() != 3 || after.is_some_and(|b| b != b' ') || digits.first() == Some(&b'0') {
        return Err((column, "expected a three-digit status code"));
    }
    std::str::from_utf8(&digits)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .filter(|status| crate::trace::HTTP_STATUSES.contains(status))
        .ok_or((column, "expected a status code from 100 to 599"))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// Parses `block` with the core and renders the `inspect headers` JSON (pretty-printed).
///
/// # Examples
///
/// ```
/// use headroom_sim::inspect::{parse_block, report_json};
///
/// let block = parse_block("x", b"x-ratelimit-limit-tokens: -1\nretry-after: 20abc\n").unwrap();
/// let json: serde_json::Value = serde_json::from_str(&report_json(&block)).unwrap();
/// assert_eq!(json["dialect"], "openai");
/// assert_eq!(json["ignored"][0]["why"], "unlimited (-1 sentinel)");
/// assert_eq!(json["limits"], serde_json::json!({}));
/// // headroom refuses `20abc`; JavaScript's parseFloat reads 20 s, Python's float() nothing.
/// assert_eq!(json["sdk_retry_after_ms"], serde_json::json!({"javascript": 20_000}));
/// ```
pub fn report_json(block: &HeaderBlock) -> String {
    let snapshot = headers::parse(
        block.status,
        block
            .fields
            .iter()
            .map(|(name, value)| (name.as_slice(), value.as_slice())),
    );
    let report = Report::new(&snapshot, block);
    serde_json::to_string_pretty(&report).unwrap_or_else(|_| String::from("{}"))
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    dialect: &'static str,
    /// `retry-after` given as an HTTP-date: that instant (the delay in ms follows only with a
    /// `Date` to measure it from).
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
    /// The server's delay as the SDKs read it, in ms; only when a reading differs from headroom's.
    #[serde(skip_serializing_if = "Option::is_none")]
    sdk_retry_after_ms: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    should_retry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    limits: Limits,
    ignored: Vec<IgnoredField>,
    #[serde(skip_serializing_if = "is_zero")]
    ignored_dropped: u16,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// Limits keyed by scope name, in [`Scope::ALL`] order.
#[derive(Debug)]
struct Limits(Vec<(&'static str, LimitReport)>);

impl Serialize for Limits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, limit) in &self.0 {
            map.serialize_entry(name, limit)?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct LimitReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_in_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct IgnoredField {
    name: String,
    value: String,
    why: String,
}

impl Report {
    fn new(snapshot: &Snapshot, block: &HeaderBlock) -> Self {
        let millis = |micros: u64| micros / 1_000;
        let limits = Scope::ALL
            .iter()
            .filter_map(|&scope| {
                let quota = snapshot.quota(scope)?;
                let reset = match quota.reset {
                    Some(Reset::At(at)) => Some(Rfc3339(at).to_string()),
                    _ => None,
                };
                Some((
                    scope.name(),
                    LimitReport {
                        limit: quota.limit,
                        remaining: quota.remaining,
                        reset,
                        reset_in_ms: quota
                            .reset_in(snapshot.date)
                            .map(|delay| millis(delay.as_ticks())),
                        window_ms: quota.window.map(|window| millis(window.as_ticks())),
                    },
                ))
            })
            .collect();
        let ignored = snapshot
            .ignored
            .iter()
            .map(|ignored| {
                let (name, value) = block
                    .fields
                    .get(usize::from(ignored.index))
                    .map(|(name, value)| {
                        (
                            String::from_utf8_lossy(name).into_owned(),
                            String::from_utf8_lossy(value).into_owned(),
                        )
                    })
                    .unwrap_or_default();
                IgnoredField {
                    name,
                    value,
                    why: ignored.why.to_string(),
                }
            })
            .collect();
        Self {
            status: snapshot.status,
            dialect: snapshot.dialect.name(),
            retry_after: match snapshot.retry_after {
                Some(RetryAfter::At(at)) => Some(Rfc3339(at).to_string()),
                _ => None,
            },
            retry_after_ms: snapshot
                .server_delay()
                .map(|delay| millis(delay.as_ticks())),
            sdk_retry_after_ms: sdk_readings(snapshot),
            should_retry: snapshot.should_retry,
            date: snapshot.date.map(|date| Rfc3339(date).to_string()),
            limits: Limits(limits),
            ignored,
            ignored_dropped: snapshot.ignored_dropped,
        }
    }
}

/// `{"python": …, "javascript": …}`: each SDK's reading of the retry fields in ms (a number,
/// to the µs, or `"NaN"`, `"inf"`, `"-inf"`), when one of them differs from [`Snapshot::server_delay`].
fn sdk_readings(snapshot: &Snapshot) -> Option<serde_json::Map<String, serde_json::Value>> {
    let strict = snapshot.server_value(Reading::Strict);
    let readings = [
        ("python", Reading::Python),
        ("javascript", Reading::JavaScript),
    ];
    if readings
        .iter()
        .all(|&(_, reading)| snapshot.server_value(reading) == strict)
    {
        return None;
    }
    let shown = readings.iter().filter_map(|&(name, reading)| {
        let value = match snapshot.server_value(reading)? {
            SdkNumber::Finite { negative, micros } => {
                let sign = if negative && micros > 0 { "-" } else { "" };
                let text = match micros % 1_000 {
                    0 => format!("{sign}{}", micros / 1_000),
                    fraction => format!("{sign}{}.{fraction:03}", micros / 1_000),
                };
                text.parse::<serde_json::Number>()
                    .map_or(serde_json::Value::String(text), serde_json::Value::Number)
            }
            SdkNumber::Infinite { negative } => {
                serde_json::json!(if negative { "-inf" } else { "inf" })
            }
            SdkNumber::NaN => serde_json::json!("NaN"),
        };
        Some((name.to_owned(), value))
    });
    Some(shown.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_forms() {
        let block = parse_block("f", b"\n\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nA: 1\r\nB:2 \r\n\t3\r\n\r\nC: 4").unwrap();
        assert_eq!(block.status, Some(429));
        assert_eq!(
            block.fields,
            [
                (b"A".to_vec(), b"1".to_vec()),
                (b"B".to_vec(), b"2 3".to_vec())
            ]
        );
        assert_eq!(parse_block("f", b"").unwrap(), HeaderBlock::default());
        assert_eq!(parse_block("f", b"HTTP/2 200\n").unwrap().status, Some(200));
    }

    #[test]
    fn a_status_outside_http_is_refused_at_its_column() {
        for line in [&b"HTTP/1.1 999 Odd\n"[..], b"HTTP/1.1 600\n"] {
            let error = parse_block("f", line).unwrap_err().to_string();
            assert_eq!(
                error, "f:1:10: expected a status code from 100 to 599",
                "{error}"
            );
        }
        assert_eq!(
            parse_block("f", b"HTTP/1.1 599\n").unwrap().status,
            Some(599)
        );
    }

    #[test]
    fn block_errors_name_line_and_column() {
        let message = |input: &[u8]| match parse_block("f.txt", input) {
            Err(CliError::Input(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(message(b"A: 1\nnonsense\n").starts_with("f.txt:2:1: "));
        assert!(message(b" folded\n").starts_with("f.txt:1:1: "));
        assert!(message(b": x\n").starts_with("f.txt:1:1: "));
        assert!(message(b"A: 1\nBad Name: 2\n").starts_with("f.txt:2:4: "));
        assert!(message(b"HTTP/1.1 42 Oops\n").starts_with("f.txt:1:10: "));
        assert!(message(b"HTTP/1.1\n").starts_with("f.txt:1:9: "));
    }
}
