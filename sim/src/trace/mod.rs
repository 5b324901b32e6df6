//! Trace v1: the JSON Lines recording of what a client sent and what the provider answered.
//!
//! A trace is the simulator's input and the importer's output, and users keep them, so the
//! format is a contract (`docs/trace-format.md` §1). This module is the in-memory model of a
//! *valid* trace; [`read`] is the only way in from text and checks everything the contract
//! requires, so code holding a [`Trace`] read from a file never re-validates:
//!
//! * every response answers an earlier request of the same id still in flight; a request never
//!   reuses the id of one still in flight (an id may be reused after its response);
//! * time never goes backwards from one event line to the next (an error, not a re-sort: a
//!   recording out of order is more likely cut and pasted than real, and the simulator replays
//!   events in file order);
//! * one time form per trace; times are whole microseconds since the start of the trace.
//!
//! Requests with no response are "in flight at the end of the trace":
//! [`Trace::in_flight_at_end`] lists them.
//!
//! # Examples
//!
//! ```
//! use headroom_sim::trace;
//!
//! let text = r#"{"trace": 1, "provider": "anthropic"}
//! {"t": 0, "type": "request", "id": "r1", "lane": "claude-sonnet-4-5", "input_tokens": 1200, "max_tokens": 1024}
//! {"t": 0.812, "type": "response", "id": "r1", "status": 200, "headers": {"retry-after": "3"}}
//! "#;
//! let parsed = trace::read_str(text, "trace.jsonl").unwrap();
//! assert_eq!(parsed.events.len(), 2);
//! assert_eq!(parsed.events[1].t_us(), 812_000);
//! assert_eq!(trace::read_str(&trace::to_jsonl(&parsed), "again.jsonl").unwrap(), parsed);
//! ```

use std::borrow::Cow;

use headroom::time::UnixTime;

mod canonical;
mod checker;
mod error;
mod id_hash;
mod in_flight;
mod json_scan;
mod lines;
mod progress;
mod raw;
mod reader;
mod threaded;
mod writer;

#[cfg(test)]
mod canonical_tests;
#[cfg(test)]
mod reader_tests;

pub(crate) use error::{Position, strip_position};
pub use error::{TraceError, TraceErrorKind};
pub(crate) use id_hash::IdHasher;
pub(crate) use json_scan::{Member, member_value, members, value_end};
pub use progress::{BYTES_PER_ENTRY, MAX_STEP, Progress};
pub(crate) use raw::MAX_NUMERIC_MICROS;
pub use reader::{Records, read, read_file, read_str};
pub use threaded::{Consumer, Finished, consume_threaded, for_each_event_threaded};
pub use writer::{to_jsonl, write, write_file};

/// The statuses a trace's response may hold: HTTP's, 100 to 599 (RFC 9110 §15: every valid
/// status code is within that range). The reader refuses another; `import-har` and `inspect
/// headers` refuse one too, so that what they read or write reads back.
pub const HTTP_STATUSES: std::ops::RangeInclusive<u16> = 100..=599;

/// A whole trace: its header, how its times were spelled, and its events in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Free metadata from the header line (all empty when the file had none).
    pub header: Header,
    /// Whether `t` was seconds or RFC 3339, and for the latter the wall clock of t = 0.
    pub time_form: TimeForm,
    /// Requests and responses, in file order (so in time order).
    pub events: Vec<Event>,
}

/// The optional first line `{"trace": 1, …}`: free metadata. The writer always writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Who served the traffic (`anthropic`, `openai`, …).
    pub provider: Option<String>,
    /// The model, when the whole trace used one.
    pub model: Option<String>,
    /// Anything else worth keeping (where the trace came from).
    pub note: Option<String>,
    /// The world the trace is meant to be replayed in (v1.1): the `simulate` world flags as
    /// an object, validated by the simulator, not here.
    pub world: Option<HeaderWorld>,
}

