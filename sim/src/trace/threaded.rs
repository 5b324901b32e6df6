//! A trace read on a second thread: the reader ([`Records`]) reads, parses and checks lines
//! while the caller's thread consumes the events it has already handed over.
//!
//! Why: loading a million-request trace is most of a `headroom simulate` run's first second,
//! and the machine has more than one core. Reading, parsing and checking a line (≈ 1 400
//! instructions) is sequential by nature (the checks remember what came before), and so is
//! building a workload from the events (≈ 600), but the two need not take turns: they form a
//! pipeline. Events cross in batches through a bounded channel, request strings copied into
//! one buffer per batch, and emptied batches go back to the reader to be filled again, so the
//! hand-over allocates nothing once the first batches exist.
//!
//! Nothing depends on the threads' timing: there is one producer and the channel keeps its
//! order, so the consumer sees exactly the events, in exactly the order, and then exactly the
//! error, that [`Records::for_each_event`] would give it.
//!
//! Each batch also carries the reader's extrapolation of the trace's requests
//! ([`Progress::extrapolate`](super::Progress::extrapolate), when the input's size is known),
//! for a consumer whose tables grow with them to reserve their room
//! ([`Consumer::expect_requests`]).

use std::borrow::Cow;
use std::io::BufRead;
use std::ops::Range;
use std::sync::mpsc;

use super::{EventRef, Header, Records, RequestRef, Response, TraceError};

/// Events per batch: large enough that the hand-over is a small share of a batch's cost, small
/// enough that the consumer starts at once.
const BATCH: usize = 2_048;

/// Batches on their way: the reader may run this far ahead of the consumer.
const IN_FLIGHT_BATCHES: usize = 8;

/// What the reader knew at the end of a trace read on its own thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// The header line's metadata.
    pub header: Header,
    /// Requests read.
    pub requests: u64,
}

/// An event waiting in a batch; a request's strings are ranges of the batch's text.
enum Queued {
    Request {
        t_us: u64,
        id: Range<usize>,
        lane: Option<Range<usize>>,
        input_tokens: u64,
        max_tokens: u64,
    },
    /// Boxed: responses are rare in the traces worth a thread, requests are not.
    Response(Box<Response>),
}

#[derive(Default)]
struct Batch {
    text: String,
    events: Vec<Queued>,
    /// The reader's extrapolation of the trace's requests when it sent the batch.
    expected_requests: Option<u64>,
}

/// What consumes a trace read on a second thread ([`consume_threaded`]): the events, and how
/// many requests to expect, to reserve room from.
pub trait Consumer {
    /// The next event.
    fn event(&mut self, event: EventRef<'_>);

    /// The reader's extrapolation of how many requests the whole trace holds, from how far
    /// into its input it is ([`Progress::extrapolate`](super::Progress::extrapolate)): given
    /// before a batch of events when the input's size is known, to reserve room from. Ignored
    /// by default.
    fn expect_requests(&mut self, requests: u64) {
        let _ = requests;
    }
}

/// A closure as a [`Consumer`] of events alone.
struct Each<F>(F);

impl<F: FnMut(EventRef<'_>)> Consumer for Each<F> {
    fn event(&mut self, event: EventRef<'_>) {
        (self.0)(event);
    }
}

impl Batch {
    fn push(&mut self, event: EventRef<'_>) {
        let queued = match event {
            EventRef::Request(sent) => Queued::Request {
                t_us: sent.t_us,
                id: self.keep(&sent.id),
                lane: sent.lane.as_deref().map(|lane| self.keep(lane)),
                input_tokens: sent.input_tokens,
                max_tokens: sent.max_tokens,
            },
            EventRef::Response(answer) => Queued::Response(Box::new(answer)),
        };
        self.events.push(queued);
    }

