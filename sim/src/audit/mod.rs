//! `headroom audit TRACE [--format table|json]`: replay a recorded trace through the engine in
//! shadow mode — how far its estimate was from each header's truth, and which recorded 429s it
//! would have prevented.
//!
//! # Why
//!
//! A trace captured from a client that did not use headroom (or used another limiter) holds the
//! server's truth in every response. Feeding the same requests and responses to the engine,
//! without sending anything, answers two questions before anyone switches: would headroom have
//! kept these 429s away, and does its model of the quota stay close to what the server says?
//!
//! # Shadow mode
//!
//! One [`headroom::Policy`] with one lane per trace lane, each built with
//! [`headroom::LaneConfig::new`]: **no limits configured**. The engine starts knowing nothing,
//! paces at the provisional rate, and learns the limits from the first response's headers, as a
//! freshly started process would; nothing needs to be passed on the command line. Events are
//! taken in file order (the reader guarantees time order).
//!
//! * **A request** at `t` on lane `L` is offered to [`headroom::Policy::acquire`] with
//!   `Cost::request(input_tokens, max_tokens)`, interactive priority, at `max(t, s)` where `s`
//!   is when the engine would have sent `L`'s previous request: the engine's queue is first in,
//!   first out, so a request never overtakes one it holds back. `Admit` at `t`: *sent*. `Wait
//!   { until }`: *held back*; the shadow offers it again at `until`, where the engine promises
//!   to admit it, and keeps that permit. The request is charged where the engine would have
//!   sent it, so the next request's wait includes the queue the engine would have built, and
//!   the wait recorded for it is `until − t`, the wait the engine would have imposed as it
//!   knew at `t`. (Charging it at `t` instead is impossible through the engine's interface —
//!   a bucket that says *wait* takes no charge — and leaving it uncharged would let the next
//!   request through as if the held one had never existed.) `Reject(CostTooLarge)`:
//!   *rejected*, no permit.
//! * **A response** at `t`: first the comparison. For each limit the lane has a bucket for and
//!   the headers report a `remaining` for, the sample is `estimate − remaining`, with `estimate`
//!   what the engine would admit at `t`: the smaller of its pace and of its model of the
//!   provider's window (its share of the key, as the last response corrected it;
//!   [`headroom::Policy::status`]), and `remaining` capped at the pace's burst (for requests,
//!   the engine's pace holds one second's worth of the per-minute limit: an engine with its
//!   one request available and a server with 49 of 50 left agree). An over-estimate is a
//!   request the engine would have sent into a 429. Until successive responses show that the
//!   key is not shared, the engine keeps a quarter of what the server reports, so its token
//!   estimates run under by the rest (and a model of the key too optimistic by less than that
//!   does not show). Before the lane has learned its limits there is nothing to compare. Then the response is folded in with
//!   [`headroom::Policy::complete`] (status, header snapshot from the core's parser, `usage`
//!   for a 2xx), exactly as the engine would: a 429's tokens are refunded, levels follow the
//!   headers less unseen reservations. A request without a permit has its response folded with
//!   [`headroom::Policy::observe`].
//! * **A recorded 429** is *prevented* when its request was held back or rejected, and
//!   *missed* when the engine would have sent it at its recorded time.
//!
//! Reading the numbers: the headers describe the recorded schedule, the engine's buckets its own
//! (held-back requests charged later, and counted as not yet seen by the server when a
//! response arrives in between). Right after a burst the engine held back, its estimates run
//! low; that bias is on the safe side and shows as under-estimates. Anthropic rounds token
//! `remaining` to the nearest thousand and the engine reads it 500 down, so token errors of a
//! few hundred are the header's resolution, not drift. Over-estimates (the engine thought more
//! was left than the server said) are the dangerous ones: `max_over` and `over`.
//!
//! # JSON (`--format json`)
//!
//! ```json
//! {"trace": "capture.jsonl", "lanes": 1, "requests": 9, "responses": 9, "in_flight_at_end": 0,
//!  "would_admit": 1, "would_wait": 8, "would_reject": 0,
//!  "recorded_429": 5, "prevented_429": 5,
//!  "estimate_error": {"requests": {"count": 8, "mean_abs": 0.1, "max_over": 0, "max_under": 1, "over": 0},
//!                     "input_tokens": {"count": 8, "mean_abs": 1934.2, "max_over": 0, "max_under": 3900, "over": 0}},
//!  "held_back": [{"id": "r2", "t": 0.1, "wait_ms": 1100, "limit": "requests"}],
//!  "missed": []}
//! ```
//!
//! * `trace`: as named on the command line; `lanes`: lanes in the trace.
//! * `requests`, `responses`: request and response lines; `in_flight_at_end`: requests with no
//!   response.
//! * `would_admit`, `would_wait`, `would_reject`: the engine's verdict on every request at its
//!   recorded time (sent then, sent later, never sent as asked). `untracked`, present only when
//!   not zero: requests beyond the shadow's permit table (4 096 in flight).
//! * `recorded_429`: responses with status 429; `prevented_429`: those whose request was held
//!   back or rejected.
//! * `estimate_error`: by limit (`requests`, `input_tokens`, `output_tokens`, `tokens`; a limit
//!   never compared is absent): `count` responses compared, `mean_abs` the mean |estimate −
//!   remaining| (to a tenth), `max_over` the largest estimate − remaining (0 if never above),
//!   `max_under` the largest remaining − estimate (0 if never below), `over` how many responses
//!   had the estimate above `remaining`.
//! * `held_back`: each prevented 429, in trace order: `id`, `t` (seconds since the start of
//!   the trace), `wait_ms` (how much later the engine would have sent it, rounded up), `limit`
//!   (the limit that held it back); a rejected request has `"rejected": true` and no `wait_ms`.
//! * `missed`: each recorded 429 the engine would have sent too: `id`, `t`.
//!
//! # Exit code
//!
//! 0 when every recorded 429 would have been prevented (including a trace with none); 1 when at
//! least one is in `missed` — what `audit` is asked to flag; 2 for bad input (the message names
//! the file, line and column). Over-estimates are reported but do not set the exit code: with
//! rounded token headers and quotas shared with other clients they happen without anything
//! going wrong, whereas a missed 429 is a request the engine would have let fail.

