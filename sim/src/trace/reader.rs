//! Text → [`Trace`], checking every rule of the v1 contract, stopping at the first error.
//!
//! [`Records`] is the reader: an iterator over a trace's events that takes its input line by
//! line from a [`BufRead`], so its memory does not grow with the length of the trace (it keeps
//! the requests in flight, and a bounded memory of recently answered ids for a better message).
//! [`read`], [`read_str`] and [`read_file`] collect it into a whole [`Trace`].
//!
//! Each line is parsed twice with serde: a probe reads only `type`/`trace` to learn what the
//! line is, then the line is parsed as exactly that kind. Parsing into one struct holding every
//! field of every kind would make a future optional field of one kind an error in another.
//! Fields are parsed through `serde_path_to_error` so a type error names its field
//! (`status: invalid type: string "abc", expected u16`). [`read`] returns a whole trace or
//! an error, never a prefix: a partial trace must not be mistaken for the recording.
//!
//! Dates are RFC 3339 as the core's [`headroom::datetime::parse_rfc3339`] reads them (one parser
//! for headers and traces, so one answer on leap seconds: `:60` is `:59` of the same minute).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use headroom::datetime::{DelaySeconds, Rfc3339, parse_rfc3339};
use headroom::time::{Duration, UnixTime};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::json_scan::value_column;
use super::raw::{
    RawHeaderLine, RawRequest, RawResponse, RawTime, SecondsError, seconds_to_micros,
};
use super::{Event, Header, Request, Response, TimeForm, Trace, TraceError, TraceErrorKind, Usage};

/// How many answered ids the reader remembers, to say "line N already answered it" when a
/// response repeats one; older ones get the plain "has no request". Bounded so that memory does
/// not grow with the trace.
const ANSWERED_MEMORY: usize = 1_024;

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
pub fn read(input: impl BufRead, file: &str) -> Result<Trace, TraceError> {
    let mut records = Records::new(input, file);
    let events = records.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Trace {
        header: records.header().clone(),
        time_form: records.time_form(),
        events,
    })
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
    let mut records = Records::open(path)?;
    let events = records.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Trace {
        header: records.header().clone(),
        time_form: records.time_form(),
        events,
    })
}

/// A trace's events one at a time, checked as they are read: the streaming reader.
///
/// Each item is the next event or the first error; after an error the iterator ends. The
/// header line comes before every event, so [`Records::header`] and [`Records::time_form`] are
/// final once the first event has been returned (or the iterator has ended).
///
/// # Examples
///
/// ```
/// use headroom_sim::trace::Records;
///
/// let text = "{\"trace\": 1, \"provider\": \"anthropic\"}\n{\"t\": 0.5, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
/// let mut records = Records::new(text.as_bytes(), "t.jsonl");
/// assert_eq!(records.next().unwrap().unwrap().t_us(), 500_000);
/// assert_eq!(records.header().provider.as_deref(), Some("anthropic"));
/// assert!(records.next().is_none());
/// assert_eq!((records.requests(), records.in_flight()), (1, 1));
/// ```
pub struct Records<R> {
    /// Where the lines come from.
    input: R,
    /// The checks' memory.
    state: State,
    /// The current line's bytes.
    buffer: Vec<u8>,
    /// The current line's number (1-based).
    line_number: usize,
    /// Set after the end of input or an error.
    done: bool,
}

impl<R> std::fmt::Debug for Records<R> {
    /// The file and the line reached; the input itself need not be `Debug` (standard input, a
    /// boxed reader).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("file", &self.state.file)
            .field("line", &self.line_number)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Records<R> {
    /// Reads events from `input`; `file` names it in errors.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut records = headroom_sim::trace::Records::new(&b""[..], "empty.jsonl");
    /// assert!(records.next().is_none());
    /// ```
    pub fn new(input: R, file: &str) -> Self {
        Self {
            input,
            state: State::new(file),
            buffer: Vec::new(),
            line_number: 0,
            done: false,
        }
    }

    /// The header line's metadata (empty until it has been read, and when there is none).
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b""[..], "t.jsonl");
    /// assert_eq!(records.header().provider, None);
    /// ```
    pub fn header(&self) -> &Header {
        &self.state.header
    }

