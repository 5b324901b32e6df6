//! Text → [`Trace`], checking every rule of the v1 contract, stopping at the first error.
//!
//! Each line is parsed twice with serde: a probe reads only `type`/`trace` to learn what the
//! line is, then the line is parsed as exactly that kind. Parsing into one struct holding every
//! field of every kind would make a future optional field of one kind an error in another.
//! Fields are parsed through `serde_path_to_error` so a type error names its field
//! (`status: invalid type: string "abc", expected u16`). The reader returns a whole trace or
//! an error, never a prefix: a partial trace must not be mistaken for the recording.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::json_scan::value_column;
use super::raw::{RawHeaderLine, RawRequest, RawResponse, RawTime};
use super::time::{
    SecondsError, display_seconds, format_rfc3339, parse_rfc3339, seconds_to_micros,
};
use super::{Event, Header, Request, Response, TimeForm, Trace, TraceError, TraceErrorKind, Usage};

/// Reads a trace from `input`; `file` names it in errors.
///
/// # Errors
///
/// The first I/O, syntax, type or validation error, with its line and column.
///
/// # Examples
///
/// ```
/// let text = "# a comment\n\n{\"t\": \"2025-06-01T10:00:00Z\", \"type\": \"request\", \"id\": \"a\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
/// let parsed = headroom_sim::trace::read(text.as_bytes(), "t.jsonl").unwrap();
/// assert_eq!(parsed.events[0].t_us(), 0);
/// ```
pub fn read(mut input: impl BufRead, file: &str) -> Result<Trace, TraceError> {
    let mut state = State::new(file);
    let mut buffer = Vec::new();
    let mut line_number = 0_usize;
    loop {
        buffer.clear();
        let read = input
            .read_until(b'\n', &mut buffer)
            .map_err(|error| TraceError {
                file: file.to_owned(),
                line: 0,
                column: 0,
                kind: TraceErrorKind::Io(error.to_string()),
            })?;
        if read == 0 {
            return Ok(state.trace);
        }
        line_number = line_number.saturating_add(1);
        let complete = buffer.last() == Some(&b'\n');
        let mut bytes = buffer.as_slice();
        if line_number == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        let line = std::str::from_utf8(bytes).map_err(|error| {
            state.error(
                line_number,
                error.valid_up_to().saturating_add(1),
                TraceErrorKind::InvalidUtf8,
            )
        })?;
        let line = line.trim_end_matches(['\n', '\r']);
        state.line(line_number, line, complete)?;
    }
}

/// Reads a trace from a string; `file` names it in errors.
///
/// # Errors
///
/// As [`read`].
///
/// # Examples
///
/// ```
/// let parsed = headroom_sim::trace::read_str("{\"trace\": 1, \"note\": \"empty\"}", "t.jsonl").unwrap();
/// assert_eq!(parsed.header.note.as_deref(), Some("empty"));
/// ```
pub fn read_str(text: &str, file: &str) -> Result<Trace, TraceError> {
    read(text.as_bytes(), file)
}

/// Reads the trace file at `path`, naming it in errors as given; `-` reads standard input
/// (named `<stdin>` in errors).
///
/// # Errors
///
/// The file cannot be opened (reported at line 0), or as [`read`].
///
/// # Examples
///
/// ```
/// let error = headroom_sim::trace::read_file("no/such/file.jsonl").unwrap_err();
/// assert!(error.to_string().starts_with("no/such/file.jsonl: cannot read: "));
/// ```
pub fn read_file(path: impl AsRef<Path>) -> Result<Trace, TraceError> {
    let path = path.as_ref();
    if path == Path::new("-") {
        return read(std::io::stdin().lock(), "<stdin>");
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|error| TraceError {
        file: name.clone(),
        line: 0,
        column: 0,
        kind: TraceErrorKind::Io(error.to_string()),
    })?;
    read(BufReader::new(file), &name)
}

/// What a line is, learned before parsing it as that.
#[derive(Deserialize)]
struct Probe {
    /// `request` or `response` on event lines.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// Present on the header line.
    #[serde(default)]
    trace: Option<serde::de::IgnoredAny>,
}

