//! The rules of the v1 contract, checked line by line: what the reader must remember between
//! lines (requests in flight, the time form, the previous time) and nothing more, so that
//! [`Records`](super::Records) can stream a trace of any length.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::FixedState;
use memchr::memmem::Finder;

use headroom::datetime::{DelaySeconds, Rfc3339, parse_rfc3339};
use headroom::time::{Duration, UnixTime};
use serde::Deserialize;
use serde_json::error::Category;

use super::canonical;
use super::in_flight::InFlight;
use super::json_scan::{event_kind, member_value, value_column};
use super::progress::Progress;
use super::raw::{
    RawHeaderLine, RawRequest, RawResponse, RawTime, SecondsError, Text, seconds_to_micros,
};
use super::{
    EventRef, Header, HeaderLine, HeaderWorld, RequestRef, Response, TimeForm, TraceError,
    TraceErrorKind, Usage, strip_position,
};

/// How many answered ids the reader remembers, to say "line N already answered it" when a
/// response repeats one; older ones get the plain "has no request". Bounded so that memory does
/// not grow with the trace.
const ANSWERED_MEMORY: usize = 1_024;

/// Requests in flight from which a full table reserves room for the rest of the input instead
/// of doubling: fewer are not worth extrapolating from.
const RESERVE_FROM: u64 = 4_096;

/// What a line is, learned before parsing it as that.
#[derive(Deserialize, Default)]
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
pub(super) struct State {
    /// The file's name for errors.
    pub(super) file: String,
    /// The header line's metadata.
    pub(super) header: Header,
    /// The time form, fixed by the first timed line.
    pub(super) time_form: TimeForm,
    /// Whether a non-comment line has been seen (a header must come before).
    pub(super) seen_content: bool,
    /// Whether the first timed line used RFC 3339, and that line.
    form: Option<(bool, usize)>,
    /// The previous event's time (µs since the trace start, or since the epoch for RFC 3339)
    /// and line.
    previous: Option<(u64, usize)>,
    /// Requests read.
    pub(super) requests: u64,
    /// Requests in flight: id → line.
    pub(super) in_flight: InFlight,
    /// How far into its input the reader is: what the requests in flight reserve room from.
    pub(super) progress: Progress,
    /// The last [`ANSWERED_MEMORY`] answered ids: id → line of the response, hashed with a
    /// fixed-seed foldhash rather than SipHash (the ids come from a file, not from a peer
    /// choosing collisions).
    answered: HashMap<String, usize, FixedState>,
    /// The same ids, oldest first, to forget them in order.
    answered_order: VecDeque<String>,
    /// Finds `"response"` in a line: the hint of [`State::direct`].
    response_hint: Finder<'static>,
}