mod report;
mod shadow;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

pub use report::{Audit, ErrorJson, ErrorStats, EstimateErrorJson, HeldBack, Missed};
pub use shadow::{MAX_LANES, PERMITS, Sample, Shadow, Verdict};

use crate::cli::CliError;
use crate::simulate::{BUNDLED, Format};
use crate::trace::{Event, Records, Trace};

/// The arguments of `audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// The recorded trace (JSONL v1), or the file name of a bundled trace.
    pub trace: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Replays `trace` through the engine in shadow mode. `name` labels the report.
///
/// # Errors
///
/// A message when the trace has more than [`MAX_LANES`] lanes.
///
/// # Examples
///
/// ```
/// use headroom_sim::{audit, trace};
///
/// let text = r#"{"t": 0, "type": "request", "id": "r1", "input_tokens": 100, "max_tokens": 100}
/// {"t": 0.1, "type": "request", "id": "r2", "input_tokens": 100, "max_tokens": 100}
/// {"t": 0.2, "type": "response", "id": "r2", "status": 429, "headers": {"retry-after": "1"}}
/// "#;
/// let report = audit::audit(&trace::read_str(text, "t.jsonl").unwrap(), "t.jsonl").unwrap();
/// // Knowing nothing yet, the engine paces at 50 RPM: r2 would have waited 1.1 s.
/// assert_eq!((report.recorded_429, report.prevented_429), (1, 1));
/// assert_eq!(report.held_back[0].wait_ms, Some(1_100));
/// assert!(!report.flagged());
/// ```
pub fn audit(trace: &Trace, name: &str) -> Result<Audit, String> {
    let mut auditor = Auditor::new(name);
    for event in &trace.events {
        auditor.event(event)?;
    }
    Ok(auditor.finish(trace.in_flight_at_end().len()))
}

/// Audits a trace as it is read, one event at a time: memory holds the engine, the requests in
/// flight and the findings, never the trace, so a trace of any length can be audited. `name`
/// labels the report.
///
/// # Errors
///
/// [`CliError::Input`] for the first bad line (file, line and column), a trace with no request,
/// or more than [`MAX_LANES`] lanes.
///
/// # Examples
///
/// ```
/// use headroom_sim::{audit, trace::Records};
///
/// let text = r#"{"t": 0, "type": "request", "id": "r1", "input_tokens": 100, "max_tokens": 100}
/// {"t": 0.1, "type": "request", "id": "r2", "input_tokens": 100, "max_tokens": 100}
/// {"t": 0.2, "type": "response", "id": "r2", "status": 429, "headers": {"retry-after": "1"}}
/// "#;
/// let report = audit::audit_records(&mut Records::new(text.as_bytes(), "t.jsonl"), "t.jsonl").unwrap();
/// assert_eq!((report.requests, report.in_flight_at_end), (2, 1));
/// assert_eq!(report.prevented_429, 1);
///
/// let empty = audit::audit_records(&mut Records::new(&b""[..], "e.jsonl"), "e.jsonl");
/// assert_eq!(empty.unwrap_err().to_string(), "e.jsonl: the trace has no requests");
/// ```
pub fn audit_records<R: BufRead>(records: &mut Records<R>, name: &str) -> Result<Audit, CliError> {
    let mut auditor = Auditor::new(name);
    for event in records.by_ref() {
        auditor
            .event(&event?)
            .map_err(|why| CliError::Input(format!("{name}: {why}")))?;
    }
    records.require_requests()?;
    Ok(auditor.finish(records.in_flight()))
}