    fn keep(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// A batch with room for [`BATCH`] events.
    fn new() -> Self {
        Self {
            text: String::with_capacity(BATCH * 16),
            events: Vec::with_capacity(BATCH),
            expected_requests: None,
        }
    }

    /// Hands the extrapolation, then every event, to `each` and leaves the batch empty, its
    /// buffers kept.
    fn hand_to(&mut self, each: &mut impl Consumer) {
        if let Some(requests) = self.expected_requests.take() {
            each.expect_requests(requests);
        }
        let text = self.text.as_str();
        let slice = |range: Range<usize>| Cow::Borrowed(text.get(range).unwrap_or_default());
        for queued in self.events.drain(..) {
            each.event(match queued {
                Queued::Request {
                    t_us,
                    id,
                    lane,
                    input_tokens,
                    max_tokens,
                } => EventRef::Request(RequestRef {
                    t_us,
                    id: slice(id),
                    lane: lane.map(slice),
                    input_tokens,
                    max_tokens,
                }),
                Queued::Response(answer) => EventRef::Response(*answer),
            });
        }
        self.text.clear();
    }
}

/// Opens a trace with `open` on a second thread, reads it there, and hands every event to
/// `each` on this one, as [`Records::for_each_event`] would (same events, same order, same
/// first error). `open` runs on the reader's thread, so the input itself need not be `Send`.
///
/// # Errors
///
/// The error of `open`, or the first I/O, syntax, type or validation error of the trace, with
/// its line and column; `each` has then seen every event before it.
///
/// # Examples
///
/// ```
/// use headroom_sim::trace::{EventRef, Records, for_each_event_threaded};
///
/// let text = "{\"trace\": 1, \"provider\": \"anthropic\"}\n{\"t\": 0.5, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
/// let mut ids = Vec::new();
/// let finished = for_each_event_threaded(
///     || Ok(Records::new(text.as_bytes(), "t.jsonl")),
///     |event| {
///         if let EventRef::Request(sent) = event {
///             ids.push(sent.id.into_owned());
///         }
///     },
/// )
/// .unwrap();
/// assert_eq!((ids, finished.requests), (vec!["r1".to_owned()], 1));
/// assert_eq!(finished.header.provider.as_deref(), Some("anthropic"));
/// ```
pub fn for_each_event_threaded<R: BufRead>(
    open: impl FnOnce() -> Result<Records<R>, TraceError> + Send,
    each: impl FnMut(EventRef<'_>),
) -> Result<Finished, TraceError> {
    consume_threaded(open, &mut Each(each))
}

/// As [`for_each_event_threaded`], the events handed to `consumer`, which also hears, before
/// each batch, how many requests the reader extrapolates the trace to hold (when the input's
/// size is known: [`Records::with_size`]).
///
/// # Errors
///
/// As [`for_each_event_threaded`].
///
/// # Examples
///
/// ```
/// use headroom_sim::trace::{Consumer, EventRef, Records, consume_threaded};
///
/// #[derive(Default)]
/// struct Count { requests: u64, expected: Option<u64> }
/// impl Consumer for Count {
///     fn event(&mut self, event: EventRef<'_>) {
///         self.requests += u64::from(matches!(event, EventRef::Request(_)));
///     }
///     fn expect_requests(&mut self, requests: u64) {
///         self.expected = Some(requests);
///     }
/// }
///
/// // 3 000 requests of one length: the first batch's extrapolation is exact.
/// let text: String = (0..3_000)
///     .map(|i| format!("{{\"t\":1,\"type\":\"request\",\"id\":\"r{i:04}\",\"input_tokens\":5,\"max_tokens\":9}}\n"))
///     .collect();
/// let size = text.len() as u64;
/// let mut count = Count::default();
/// let finished = consume_threaded(|| Ok(Records::new(text.as_bytes(), "t.jsonl").with_size(size)), &mut count).unwrap();
/// assert_eq!((finished.requests, count.requests, count.expected), (3_000, 3_000, Some(3_000)));
/// ```
pub fn consume_threaded<R: BufRead>(
    open: impl FnOnce() -> Result<Records<R>, TraceError> + Send,
    each: &mut impl Consumer,
) -> Result<Finished, TraceError> {
    let (sender, receiver) = mpsc::sync_channel::<Batch>(IN_FLIGHT_BATCHES);
    let (recycle, recycled) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut records = open()?;
            let mut batch = Batch::new();
            let mut requests = 0u64;
            let read = records.for_each_event_progress(|event, progress| {
                requests += u64::from(matches!(event, EventRef::Request(_)));
                batch.push(event);
                if batch.events.len() >= BATCH {
                    batch.expected_requests = progress.extrapolate(requests);
                    let next = recycled.try_recv().unwrap_or_else(|_| Batch::new());
                    // A consumer that has gone away (it panicked) wants nothing more.
                    let _ = sender.send(std::mem::replace(&mut batch, next));
                }
            });
            if !batch.events.is_empty() {
                let _ = sender.send(batch);
            }
            read.map(|()| Finished {
                requests: records.requests(),
                header: records.into_header(),
            })
        });
        for mut batch in receiver {
            batch.hand_to(each);
            // The reader may have finished: then the batch is simply dropped.
            let _ = recycle.send(batch);
        }
        match reader.join() {
            Ok(finished) => finished,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceErrorKind;

    fn trace(requests: usize, broken_at: Option<usize>) -> String {
        let mut text = String::from("{\"trace\": 1, \"provider\": \"anthropic\"}\n");
        for i in 0..requests {
            if broken_at == Some(i) {
                text.push_str("{\"t\": 0, \"type\": \"request\"}\n");
                continue;
            }
            let lane = if i % 3 == 0 { ",\"lane\":\"b\"" } else { "" };
            text.push_str(&format!(
                "{{\"t\":{i}.5,\"type\":\"request\",\"id\":\"r{i}\"{lane},\"input_tokens\":{i},\"max_tokens\":9}}\n"
            ));
            if i % 5 == 0 {
                text.push_str(&format!(
                    "{{\"t\":{i}.75,\"type\":\"response\",\"id\":\"r{i}\",\"status\":200}}\n"
                ));
            }
        }
        text
    }

    fn both(text: &str) -> [(Vec<crate::trace::Event>, Result<Finished, TraceError>); 2] {
        both_bytes(text.as_bytes())
    }

    #[test]
    fn the_same_events_in_the_same_order_across_batches() {
        let [alone, threaded] = both(&trace(3 * BATCH + 17, None));
        assert_eq!(alone.0.len(), 3 * BATCH + 17 + (3 * BATCH + 17).div_ceil(5));
        assert_eq!(alone, threaded);
        assert_eq!(threaded.1.unwrap().requests, 3 * BATCH as u64 + 17);
    }

    #[test]
    fn the_same_first_error_after_the_same_events() {
        let [alone, threaded] = both(&trace(BATCH + 40, Some(BATCH + 3)));
        let error = threaded.1.clone().unwrap_err();
        assert_eq!(error.line, BATCH + 3 + (BATCH + 3).div_ceil(5) + 2);
        assert!(matches!(error.kind, TraceErrorKind::Json(_)), "{error}");
        assert_eq!(alone, threaded);
    }

    #[test]
    fn an_error_opening_the_trace_is_returned() {
        let error = for_each_event_threaded(
            || Records::open("no/such/file.jsonl"),
            |_| panic!("no event"),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("no/such/file.jsonl: cannot read: ")
        );
    }

    /// Lines with a quirk: the byte-order mark of line 1, CRLF endings, a last line without its
    /// newline, a canonical-looking line whose id is not UTF-8, a repeated id, lines that are not
    /// canonical between canonical ones, time going back. Each trace gives the same events and
    /// the same error read alone or on a second thread; the last three errors are at line 3.
    #[test]
    fn every_kind_of_line_reads_as_it_does_alone() {
        let request = |t: &str, id: &str| {
            format!(
                "{{\"t\":{t},\"type\":\"request\",\"id\":\"{id}\",\"input_tokens\":5,\"max_tokens\":9}}"
            )
        };
        let header = "{\"trace\": 1, \"provider\": \"anthropic\"}";
        let cases: Vec<Vec<u8>> = vec![
            format!("\u{feff}{}\n{}\n", request("1", "a"), request("2", "b")).into_bytes(),
            format!("{header}\r\n{}\r\n{}", request("1", "a"), request("2", "b")).into_bytes(),
            [
                format!("{header}\n{}\n{{\"t\":1.5,\"type\":\"request\",\"id\":\"", request("1", "a")).as_bytes(),
                b"\xff\xfe",
                b"\",\"input_tokens\":5,\"max_tokens\":9}\n",
            ]
            .concat(),
            format!("{header}\n{}\n{}\n", request("1", "a"), request("2", "a")).into_bytes(),
            format!(
                "{header}\n{}\n{{\"t\": 1.5, \"type\": \"request\", \"id\": \"c\", \"input_tokens\": 5, \"max_tokens\": 9}}\n# note\n\n{}\n",
                request("1", "a"),
                request("2", "b")
            )
            .into_bytes(),
            format!("{header}\n{}\n{}\n", request("2", "a"), request("1", "b")).into_bytes(),
        ];
        for (case, text) in cases.iter().enumerate() {
            let [alone, threaded] = both_bytes(text);
            assert_eq!(alone, threaded, "case {case}");
        }
        // And some of them fail, each where it should.
        let errors: Vec<String> = cases
            .iter()
            .filter_map(|text| both_bytes(text)[1].1.clone().err())
            .map(|error| error.to_string())
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("t.jsonl:3:"), "{errors:?}");
        assert!(errors[1].contains("t.jsonl:3:"), "{errors:?}");
        assert!(errors[2].contains("t.jsonl:3:"), "{errors:?}");
    }

