//! Why a trace was refused, and where.
//!
//! A trace is a user's recording: when it is wrong, the useful answer is the place to look,
//! in the form editors and terminals jump to (`trace.jsonl:7:15: …`). Lines are 1-based and
//! count every line of the file, comments and blank lines included; columns are 1-based byte
//! offsets into the line (serde_json's own column for syntax and type errors, else the start of
//! the offending field's value, else 1).

use std::fmt;

use headroom::datetime::DateError;

use crate::cli::CliError;

/// A trace that could not be read: the file, the place and the cause.
///
/// # Examples
///
/// ```
/// let error = headroom_sim::trace::read_str(
///     "{\"t\": 1, \"type\": \"response\", \"id\": \"r9\", \"status\": 200, \"headers\": {}}",
///     "trace.jsonl",
/// )
/// .unwrap_err();
/// assert_eq!(error.to_string(), "trace.jsonl:1:36: response \"r9\" has no request");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The file as the caller named it.
    pub file: String,
    /// 1-based line number; 0 when the error concerns the whole file (it could not be opened).
    pub line: usize,
    /// 1-based byte column in that line; 0 when `line` is 0.
    pub column: usize,
    /// What is wrong there.
    pub kind: TraceErrorKind,
}

/// What is wrong with a trace line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The file could not be opened or read.
    Io(String),
    /// The line is not UTF-8.
    InvalidUtf8,
    /// JSON syntax error, a field of the wrong type or a missing field (serde_json's message,
    /// prefixed with the field's path when there is one).
    Json(String),
    /// The file ends in the middle of a JSON object: it was cut while being written.
    Truncated(String),
    /// The line is JSON but not an object.
    NotAnObject,
    /// A header line names a trace version this reader does not read.
    UnsupportedVersion(u64),
    /// A header line (`{"trace": …}`) after the first non-comment line.
    HeaderNotFirst,
    /// An event line without a `type` field.
    MissingType,
    /// An event line whose `type` is neither `request` nor `response`.
    UnknownType(String),
    /// `t` is a string but not an RFC 3339 date-time (the core's parser says why).
    BadTimestamp(DateError),
    /// `t` is a negative number of seconds.
    NegativeTime,
    /// `t` is a number too large to be a time.
    TimeOutOfRange,
    /// `t` uses the other form (seconds vs RFC 3339) than the trace's first timed line.
    MixedTimeForms {
        /// Whether this line's `t` is an RFC 3339 string.
        this_is_rfc3339: bool,
        /// The line that fixed the trace's form.
        first_line: usize,
    },
    /// `t` is earlier than the previous event's.
    TimeBackwards {
        /// This line's time as written (seconds as `1.5 s`, or the RFC 3339 string).
        t: String,
        /// The previous event's time, in the same form.
        previous_t: String,
        /// The previous event's line.
        previous_line: usize,
    },
    /// A request whose id is already in flight (sent, not yet answered).
    DuplicateRequest {
        /// The id.
        id: String,
        /// The line of the request still in flight.
        first_line: usize,
    },
    /// A response whose id has no request in flight.
    ResponseWithoutRequest {
        /// The id.
        id: String,
        /// The line of the response that already answered a request of that id, if any.
        answered_on_line: Option<usize>,
    },
    /// The file is a HAR capture (named `*.har`, or a JSON object whose first key is `log`),
    /// not a trace: it must be converted first. Holds the file's name for the advice.
    LooksLikeHar(String),
    /// The trace holds no request: nothing to simulate or audit (reported at line 0).
    NoRequests,
    /// A response's `status` outside HTTP's 100 to 599.
    BadStatus(u16),
}

impl fmt::Display for TraceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(message) => write!(f, "cannot read: {message}"),
            Self::InvalidUtf8 => f.write_str("not valid UTF-8"),
            Self::BadStatus(status) => {
                write!(f, "status {status} is not an HTTP status (100 to 599)")
            }
            Self::Json(message) => f.write_str(message),
            Self::Truncated(message) => {
                write!(f, "truncated line: the file ends mid-object ({message})")
            }
            Self::NotAnObject => f.write_str("expected a JSON object"),
            Self::UnsupportedVersion(version) => write!(
                f,
                "unsupported trace version {version} (this reader reads version 1)"
            ),
            Self::HeaderNotFirst => {
                f.write_str("the header line {\"trace\": …} must come before any event")
            }
            Self::MissingType => f.write_str("missing field `type` (\"request\" or \"response\")"),
            Self::UnknownType(kind) => write!(
                f,
                "unknown event type {kind:?} (expected \"request\" or \"response\")"
            ),
            Self::BadTimestamp(why) => write!(f, "t is not an RFC 3339 date-time: {why}"),
            Self::NegativeTime => f.write_str("t is negative"),
            Self::TimeOutOfRange => f.write_str("t is too large"),
            Self::MixedTimeForms {
                this_is_rfc3339,
                first_line,
            } => {
                let (this, that) = if *this_is_rfc3339 {
                    ("an RFC 3339 string", "seconds")
                } else {
                    ("seconds", "RFC 3339 strings")
                };
                write!(
                    f,
                    "t is {this} but line {first_line} uses {that}; a trace uses one form throughout"
                )
            }
            Self::TimeBackwards {
                t,
                previous_t,
                previous_line,
            } => write!(
                f,
                "t goes backwards: {t} is before {previous_t} on line {previous_line}"
            ),
            Self::DuplicateRequest { id, first_line } => write!(
                f,
                "request {id:?} is already in flight (sent on line {first_line})"
            ),
            Self::ResponseWithoutRequest {
                id,
                answered_on_line: None,
            } => write!(f, "response {id:?} has no request"),
            Self::ResponseWithoutRequest {
                id,
                answered_on_line: Some(line),
            } => write!(
                f,
                "response {id:?} has no request in flight (line {line} already answered it)"
            ),
            Self::LooksLikeHar(file) => write!(
                f,
                "this is a HAR capture, not a trace; convert it first: headroom import-har {file} -o trace.jsonl"
            ),
            Self::NoRequests => f.write_str("the trace has no requests"),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Position {
            file: &self.file,
            line: self.line,
            column: self.column,
        };
        write!(f, "{at}: {}", self.kind)
    }
}

/// Where an input error is: `file:line:column` (1-based line, 1-based byte column), or the file
/// alone when `line` is 0. The one spelling of a place for every input of the simulator: trace
/// lines here, `world` objects in `crate::world`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position<'a> {
    /// The file as the user named it.
    pub(crate) file: &'a str,
    /// 1-based line; 0 for the whole file.
    pub(crate) line: usize,
    /// 1-based byte column in that line; ignored when `line` is 0.
    pub(crate) column: usize,
}

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

impl std::error::Error for TraceError {}

/// serde_json's message without its trailing ` at line L column C`: every JSON input of the
/// simulator (traces, HAR files, scenarios) prints its own `file:line:column:` in front, once.
pub(crate) fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix)
        .map_or_else(|| text.clone(), str::to_owned)
}

impl From<TraceError> for CliError {
    /// A bad trace is bad input: exit code 2, the message naming file, line and column.
    fn from(error: TraceError) -> Self {
        Self::Input(error.to_string())
    }
}