/// A header's `world` object, and where it is written, so that the simulator refusing it can
/// name `file:line:column` as the reader's own errors do.
///
/// Two are equal when their objects are: where one was written is not part of what it says.
///
/// # Examples
///
/// ```
/// let trace = headroom_sim::trace::read_str(
///     "# made by hand\n{\"trace\": 1, \"world\": {\"gateways\": 4}}\n",
///     "t.jsonl",
/// )
/// .unwrap();
/// let world = trace.header.world.unwrap();
/// assert_eq!(world.map["gateways"], 4);
/// let written = world.written.unwrap();
/// assert_eq!((written.file.as_str(), written.line, written.column), ("t.jsonl", 2, 23));
/// assert_eq!(written.text, "{\"gateways\": 4}");
/// ```
#[derive(Debug, Clone, Default)]
pub struct HeaderWorld {
    /// The object.
    pub map: serde_json::Map<String, serde_json::Value>,
    /// Where the header line writes it; `None` for a header built in code.
    pub written: Option<HeaderLine>,
}

impl PartialEq for HeaderWorld {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl Eq for HeaderWorld {}

impl From<serde_json::Map<String, serde_json::Value>> for HeaderWorld {
    /// A world built in code: written nowhere.
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Self {
        Self { map, written: None }
    }
}

/// A header's `world` object as the reader read it: its own text and where that starts, kept
/// only for a header with a world. The rest of the line (a `note` of any size) is not kept
/// again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderLine {
    /// The file as the reader names it in its errors (`<stdin>` for standard input).
    pub file: String,
    /// The header line's 1-based number, every line of the file counted.
    pub line: usize,
    /// The 1-based byte column of the object's `{` on that line, counted as the reader's
    /// columns are (on line 1, a byte order mark not counted).
    pub column: usize,
    /// The object's text as written, `{` to `}`.
    pub text: String,
}

/// How a trace spells `t`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeForm {
    /// Seconds since the start of the trace, as JSON numbers.
    #[default]
    Seconds,
    /// RFC 3339 strings. Times are kept relative to the first event, whose wall clock this is.
    Rfc3339 {
        /// The wall clock of t = 0 (the first event's `t`).
        origin: UnixTime,
    },
}

/// One line of a trace after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client sent a request.
    Request(Request),
    /// The client received a response.
    Response(Response),
}

impl Event {
    /// When it happened, µs since the start of the trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::{Event, Request};
    /// let sent = Event::Request(Request { t_us: 5, id: "r1".into(), lane: None, input_tokens: 1, max_tokens: 1 });
    /// assert_eq!(sent.t_us(), 5);
    /// ```
    pub fn t_us(&self) -> u64 {
        match self {
            Self::Request(request) => request.t_us,
            Self::Response(response) => response.t_us,
        }
    }

    /// The request id it belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::{Event, Request};
    /// let sent = Event::Request(Request { t_us: 5, id: "r1".into(), lane: None, input_tokens: 1, max_tokens: 1 });
    /// assert_eq!(sent.id(), "r1");
    /// ```
    pub fn id(&self) -> &str {
        match self {
            Self::Request(request) => &request.id,
            Self::Response(response) => &response.id,
        }
    }
}

/// One event line as the reader hands it to [`Records::for_each_event`]: a request's strings
/// borrowed from the line (unless they hold escapes), so a load allocates nothing per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// The client sent a request.
    Request(RequestRef<'a>),
    /// The client received a response.
    Response(Response),
}

impl EventRef<'_> {
    /// The same event owning its strings.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::{EventRef, RequestRef};
    /// let sent = EventRef::Request(RequestRef { t_us: 5, id: "r1".into(), lane: None, input_tokens: 1, max_tokens: 1 });
    /// assert_eq!(sent.into_owned().id(), "r1");
    /// ```
    pub fn into_owned(self) -> Event {
        match self {
            Self::Request(request) => Event::Request(Request {
                t_us: request.t_us,
                id: request.id.into_owned(),
                lane: request.lane.map(Cow::into_owned),
                input_tokens: request.input_tokens,
                max_tokens: request.max_tokens,
            }),
            Self::Response(response) => Event::Response(response),
        }
    }
}

/// A request sent, its strings borrowed where they can be ([`Request`]'s fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRef<'a> {
    /// When it was sent, µs since the start of the trace.
    pub t_us: u64,
    /// Its id; its response carries the same one.
    pub id: Cow<'a, str>,
    /// The limit scope it counts against; `None` is the default lane.
    pub lane: Option<Cow<'a, str>>,
    /// The caller's estimate of its input tokens at send time.
    pub input_tokens: u64,
    /// The `max_tokens` it asked for.
    pub max_tokens: u64,
}