/// The reader's progress through one file.
struct State<'f> {
    /// The file's name for errors.
    file: &'f str,
    /// What has been read so far.
    trace: Trace,
    /// Whether a non-comment line has been seen (a header must come before).
    seen_content: bool,
    /// The time form fixed by the first timed line, and that line.
    form: Option<(bool, usize)>,
    /// The previous event's time (µs since the trace start, or since the epoch for RFC 3339)
    /// and line.
    previous: Option<(i128, usize)>,
    /// Requests in flight: id → line.
    in_flight: HashMap<String, usize>,
    /// Ids whose last request was answered: id → line of the response.
    answered: HashMap<String, usize>,
}

impl<'f> State<'f> {
    fn new(file: &'f str) -> Self {
        Self {
            file,
            trace: Trace::default(),
            seen_content: false,
            form: None,
            previous: None,
            in_flight: HashMap::new(),
            answered: HashMap::new(),
        }
    }

    fn error(&self, line: usize, column: usize, kind: TraceErrorKind) -> TraceError {
        TraceError {
            file: self.file.to_owned(),
            line,
            column,
            kind,
        }
    }

    /// Takes one line (without its newline); `complete` says a newline ended it.
    fn line(&mut self, number: usize, line: &str, complete: bool) -> Result<(), TraceError> {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(());
        }
        if !trimmed.starts_with('{') {
            let column = line.len().saturating_sub(trimmed.len()).saturating_add(1);
            return Err(self.error(number, column, TraceErrorKind::NotAnObject));
        }
        let probe: Probe = self.parse(number, line, complete)?;
        let first = !self.seen_content;
        self.seen_content = true;
        let at = |key: &str| value_column(line, key).unwrap_or(1);
        if probe.trace.is_some() {
            if !first {
                return Err(self.error(number, at("trace"), TraceErrorKind::HeaderNotFirst));
            }
            let raw: RawHeaderLine = self.parse(number, line, complete)?;
            if raw.trace != 1 {
                let kind = TraceErrorKind::UnsupportedVersion(raw.trace);
                return Err(self.error(number, at("trace"), kind));
            }
            self.trace.header = Header {
                provider: raw.provider,
                model: raw.model,
                note: raw.note,
            };
            return Ok(());
        }
        match probe.kind.as_deref() {
            Some("request") => {
                let raw: RawRequest = self.parse(number, line, complete)?;
                let t_us = self.time(number, at("t"), &raw.t)?;
                if let Some(&first_line) = self.in_flight.get(&raw.id) {
                    let kind = TraceErrorKind::DuplicateRequest {
                        id: raw.id,
                        first_line,
                    };
                    return Err(self.error(number, at("id"), kind));
                }
                self.in_flight.insert(raw.id.clone(), number);
                self.trace.events.push(Event::Request(Request {
                    t_us,
                    id: raw.id,
                    lane: raw.lane,
                    input_tokens: raw.input_tokens,
                    max_tokens: raw.max_tokens,
                }));
            }
            Some("response") => {
                let raw: RawResponse = self.parse(number, line, complete)?;
                let t_us = self.time(number, at("t"), &raw.t)?;
                if self.in_flight.remove(&raw.id).is_none() {
                    let answered_on_line = self.answered.get(&raw.id).copied();
                    let kind = TraceErrorKind::ResponseWithoutRequest {
                        id: raw.id,
                        answered_on_line,
                    };
                    return Err(self.error(number, at("id"), kind));
                }
                self.answered.insert(raw.id.clone(), number);
                self.trace.events.push(Event::Response(Response {
                    t_us,
                    id: raw.id,
                    status: raw.status,
                    headers: raw.headers.0,
                    usage: raw.usage.map(|usage| Usage {
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                        cache_read_input_tokens: usage.cache_read_input_tokens.unwrap_or(0),
                        cache_creation_input_tokens: usage.cache_creation_input_tokens.unwrap_or(0),
                    }),
                }));
            }
            Some(other) => {
                let kind = TraceErrorKind::UnknownType(other.to_owned());
                return Err(self.error(number, at("type"), kind));
            }
            None => return Err(self.error(number, 1, TraceErrorKind::MissingType)),
        }
        Ok(())
    }

    /// Parses `line` as `T`, mapping serde's errors to this file and line.
    fn parse<T: DeserializeOwned>(
        &self,
        number: usize,
        line: &str,
        complete: bool,
    ) -> Result<T, TraceError> {
        let mut deserializer = serde_json::Deserializer::from_str(line);
        let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            self.json_error(number, &path, error.inner(), complete)
        })?;
        deserializer
            .end()
            .map_err(|error| self.json_error(number, ".", &error, complete))?;
        Ok(parsed)
    }

    /// A serde_json error at `path` of line `number` as a trace error.
    fn json_error(
        &self,
        number: usize,
        path: &str,
        error: &serde_json::Error,
        complete: bool,
    ) -> TraceError {
        let message = strip_position(error);
        let path = path.strip_suffix(".?").unwrap_or(path);
        let message = if matches!(path, "." | "?" | "") {
            message
        } else {
            format!("{path}: {message}")
        };
        let kind = if error.classify() == Category::Eof && !complete {
            TraceErrorKind::Truncated(message)
        } else {
            TraceErrorKind::Json(message)
        };
        self.error(number, error.column().max(1), kind)
    }

    /// Checks `t` against the trace's form and the previous event; µs since the trace start.
    fn time(&mut self, number: usize, column: usize, t: &RawTime) -> Result<u64, TraceError> {
        let is_rfc3339 = matches!(t, RawTime::Text(_));
        match self.form {
            Some((form, first_line)) if form != is_rfc3339 => {
                let kind = TraceErrorKind::MixedTimeForms {
                    this_is_rfc3339: is_rfc3339,
                    first_line,
                };
                return Err(self.error(number, column, kind));
            }
            Some(_) => {}
            None => self.form = Some((is_rfc3339, number)),
        }
        let key = match t {
            RawTime::Seconds(seconds) => match seconds_to_micros(*seconds) {
                Ok(micros) => i128::from(micros),
                Err(SecondsError::Negative) => {
                    return Err(self.error(number, column, TraceErrorKind::NegativeTime));
                }
                Err(SecondsError::OutOfRange) => {
                    return Err(self.error(number, column, TraceErrorKind::TimeOutOfRange));
                }
            },
            RawTime::Text(text) => match parse_rfc3339(text) {
                Ok(unix_us) => i128::from(unix_us),
                Err(why) => {
                    let kind = TraceErrorKind::BadTimestamp(why.to_owned());
                    return Err(self.error(number, column, kind));
                }
            },
        };
        if let Some((previous, previous_line)) = self.previous
            && key < previous
        {
            let show = |key: i128| match t {
                RawTime::Seconds(_) => {
                    format!("{} s", display_seconds(u64::try_from(key).unwrap_or(0)))
                }
                RawTime::Text(_) => format_rfc3339(i64::try_from(key).unwrap_or(0)),
            };
            let kind = TraceErrorKind::TimeBackwards {
                t: show(key),
                previous_t: show(previous),
                previous_line,
            };
            return Err(self.error(number, column, kind));
        }
        self.previous = Some((key, number));
        let since_start = match self.trace.time_form {
            TimeForm::Rfc3339 { origin_unix_us } => key.saturating_sub(i128::from(origin_unix_us)),
            TimeForm::Seconds if is_rfc3339 => {
                self.trace.time_form = TimeForm::Rfc3339 {
                    origin_unix_us: i64::try_from(key).unwrap_or(0),
                };
                0
            }
            TimeForm::Seconds => key,
        };
        u64::try_from(since_start)
            .map_err(|_| self.error(number, column, TraceErrorKind::TimeOutOfRange))
    }
}

/// serde_json's message without its trailing ` at line L column C` (we print our own).
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix)
        .map_or_else(|| text.clone(), str::to_owned)
}
