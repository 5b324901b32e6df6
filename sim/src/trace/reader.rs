//! Text → [`Trace`], checking every rule of the v1 contract, stopping at the first error.
//!
//! [`Records`] is the reader: an iterator over a trace's events that takes its input from a
//! [`BufRead`] in large blocks and checks it line by line, so its memory does not grow with the
//! length of the trace (it keeps the requests in flight, and a bounded memory of recently
//! answered ids for a better message).
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

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::checker::State;
use super::lines::Lines;
use super::progress::Progress;
use super::{Event, EventRef, Header, TimeForm, Trace, TraceError, TraceErrorKind};

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
        time_form: records.time_form(),
        header: records.into_header(),
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
        time_form: records.time_form(),
        header: records.into_header(),
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
    lines: Lines<R>,
    /// The checks' memory.
    state: State,
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
            lines: Lines::new(input),
            state: State::new(file),
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

    /// The header, the reader done with: [`Records::header`] without a copy (a header's `note`
    /// may be long).
    ///
    /// # Examples
    ///
    /// ```
    /// let text = "{\"trace\": 1, \"note\": \"n\"}\n";
    /// let mut records = headroom_sim::trace::Records::new(text.as_bytes(), "t.jsonl");
    /// assert!(records.next().is_none());
    /// assert_eq!(records.into_header().note.as_deref(), Some("n"));
    /// ```
    pub fn into_header(self) -> Header {
        self.state.header
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

    /// How many requests the table of those in flight holds before it grows.
    #[cfg(test)]
    pub(super) fn in_flight_room(&self) -> usize {
        self.state.in_flight.capacity()
    }

    /// The number of the line read last (1-based; 0 before any): after the iterator hands
    /// out an event, the line it is on.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = "# a comment\n{\"t\": 0, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
    /// let mut records = headroom_sim::trace::Records::new(text.as_bytes(), "t.jsonl");
    /// assert_eq!(records.line(), 0);
    /// records.next().unwrap().unwrap();
    /// assert_eq!(records.line(), 2);
    /// ```
    pub fn line(&self) -> usize {
        self.line_number
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

    /// The same reader, told that its input is `bytes` long (as [`Records::open`] learns it of
    /// a file): the tables that grow with the trace then reserve their room from how far into
    /// it the reader is ([`Progress`]). Only the memory's growth depends on it; the events and
    /// errors do not.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = "{\"t\": 1, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
    /// let mut records = headroom_sim::trace::Records::new(text.as_bytes(), "t.jsonl").with_size(text.len() as u64);
    /// assert_eq!(records.progress().size(), Some(text.len() as u64));
    /// assert!(records.next().is_some());
    /// assert_eq!(records.progress().read(), text.len() as u64);
    /// ```
    #[must_use]
    pub fn with_size(mut self, bytes: u64) -> Self {
        self.state.progress = Progress::new(Some(bytes)).after(self.state.progress.read());
        self
    }

    /// How far into its input the reader is.
    ///
    /// # Examples
    ///
    /// ```
    /// let records = headroom_sim::trace::Records::new(&b""[..], "t.jsonl");
    /// assert_eq!((records.progress().size(), records.progress().read()), (None, 0));
    /// ```
    pub fn progress(&self) -> Progress {
        self.state.progress
    }

    /// The next event, `None` at the end of input.
    fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        let mut found = None;
        self.scan(|event, _| {
            found = Some(event.into_owned());
            false
        })?;
        Ok(found)
    }

    /// Hands every remaining event to `each`, its request strings borrowed from the line (no
    /// allocation per request): the fast way to consume a trace whole. Stops at the first
    /// error; the iterator is over afterwards.
    ///
    /// # Errors
    ///
    /// The first I/O, syntax, type or validation error, with its line and column, as the
    /// iterator would return it.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::{EventRef, Records};
    ///
    /// let text = "{\"t\": 0.5, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
    /// let mut ids = Vec::new();
    /// Records::new(text.as_bytes(), "t.jsonl")
    ///     .for_each_event(|event| {
    ///         if let EventRef::Request(sent) = event {
    ///             ids.push(sent.id.into_owned());
    ///         }
    ///     })
    ///     .unwrap();
    /// assert_eq!(ids, ["r1"]);
    /// ```
    pub fn for_each_event(&mut self, mut each: impl FnMut(EventRef<'_>)) -> Result<(), TraceError> {
        self.for_each_event_progress(|event, _| each(event))
    }

    /// As [`Records::for_each_event`], each event handed over with the reader's progress once
    /// its line is read.
    pub(super) fn for_each_event_progress(
        &mut self,
        mut each: impl FnMut(EventRef<'_>, Progress),
    ) -> Result<(), TraceError> {
        if self.done {
            return Ok(());
        }
        let scanned = self.scan(|event, progress| {
            each(event, progress);
            true
        });
        self.done = true;
        scanned
    }

    /// Reads lines, handing each event (with the progress after its line) to `each` while it
    /// answers `true`; returns at the end of input, after an event `each` answered `false` to,
    /// or at the first error.
    ///
    /// A request line spelled as the writer spells it is taken from the line's bytes as they
    /// are ([`State::canonical`] checks the UTF-8 of its strings, the rest being ASCII by
    /// then); any other line is checked as UTF-8 whole and goes through [`State::line`].
    fn scan(
        &mut self,
        mut each: impl FnMut(EventRef<'_>, Progress) -> bool,
    ) -> Result<(), TraceError> {
        loop {
            let bytes = match self.lines.next_line() {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(()),
                Err(error) => {
                    return Err(self
                        .state
                        .error(0, 0, TraceErrorKind::Io(error.to_string())));
                }
            };
            self.line_number = self.line_number.saturating_add(1);
            self.state.progress = self.state.progress.after(bytes.len() as u64);
            let number = self.line_number;
            let complete = bytes.last() == Some(&b'\n');
            let bytes = match bytes.strip_prefix("\u{feff}".as_bytes()) {
                Some(rest) if number == 1 => rest,
                _ => bytes,
            };
            let first = !self.state.seen_content;
            let (line, read) = match self.state.canonical(number, trim_newline(bytes)) {
                Some(read) => (None, read.map(Some)),
                None => {
                    let line = std::str::from_utf8(bytes).map_err(|error| {
                        let column = error.valid_up_to().saturating_add(1);
                        self.state
                            .error(number, column, TraceErrorKind::InvalidUtf8)
                    })?;
                    let line = line.trim_end_matches(['\n', '\r']);
                    (Some(line), self.state.line(number, line, complete))
                }
            };
            match read {
                Ok(Some(event)) => {
                    if !each(event, self.state.progress) {
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(error) if first => {
                    let line = match line {
                        Some(line) => line.to_owned(),
                        None => String::from_utf8_lossy(trim_newline(bytes)).into_owned(),
                    };
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
        if text == "{"
            && let Ok(Some(next)) = self.lines.next_line()
        {
            text.extend(String::from_utf8_lossy(next).split_whitespace());
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
        // The size of a regular file (not of a pipe or a device) tells the tables how much
        // room the trace will need.
        let size = file
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|metadata| metadata.len());
        let records = Self::new(Box::new(BufReader::new(file)), &name);
        Ok(match size {
            Some(bytes) => records.with_size(bytes),
            None => records,
        })
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

/// `line` without the `\n` and `\r` that end it.
fn trim_newline(line: &[u8]) -> &[u8] {
    let kept = line
        .iter()
        .rposition(|&byte| byte != b'\n' && byte != b'\r')
        .map_or(0, |last| last.saturating_add(1));
    line.get(..kept).unwrap_or_default()
}