/// A request sent (`"type": "request"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// When it was sent, µs since the start of the trace.
    pub t_us: u64,
    /// Its id; its response carries the same one.
    pub id: String,
    /// The limit scope it counts against (usually the model); `None` is the default lane.
    pub lane: Option<String>,
    /// The caller's estimate of its input tokens at send time.
    pub input_tokens: u64,
    /// The `max_tokens` it asked for.
    pub max_tokens: u64,
}

/// A response received (`"type": "response"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// When it arrived, µs since the start of the trace.
    pub t_us: u64,
    /// The id of the request it answers.
    pub id: String,
    /// HTTP status.
    pub status: u16,
    /// Response headers as (name, value) pairs in file order. A header given as a JSON array
    /// becomes one pair per element. Names keep their case; match them case-insensitively
    /// ([`Response::header`]).
    pub headers: Vec<(String, String)>,
    /// Token usage from the response body, when known.
    pub usage: Option<Usage>,
}

impl Response {
    /// The first value of header `name`, matched case-insensitively.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::Response;
    /// let response = Response {
    ///     t_us: 0, id: "r1".into(), status: 429, usage: None,
    ///     headers: vec![("Retry-After".into(), "16".into())],
    /// };
    /// assert_eq!(response.header("retry-after"), Some("16"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Its status and headers as the core's parser reads them ([`headroom::headers::parse`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::Response;
    /// let response = Response {
    ///     t_us: 0, id: "r1".into(), status: 429, usage: None,
    ///     headers: vec![("retry-after".into(), "16".into())],
    /// };
    /// assert_eq!(response.snapshot().status, Some(429));
    /// ```
    pub fn snapshot(&self) -> headroom::headers::Snapshot {
        headroom::headers::parse(
            Some(self.status),
            self.headers
                .iter()
                .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
        )
    }
}

/// Token usage as the provider reported it (Anthropic's field names and meanings: `input_tokens`
/// excludes cache reads and cache writes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens generated.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache (0 when absent).
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the prompt cache (0 when absent).
    pub cache_creation_input_tokens: u64,
}

impl Trace {
    /// An error unless the trace holds at least one request: one with none cannot be simulated
    /// or audited. `file` names it in the error.
    ///
    /// # Errors
    ///
    /// [`TraceErrorKind::NoRequests`], at line 0 (the whole file).
    ///
    /// # Examples
    ///
    /// ```
    /// let empty = headroom_sim::trace::read_str("{\"trace\": 1}", "e.jsonl").unwrap();
    /// let error = empty.require_requests("e.jsonl").unwrap_err();
    /// assert_eq!(error.to_string(), "e.jsonl: the trace has no requests");
    /// ```
    pub fn require_requests(&self, file: &str) -> Result<(), TraceError> {
        if self
            .events
            .iter()
            .any(|event| matches!(event, Event::Request(_)))
        {
            return Ok(());
        }
        Err(TraceError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            kind: TraceErrorKind::NoRequests,
        })
    }

    /// The requests that no later response answered: in flight when the trace ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = "{\"t\": 0, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 1, \"max_tokens\": 1}";
    /// let parsed = headroom_sim::trace::read_str(text, "t.jsonl").unwrap();
    /// assert_eq!(parsed.in_flight_at_end()[0].id, "r1");
    /// ```
    pub fn in_flight_at_end(&self) -> Vec<&Request> {
        let mut open: Vec<Option<&Request>> = Vec::new();
        let mut by_id = std::collections::HashMap::new();
        for event in &self.events {
            match event {
                Event::Request(request) => {
                    by_id.insert(request.id.as_str(), open.len());
                    open.push(Some(request));
                }
                Event::Response(response) => {
                    if let Some(slot) = by_id.remove(response.id.as_str())
                        && let Some(entry) = open.get_mut(slot)
                    {
                        *entry = None;
                    }
                }
            }
        }
        open.into_iter().flatten().collect()
    }
}