impl State {
    pub(super) fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            header: Header::default(),
            time_form: TimeForm::Seconds,
            seen_content: false,
            form: None,
            previous: None,
            requests: 0,
            in_flight: InFlight::default(),
            progress: Progress::default(),
            answered: HashMap::default(),
            answered_order: VecDeque::new(),
            response_hint: Finder::new(b"\"response\""),
        }
    }

    pub(super) fn error(&self, line: usize, column: usize, kind: TraceErrorKind) -> TraceError {
        TraceError {
            file: self.file.clone(),
            line,
            column,
            kind,
        }
    }

    /// Where header line `number` (its text `line`) writes its `world` object: the object's
    /// text alone, so that a header's other members (a long `note`) are not kept twice. `None`
    /// when it cannot be found (the world's errors then name the file alone).
    fn world_written(&self, number: usize, line: &str) -> Option<HeaderLine> {
        let (at, world) = member_value(line, "world")?;
        Some(HeaderLine {
            file: self.file.clone(),
            line: number,
            column: at.saturating_add(1),
            text: world.to_owned(),
        })
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
    pub(super) fn line<'a>(
        &mut self,
        number: usize,
        line: &'a str,
        complete: bool,
    ) -> Result<Option<EventRef<'a>>, TraceError> {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(None);
        }
        if !trimmed.starts_with('{') {
            let column = line.len().saturating_sub(trimmed.len()).saturating_add(1);
            return Err(self.error(number, column, TraceErrorKind::NotAnObject));
        }
        if let Some(event) = self.direct(number, line)? {
            return Ok(Some(event));
        }
        // An event line whose `type` a scan settles skips the probe's full parse: its typed parse
        // below checks the whole line anyway ([`Self::parse_event`] keeps the errors as they were).
        let quick = event_kind(line);
        let probe: Probe = match quick {
            Some(_) => Probe::default(),
            None => self.parse(number, line, complete)?,
        };
        let first = !self.seen_content;
        self.seen_content = true;
        let at = |key: &str| value_column(line.as_bytes(), key).unwrap_or(1);
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
                world: raw.world.map(|world| HeaderWorld {
                    map: world.0,
                    written: self.world_written(number, line),
                }),
            };
            return Ok(None);
        }
        match quick.or(probe.kind.as_deref()) {
            Some("request") => {
                let raw = self.parse_event(quick.is_some(), number, line, complete)?;
                self.request(number, line.as_bytes(), raw).map(Some)
            }
            Some("response") => {
                let raw = self.parse_event(quick.is_some(), number, line, complete)?;
                self.response(number, line.as_bytes(), raw).map(Some)
            }
            Some(other) => {
                let kind = TraceErrorKind::UnknownType(other.to_owned());
                Err(self.error(number, at("type"), kind))
            }
            None => Err(self.error(number, 1, TraceErrorKind::MissingType)),
        }
    }

    /// A request line spelled exactly as the writer spells it, read and checked from its bytes
    /// (`line` without its newline, not yet known to be UTF-8): `None` when it is spelled any
    /// other way, and it then goes to [`Self::line`]. A line [`canonical::request`] reads is
    /// one [`Self::line`] would read to the same request (and check with the same errors).
    pub(super) fn canonical<'a>(
        &mut self,
        number: usize,
        line: &'a [u8],
    ) -> Option<Result<EventRef<'a>, TraceError>> {
        let raw = canonical::request(line)?;
        self.seen_content = true;
        Some(self.request(number, line, raw))
    }

    /// An event line parsed once: straight as the kind its text suggests (a response when
    /// it holds the string `"response"`) by serde, taken when that parse succeeds and its own
    /// `type` and `trace` fields say what the probe would: that kind, and not a header. Then
    /// the probe and the typed parse of [`Self::line`] would have read the same values, so the
    /// event and any error of the checks that follow are the same. `None` sends the line down
    /// the full path, whose errors are the contract's.
    fn direct<'a>(
        &mut self,
        number: usize,
        line: &'a str,
    ) -> Result<Option<EventRef<'a>>, TraceError> {
        let event = if self.response_hint.find(line.as_bytes()).is_some() {
            match serde_json::from_str::<RawResponse<'a>>(line) {
                Ok(raw)
                    if raw.trace.is_none()
                        && raw.kind.as_ref().map(Text::as_str) == Some("response") =>
                {
                    self.seen_content = true;
                    self.response(number, line.as_bytes(), raw)?
                }
                _ => return Ok(None),
            }
        } else {
            match serde_json::from_str::<RawRequest<'a>>(line) {
                Ok(raw)
                    if raw.trace.is_none()
                        && raw.kind.as_ref().map(Text::as_str) == Some("request") =>
                {
                    self.seen_content = true;
                    self.request(number, line.as_bytes(), raw)?
                }
                _ => return Ok(None),
            }
        };
        Ok(Some(event))
    }

    /// Checks a parsed request line and records it in flight.
    fn request<'a>(
        &mut self,
        number: usize,
        line: &[u8],
        raw: RawRequest<'a>,
    ) -> Result<EventRef<'a>, TraceError> {
        let t_us = self.time(number, line, &raw.t)?;
        if self.in_flight.is_full() {
            self.reserve_in_flight();
        }
        if let Err(first_line) = self.in_flight.insert(&raw.id, number) {
            let kind = TraceErrorKind::DuplicateRequest {
                id: raw.id.into_owned(),
                first_line,
            };
            let column = value_column(line, "id").unwrap_or(1);
            return Err(self.error(number, column, kind));
        }
        self.requests = self.requests.saturating_add(1);
        Ok(EventRef::Request(RequestRef {
            t_us,
            id: raw.id,
            lane: raw.lane.map(|lane| lane.0),
            input_tokens: raw.input_tokens,
            max_tokens: raw.max_tokens,
        }))
    }

    /// The requests in flight fill their table: when they are nearly every request read so far
    /// (a trace of requests only, which keeps them all to its end) and many, room for as many
    /// as the rest of the input extrapolates to ([`Progress`]), so that the table is not
    /// rehashed at every doubling; otherwise it grows as it would.
    #[cold]
    fn reserve_in_flight(&mut self) {
        let live = self.in_flight.len() as u64;
        if live < RESERVE_FROM || live.saturating_mul(8) < self.requests.saturating_mul(7) {
            return;
        }
        if let Some(total) = self.progress.extrapolate(live) {
            let more = usize::try_from(total.saturating_sub(live)).unwrap_or(usize::MAX);
            self.in_flight.reserve(more);
        }
    }

    /// Checks a parsed response line against the requests in flight.
    fn response(
        &mut self,
        number: usize,
        line: &[u8],
        raw: RawResponse<'_>,
    ) -> Result<EventRef<'static>, TraceError> {
        let t_us = self.time(number, line, &raw.t)?;
        if !super::HTTP_STATUSES.contains(&raw.status) {
            let column = value_column(line, "status").unwrap_or(1);
            return Err(self.error(number, column, TraceErrorKind::BadStatus(raw.status)));
        }
        if self.in_flight.remove(&raw.id).is_none() {
            let answered_on_line = self.answered.get(&*raw.id).copied();
            let kind = TraceErrorKind::ResponseWithoutRequest {
                id: raw.id.into_owned(),
                answered_on_line,
            };
            let column = value_column(line, "id").unwrap_or(1);
            return Err(self.error(number, column, kind));
        }
        let id = raw.id.into_owned();
        self.remember_answered(id.clone(), number);
        Ok(EventRef::Response(Response {
            t_us,
            id,
            status: raw.status,
            headers: raw.headers.0,
            usage: raw.usage.map(|usage| Usage {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_read_input_tokens: usage.cache_read_input_tokens.unwrap_or(0),
                cache_creation_input_tokens: usage.cache_creation_input_tokens.unwrap_or(0),
            }),
        }))
    }

    /// Parses `line` as `T`, mapping serde's errors to this file and line.
    ///
    /// A valid line is parsed once by plain serde_json; only a line that fails is parsed again
    /// through `serde_path_to_error`, whose bookkeeping of the path would otherwise be paid on
    /// every line for the rare error that names a field.
    fn parse<'a, T: Deserialize<'a>>(
        &self,
        number: usize,
        line: &'a str,
        complete: bool,
    ) -> Result<T, TraceError> {
        if let Ok(parsed) = serde_json::from_str(line) {
            return Ok(parsed);
        }
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

    /// The typed parse of an event line. When the probe's parse was skipped (`skipped_probe`)
    /// and this one fails, the probe is parsed after all and its error, if any, wins: the error
    /// is the one the probe-then-type sequence reports.
    fn parse_event<'a, T: Deserialize<'a>>(
        &self,
        skipped_probe: bool,
        number: usize,
        line: &'a str,
        complete: bool,
    ) -> Result<T, TraceError> {
        match self.parse(number, line, complete) {
            Err(error) if skipped_probe => {
                self.parse::<Probe>(number, line, complete)?;
                Err(error)
            }
            parsed => parsed,
        }
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
    /// `line` is only scanned for the column of `t` when there is an error to report.
    fn time(&mut self, number: usize, line: &[u8], t: &RawTime) -> Result<u64, TraceError> {
        let column = || value_column(line, "t").unwrap_or(1);
        let is_rfc3339 = matches!(t, RawTime::Text(_));
        match self.form {
            Some((form, first_line)) if form != is_rfc3339 => {
                let kind = TraceErrorKind::MixedTimeForms {
                    this_is_rfc3339: is_rfc3339,
                    first_line,
                };
                return Err(self.error(number, column(), kind));
            }
            Some(_) => {}
            None => self.form = Some((is_rfc3339, number)),
        }
        let key = match t {
            RawTime::Micros(micros) => *micros,
            RawTime::Seconds(seconds) => match seconds_to_micros(*seconds) {
                Ok(micros) => micros,
                Err(SecondsError::Negative) => {
                    return Err(self.error(number, column(), TraceErrorKind::NegativeTime));
                }
                Err(SecondsError::OutOfRange) => {
                    return Err(self.error(number, column(), TraceErrorKind::TimeOutOfRange));
                }
            },
            RawTime::Text(text) => match parse_rfc3339(text.as_bytes()) {
                Ok(unix) => unix.as_micros(),
                Err(why) => {
                    let kind = TraceErrorKind::BadTimestamp(why);
                    return Err(self.error(number, column(), kind));
                }
            },
        };
        if let Some((previous, previous_line)) = self.previous
            && key < previous
        {
            let show = |key: u64| match t {
                RawTime::Seconds(_) | RawTime::Micros(_) => {
                    format!("{} s", DelaySeconds(Duration::from_ticks(key)))
                }
                RawTime::Text(_) => Rfc3339(UnixTime::from_micros(key)).to_string(),
            };
            let kind = TraceErrorKind::TimeBackwards {
                t: show(key),
                previous_t: show(previous),
                previous_line,
            };
            return Err(self.error(number, column(), kind));
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