    /// A HAR capture, pretty-printed: its first line is `{`, its second opens `"log"`; the
    /// reader needs the line after the failing one to say so, on its own thread as alone.
    #[test]
    fn a_har_capture_is_recognised_from_its_second_line() {
        let text = b"{\n  \"log\": {\"version\": \"1.2\"}\n}\n";
        let [alone, threaded] = both_bytes(text);
        assert_eq!(alone, threaded);
        let error = threaded.1.unwrap_err();
        assert!(
            matches!(error.kind, TraceErrorKind::LooksLikeHar(_)),
            "{error}"
        );
    }

    /// Input that fails after some lines: the events before it, then the I/O error, as alone.
    #[test]
    fn an_io_error_after_some_batches_comes_after_their_events() {
        struct Failing(std::io::Cursor<Vec<u8>>);
        impl std::io::Read for Failing {
            fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
                match self.0.read(buffer)? {
                    0 => Err(std::io::Error::other("disk on fire")),
                    read => Ok(read),
                }
            }
        }
        let text = trace(2 * BATCH + 5, None).into_bytes();
        let open = || std::io::BufReader::new(Failing(std::io::Cursor::new(text.clone())));
        let mut alone = Vec::new();
        let read =
            Records::new(open(), "t.jsonl").for_each_event(|event| alone.push(event.into_owned()));
        let mut threaded = Vec::new();
        let finished = for_each_event_threaded(
            || Ok(Records::new(open(), "t.jsonl")),
            |event| threaded.push(event.into_owned()),
        );
        assert_eq!(alone, threaded);
        assert_eq!(alone.len(), 2 * BATCH + 5 + (2 * BATCH + 5).div_ceil(5));
        assert_eq!(read.unwrap_err(), finished.clone().unwrap_err());
        assert!(finished.unwrap_err().to_string().contains("disk on fire"));
    }

    /// The events and the end of `text` read alone and read on a second thread.
    fn both_bytes(text: &[u8]) -> [(Vec<crate::trace::Event>, Result<Finished, TraceError>); 2] {
        let mut alone = Vec::new();
        let mut records = Records::new(text, "t.jsonl");
        let read = records
            .for_each_event(|event| alone.push(event.into_owned()))
            .map(|()| Finished {
                header: records.header().clone(),
                requests: records.requests(),
            });
        // The threaded reader knows the size (as for a file), the lone one does not: the size
        // changes the memory's growth, never the events.
        let mut threaded = Vec::new();
        let finished = for_each_event_threaded(
            || Ok(Records::new(text, "t.jsonl").with_size(text.len() as u64)),
            |event| threaded.push(event.into_owned()),
        );
        [(alone, read), (threaded, finished)]
    }
}