/// The audit in progress: the shadow engine and the report so far.
struct Auditor {
    shadow: Shadow,
    report: Audit,
    /// When each request in flight was recorded as sent, to place its 429.
    sent_at: HashMap<String, u64>,
}

impl Auditor {
    fn new(name: &str) -> Self {
        Self {
            shadow: Shadow::new(),
            report: Audit::new(name),
            sent_at: HashMap::new(),
        }
    }

    /// Takes the next event in trace order.
    fn event(&mut self, event: &Event) -> Result<(), String> {
        let report = &mut self.report;
        match event {
            Event::Request(request) => {
                report.requests = report.requests.saturating_add(1);
                let verdict = self.shadow.request(request)?;
                let count = match verdict {
                    Verdict::Admit => &mut report.would_admit,
                    Verdict::Wait { .. } => &mut report.would_wait,
                    Verdict::Reject { .. } => &mut report.would_reject,
                    Verdict::Untracked => &mut report.untracked,
                };
                *count = count.saturating_add(1);
                self.sent_at.insert(request.id.clone(), request.t_us);
            }
            Event::Response(response) => {
                report.responses = report.responses.saturating_add(1);
                let sent_at = self.sent_at.remove(&response.id).unwrap_or(0);
                let Some((verdict, samples)) = self.shadow.response(response) else {
                    return Ok(());
                };
                for sample in samples {
                    if let Some(stats) = report.errors.get_mut(sample.kind.index()) {
                        stats.add(sample.estimate, sample.truth);
                    }
                }
                if response.status == 429 {
                    record_429(report, &response.id, sent_at, verdict);
                }
            }
        }
        Ok(())
    }

    /// The finished report; `in_flight_at_end` requests had no response.
    fn finish(mut self, in_flight_at_end: usize) -> Audit {
        self.report.lanes = self.shadow.lanes();
        self.report.in_flight_at_end = in_flight_at_end as u64;
        self.report.finish();
        self.report
    }
}

fn record_429(report: &mut Audit, id: &str, t_us: u64, verdict: Verdict) {
    report.recorded_429 = report.recorded_429.saturating_add(1);
    let t = report::seconds(t_us);
    let held = match verdict {
        Verdict::Wait { wait_us, limit } => HeldBack {
            id: id.to_owned(),
            t,
            wait_ms: Some(wait_us.div_ceil(1_000)),
            limit: limit.name(),
            rejected: false,
        },
        Verdict::Reject { limit } => HeldBack {
            id: id.to_owned(),
            t,
            wait_ms: None,
            limit: limit.name(),
            rejected: true,
        },
        Verdict::Admit | Verdict::Untracked => {
            report.missed.push(Missed {
                id: id.to_owned(),
                t,
            });
            return;
        }
    };
    report.prevented_429 = report.prevented_429.saturating_add(1);
    report.held_back.push(held);
}

/// Opens the trace `name` for reading: a path, else the file name of a bundled trace (with or
/// without `.jsonl`), as `simulate` does.
///
/// # Errors
///
/// [`CliError::Input`] naming the file when it cannot be opened.
///
/// # Examples
///
/// ```
/// let mut records = headroom_sim::audit::open("anthropic-tier1-batch").unwrap();
/// assert!(records.next().is_some());
/// ```
pub fn open(name: &str) -> Result<Records<Box<dyn BufRead>>, CliError> {
    let bundled = BUNDLED
        .iter()
        .find(|(file, _)| *file == name || file.strip_suffix(".jsonl") == Some(name));
    Ok(match bundled {
        Some((file, text)) if !Path::new(name).exists() => {
            Records::new(Box::new(text.as_bytes()), file)
        }
        _ => Records::open(name)?,
    })
}

/// `headroom audit …`: prints the audit and returns the exit code (0, or 1 when a recorded
/// 429 would not have been prevented). The trace is read as it is audited (see
/// [`audit_records`]).
///
/// # Errors
///
/// [`CliError`] on bad input (exit code 2) or when standard output cannot be written.
pub fn run_cli(args: &AuditArgs) -> Result<ExitCode, CliError> {
    // Named as the reader names it in errors: `-` is standard input.
    let name = if args.trace == "-" {
        "<stdin>"
    } else {
        &args.trace
    };
    let report = audit_records(&mut open(&args.trace)?, name)?;
    let text = match args.format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json() + "\n",
    };
    crate::cli::print(&text)?;
    Ok(if report.flagged() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