    /// How the trace spells `t`, fixed by its first event.
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b""[..], "t.jsonl");
    /// assert_eq!(records.time_form(), headroom_sim::trace::TimeForm::Seconds);
    /// ```
    pub fn time_form(&self) -> TimeForm {
        self.state.time_form
    }

    /// Requests read so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b""[..], "t.jsonl");
    /// assert_eq!(records.requests(), 0);
    /// ```
    pub fn requests(&self) -> u64 {
        self.state.requests
    }

    /// Requests read so far that no response has answered yet (at the end: in flight at the
    /// end of the trace).
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b""[..], "t.jsonl");
    /// assert_eq!(records.in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.len()
    }

    /// The file's name as errors give it.
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b""[..], "t.jsonl");
    /// assert_eq!(records.file(), "t.jsonl");
    /// ```
    pub fn file(&self) -> &str {
        &self.state.file
    }

    /// An error unless at least one request has been read: a trace with none cannot be
    /// simulated or audited. Call it once the iterator has ended.
    ///
    /// # Errors
    ///
    /// [`TraceErrorKind::NoRequests`], at line 0 (the whole file).
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b"{\"trace\": 1}"[..], "t.jsonl");
    /// let error = records.require_requests().unwrap_err();
    /// assert_eq!(error.to_string(), "t.jsonl: the trace has no requests");
    /// ```
    pub fn require_requests(&self) -> Result<(), TraceError> {
        if self.state.requests == 0 {
            return Err(self.state.error(0, 0, TraceErrorKind::NoRequests));
        }
        Ok(())
    }

    /// Reads the next line into the buffer; `Ok(false)` at the end of input.
    fn next_line(&mut self) -> Result<bool, TraceError> {
        self.buffer.clear();
        let read = self
            .input
            .read_until(b'\n', &mut self.buffer)
            .map_err(|error| {
                self.state
                    .error(0, 0, TraceErrorKind::Io(error.to_string()))
            })?;
        if read > 0 {
            self.line_number = self.line_number.saturating_add(1);
        }
        Ok(read > 0)
    }

    /// The next event, `None` at the end of input.
    fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            if !self.next_line()? {
                return Ok(None);
            }
            let number = self.line_number;
            let complete = self.buffer.last() == Some(&b'\n');
            let mut bytes = self.buffer.as_slice();
            if number == 1 {
                bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
            }
            let line = std::str::from_utf8(bytes).map_err(|error| {
                let column = error.valid_up_to().saturating_add(1);
                self.state
                    .error(number, column, TraceErrorKind::InvalidUtf8)
            })?;
            let line = line.trim_end_matches(['\n', '\r']);
            let first = !self.state.seen_content;
            match self.state.line(number, line, complete) {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(error) if first => {
                    let line = line.to_owned();
                    return Err(if self.looks_like_har(&line) {
                        let kind = TraceErrorKind::LooksLikeHar(self.state.file.clone());
                        self.state.error(number, 1, kind)
                    } else {
                        error
                    });
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Whether the file whose first content line is `line` (and failed) is a HAR capture: its
    /// name ends in `.har`, or it is a JSON object whose first key is `log` (on this line or,
    /// pretty-printed, the next).
    fn looks_like_har(&mut self, line: &str) -> bool {
        if self.state.file.to_ascii_lowercase().ends_with(".har") {
            return true;
        }
        let mut text: String = line.split_whitespace().collect();
        if text == "{" && matches!(self.next_line(), Ok(true)) {
            let next = String::from_utf8_lossy(&self.buffer);
            text.extend(next.split_whitespace());
        }
        text.starts_with("{\"log\":")
    }
}

impl Records<Box<dyn BufRead>> {
    /// Opens the trace file at `path`, naming it in errors as given; `-` reads standard input
    /// (named `<stdin>` in errors).
    ///
    /// # Errors
    ///
    /// The file cannot be opened (reported at line 0).
    ///
    /// # Examples
    ///
    /// ```
    /// let error = headroom_sim::trace::Records::open("no/such/file.jsonl").unwrap_err();
    /// assert!(error.to_string().starts_with("no/such/file.jsonl: cannot read: "));
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Ok(Self::new(Box::new(std::io::stdin().lock()), "<stdin>"));
        }
        let name = path.display().to_string();
        let file = File::open(path).map_err(|error| TraceError {
            file: name.clone(),
            line: 0,
            column: 0,
            kind: TraceErrorKind::Io(error.to_string()),
        })?;
        Ok(Self::new(Box::new(BufReader::new(file)), &name))
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_event().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
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

/// The reader's progress through one file: what the checks must remember.
#[derive(Debug)]
struct State {
    /// The file's name for errors.
    file: String,
    /// The header line's metadata.
    header: Header,
    /// The time form, fixed by the first timed line.
    time_form: TimeForm,
    /// Whether a non-comment line has been seen (a header must come before).
    seen_content: bool,
    /// Whether the first timed line used RFC 3339, and that line.
    form: Option<(bool, usize)>,
    /// The previous event's time (µs since the trace start, or since the epoch for RFC 3339)
    /// and line.
    previous: Option<(u64, usize)>,
    /// Requests read.
    requests: u64,
    /// Requests in flight: id → line.
    in_flight: HashMap<String, usize>,
    /// The last [`ANSWERED_MEMORY`] answered ids: id → line of the response.
    answered: HashMap<String, usize>,
    /// The same ids, oldest first, to forget them in order.
    answered_order: VecDeque<String>,
}

impl State {
    fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            header: Header::default(),
            time_form: TimeForm::Seconds,
            seen_content: false,
            form: None,
            previous: None,
            requests: 0,
            in_flight: HashMap::new(),
            answered: HashMap::new(),
            answered_order: VecDeque::new(),
        }
    }

    fn error(&self, line: usize, column: usize, kind: TraceErrorKind) -> TraceError {
        TraceError {
            file: self.file.clone(),
            line,
            column,
            kind,
        }
    }

    /// Remembers that the response on `line` answered `id`, forgetting the oldest beyond
    /// [`ANSWERED_MEMORY`].
    fn remember_answered(&mut self, id: String, line: usize) {
        if self.answered.insert(id.clone(), line).is_none() {
            self.answered_order.push_back(id);
        }
        if self.answered_order.len() > ANSWERED_MEMORY
            && let Some(oldest) = self.answered_order.pop_front()
        {
            self.answered.remove(&oldest);
        }
    }

    /// Takes one line (without its newline); `complete` says a newline ended it. `Some` event
    /// for a request or response line, `None` for a comment, a blank or the header.
    fn line(
        &mut self,
        number: usize,
        line: &str,
        complete: bool,
    ) -> Result<Option<Event>, TraceError> {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(None);
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
            self.header = Header {
                provider: raw.provider,
                model: raw.model,
                note: raw.note,
            };
            return Ok(None);
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
                self.requests = self.requests.saturating_add(1);
                Ok(Some(Event::Request(Request {
                    t_us,
                    id: raw.id,
                    lane: raw.lane,
                    input_tokens: raw.input_tokens,
                    max_tokens: raw.max_tokens,
                })))
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
                self.remember_answered(raw.id.clone(), number);
                Ok(Some(Event::Response(Response {
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
                })))
            }
            Some(other) => {
                let kind = TraceErrorKind::UnknownType(other.to_owned());
                Err(self.error(number, at("type"), kind))
            }
            None => Err(self.error(number, 1, TraceErrorKind::MissingType)),
        }
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
                Ok(micros) => micros,
                Err(SecondsError::Negative) => {
                    return Err(self.error(number, column, TraceErrorKind::NegativeTime));
                }
                Err(SecondsError::OutOfRange) => {
                    return Err(self.error(number, column, TraceErrorKind::TimeOutOfRange));
                }
            },
            RawTime::Text(text) => match parse_rfc3339(text.as_bytes()) {
                Ok(unix) => unix.as_micros(),
                Err(why) => {
                    let kind = TraceErrorKind::BadTimestamp(why);
                    return Err(self.error(number, column, kind));
                }
            },
        };
        if let Some((previous, previous_line)) = self.previous
            && key < previous
        {
            let show = |key: u64| match t {
                RawTime::Seconds(_) => format!("{} s", DelaySeconds(Duration::from_ticks(key))),
                RawTime::Text(_) => Rfc3339(UnixTime::from_micros(key)).to_string(),
            };
            let kind = TraceErrorKind::TimeBackwards {
                t: show(key),
                previous_t: show(previous),
                previous_line,
            };
            return Err(self.error(number, column, kind));
        }
        self.previous = Some((key, number));
        Ok(match self.time_form {
            TimeForm::Rfc3339 { origin } => key.saturating_sub(origin.as_micros()),
            TimeForm::Seconds if is_rfc3339 => {
                self.time_form = TimeForm::Rfc3339 {
                    origin: UnixTime::from_micros(key),
                };
                0
            }
            TimeForm::Seconds => key,
        })
    }
}

/// serde_json's message without its trailing ` at line L column C` (we print our own).
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix)
        .map_or_else(|| text.clone(), str::to_owned)
}
