//! `headroom import-har FILE.har -o OUT.jsonl`: HAR 1.2 → trace v1.
//!
//! A HAR capture is the easiest way for a user to record real traffic, but it holds everything
//! the browser or proxy saw, in its own shape. This module keeps the LLM API calls and writes
//! them as a trace the simulator and `audit` can replay. The rules, where the trace contract
//! leaves room:
//!
//! * **Which entries.** A `POST` whose body is a JSON object with a string `model` and an integer
//!   `max_tokens`, `max_completion_tokens` or `max_output_tokens`. The body decides, not the
//!   URL: proxies, gateways and Azure deployments all have other paths, and trace v1 needs
//!   `max_tokens`, which a path alone cannot give. So `/v1/messages` (where `max_tokens` is
//!   required) is always in; `/v1/messages/count_tokens`, embeddings, and an OpenAI chat call
//!   without a token cap are skipped. Every other entry is skipped and counted.
//! * **Time.** `t` is seconds since the earliest imported request's `startedDateTime` (RFC 3339
//!   with offset; `+0200` also accepted); the note in the header records that instant. The
//!   response arrives `time` ms after its start (absent or negative: at the start). Events are
//!   sorted by time, so the trace is ordered even when the HAR's entries are not.
//! * **Id.** The response's `request-id` (Anthropic) or `x-request-id` (OpenAI) header, else
//!   `r{n}` (n counts imported requests from 1). An id already used gets `-2`, `-3`, … appended.
//! * **Lane** is the body's `model`.
//! * **`input_tokens` is an estimate**, as the contract's "caller's estimate at send time":
//!   the characters of every string value under `system`, `messages`, `tools`, `prompt`,
//!   `input`, `instructions` and `functions`, divided by 4, rounded up. Inline base64 data
//!   (Anthropic `"type": "base64"` sources, `data:` URLs) is not counted. Real token counts
//!   come from `usage`.
//! * **Response**: status and every response header (duplicates kept). A status of 0 (the
//!   request failed or was aborted) gives no response line: the request is in flight at the end.
//! * **Usage** from the response body's `usage` (JSON, or the `data:` lines of a
//!   server-sent-event stream: `message_start` then `message_delta` for Anthropic, the final
//!   chunk for OpenAI). Anthropic fields are copied; OpenAI's `prompt_tokens` minus
//!   `prompt_tokens_details.cached_tokens` becomes `input_tokens` and the cached tokens
//!   `cache_read_input_tokens` (Anthropic's meaning: `input_tokens` excludes cache reads).
//!   No usage without both an input and an output count.

use std::collections::HashSet;
use std::path::Path;

use headroom::datetime::Rfc3339;
use headroom::time::UnixTime;
use serde_json::Value;

use crate::cli::{CliError, FileArg};
use crate::har::{self, Entry, Har, estimate_input_tokens, usage_from_body};
use crate::trace::{self, Event, Header, MAX_NUMERIC_MICROS, Request, Response, TimeForm, Trace};

/// Runs `import-har`: reads `input`, writes the trace to `output` (`-`: standard output) and
/// prints `imported N requests, skipped M entries` to standard error.
///
/// # Errors
///
/// [`CliError::Input`] when `input` cannot be read or is not HAR (naming the file, line and
/// column) or holds a bad value, or when `output` names the same file as `input` (refused
/// before anything is written); [`CliError::Output`] naming `output` when it cannot be
/// written.
pub fn run(input: &str, output: &str) -> Result<(), CliError> {
    crate::cli::distinct_outputs(
        &[FileArg::new("FILE.har", input)],
        &[FileArg::or_stdio("-o", output)],
    )?;
    let bytes = std::fs::read(input)
        .map_err(|error| CliError::Input(format!("{input}: cannot read: {error}")))?;
    let text = String::from_utf8(bytes).map_err(|error| {
        let (line, column) = utf8_position(error.as_bytes(), error.utf8_error().valid_up_to());
        CliError::Input(format!("{input}:{line}:{column}: not valid UTF-8"))
    })?;
    let har = har::parse(&text).map_err(|error| {
        CliError::Input(format!(
            "{input}:{}:{}: not a HAR 1.2 file: {error}",
            error.line, error.column
        ))
    })?;
    let source = Path::new(input).file_name().map_or_else(
        || input.to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let import =
        convert(&har, &source).map_err(|error| CliError::Input(format!("{input}: {error}")))?;
    trace::write_file(&import.trace, output).map_err(|error| {
        let label = if output == "-" { "<stdout>" } else { output };
        CliError::output(label, error)
    })?;
    eprintln!(
        "imported {} requests, skipped {} entries",
        import.requests, import.skipped
    );
    Ok(())
}

/// The line and column (bytes, from 1, as the trace reader counts them) of byte `offset` of
/// `bytes`, where the text stops being UTF-8.
fn utf8_position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line = before
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        .saturating_add(1);
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline.saturating_add(1));
    (line, offset.saturating_sub(line_start).saturating_add(1))
}

/// What [`convert`] made of a HAR log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The trace.
    pub trace: Trace,
    /// How many entries became requests.
    pub requests: usize,
    /// How many entries were not LLM API calls.
    pub skipped: usize,
}

/// Converts a parsed HAR log into a trace; `source` (the file name) goes into the header note.
///
/// # Errors
///
/// An imported entry's `startedDateTime` is not a date-time, or its status does not fit HTTP's
/// range; the message names the entry (`log.entries[3].startedDateTime: …`).
///
/// # Examples
///
/// ```
/// let har = headroom_sim::har::parse(r#"{"log": {"entries": [{
///   "startedDateTime": "2025-06-01T10:00:00.000Z", "time": 812.5,
///   "request": {"method": "POST", "url": "https://api.anthropic.com/v1/messages",
///     "postData": {"text": "{\"model\": \"claude-sonnet-4-5\", \"max_tokens\": 64, \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}"}},
///   "response": {"status": 200, "headers": [{"name": "request-id", "value": "req_1"}]}}]}}"#).unwrap();
/// let import = headroom_sim::import_har::convert(&har, "x.har").unwrap();
/// assert_eq!(import.requests, 1);
/// assert_eq!(import.trace.events[1].t_us(), 812_500);
/// assert_eq!(import.trace.events[1].id(), "req_1");
/// ```
pub fn convert(har: &Har, source: &str) -> Result<Import, String> {
    let mut calls = Vec::new();
    for (index, entry) in har.log.entries.iter().enumerate() {
        let Some((model, max_tokens, body)) = llm_call(entry) else {
            continue;
        };
        let started = entry.started().map_err(|why| {
            format!(
                "log.entries[{index}].startedDateTime: {:?} is not an ISO 8601 date-time ({why})",
                entry.started_date_time
            )
        })?;
        let status = match entry.response.status {
            ..=0 => None,
            status => Some(
                u16::try_from(status)
                    .ok()
                    .filter(|status| trace::HTTP_STATUSES.contains(status))
                    .ok_or_else(|| {
                        format!(
                            "log.entries[{index}].response.status: {status} is not an HTTP \
                             status (100 to 599)"
                        )
                    })?,
            ),
        };
        calls.push((started, entry, model, max_tokens, body, status));
    }
    calls.sort_by_key(|call| call.0);
    let origin = calls.first().map_or(UnixTime::EPOCH, |call| call.0);
    let mut used = HashSet::new();
    let mut timed = Vec::new();
    for (n, (started, entry, model, max_tokens, body, status)) in calls.iter().enumerate() {
        let t_us = started.as_micros().saturating_sub(origin.as_micros());
        let elapsed = entry.time.map_or(0, |time| time.as_ticks());
        if t_us.saturating_add(elapsed) > MAX_NUMERIC_MICROS {
            return Err(format!(
                "log.entries: an LLM call ends more than {} s after the first one starts, beyond what a trace's numeric time holds exactly",
                MAX_NUMERIC_MICROS / 1_000_000
            ));
        }
        let id = unique_id(
            &mut used,
            response_id(entry).unwrap_or_else(|| format!("r{}", n + 1)),
        );
        timed.push((
            t_us,
            Event::Request(Request {
                t_us,
                id: id.clone(),
                lane: Some(model.clone()),
                input_tokens: estimate_input_tokens(body),
                max_tokens: *max_tokens,
            }),
        ));
        let Some(status) = *status else { continue };
        let t_us = t_us.saturating_add(elapsed);
        let body = entry
            .response
            .content
            .as_ref()
            .and_then(har::Content::decoded_text);
        timed.push((
            t_us,
            Event::Response(Response {
                t_us,
                id,
                status,
                headers: entry
                    .response
                    .headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
                usage: body.as_deref().and_then(usage_from_body),
            }),
        ));
    }
    // Stable: at equal times, a request stays before its own (zero-time) response.
    timed.sort_by_key(|(t_us, _)| *t_us);
    let events: Vec<Event> = timed.into_iter().map(|(_, event)| event).collect();
    let header = Header {
        provider: provider_of(&events),
        model: single_model(&calls.iter().map(|call| call.2.as_str()).collect::<Vec<_>>()),
        note: Some(format!(
            "imported from {source} by headroom import-har; t = 0 is {}; input_tokens are estimates (request characters / 4)",
            Rfc3339(origin)
        )),
        world: None,
    };
    Ok(Import {
        requests: calls.len(),
        skipped: har.log.entries.len().saturating_sub(calls.len()),
        trace: Trace {
            header,
            time_form: TimeForm::Seconds,
            events,
        },
    })
}

/// `Some((model, max_tokens, body))` when `entry` is an LLM API call (module docs).
fn llm_call(entry: &Entry) -> Option<(String, u64, Value)> {
    if !entry.request.method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let text = entry.request.post_data.as_ref()?.text.as_deref()?;
    let body: Value = serde_json::from_str(text).ok()?;
    let model = body.get("model")?.as_str()?.to_owned();
    let max_tokens = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|key| body.get(key).and_then(Value::as_u64))?;
    Some((model, max_tokens, body))
}

/// The provider's request id from the response headers.
fn response_id(entry: &Entry) -> Option<String> {
    ["request-id", "x-request-id"].iter().find_map(|wanted| {
        entry
            .response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(wanted) && !h.value.trim().is_empty())
            .map(|h| h.value.trim().to_owned())
    })
}

/// `id`, or `id-2`, `id-3`, … if taken; records the result as taken.
fn unique_id(used: &mut HashSet<String>, id: String) -> String {
    let mut candidate = id.clone();
    let mut n = 1_u64;
    while used.contains(&candidate) {
        n = n.saturating_add(1);
        candidate = format!("{id}-{n}");
    }
    used.insert(candidate.clone());
    candidate
}

/// `anthropic` or `openai` when the response headers say so.
fn provider_of(events: &[Event]) -> Option<String> {
    let names = || {
        events
            .iter()
            .filter_map(|event| match event {
                Event::Response(response) => Some(
                    response
                        .headers
                        .iter()
                        .map(|(name, _)| name.to_ascii_lowercase()),
                ),
                Event::Request(_) => None,
            })
            .flatten()
    };
    if names().any(|name| name.starts_with("anthropic-")) {
        Some("anthropic".to_owned())
    } else if names().any(|name| name.starts_with("openai-") || name.starts_with("x-ratelimit-")) {
        Some("openai".to_owned())
    } else {
        None
    }
}

/// The model when every imported request used the same one.
fn single_model(models: &[&str]) -> Option<String> {
    let first = *models.first()?;
    models
        .iter()
        .all(|model| *model == first)
        .then(|| first.to_owned())
}

#[cfg(test)]
mod regression_tests {
    use super::*;

    /// Found by the `trace` fuzz target: a call 285 years after the first one gave a time that
    /// the numeric form cannot write exactly, so the imported trace did not read back unchanged.
    #[test]
    fn calls_beyond_the_numeric_time_range_are_an_error() {
        let text = include_str!("../../fuzz/regressions/trace/har-time-beyond-2pow53-us.har");
        let log = har::parse(text).unwrap();
        let error = convert(&log, "far.har").unwrap_err();
        assert!(
            error.contains("beyond what a trace's numeric time holds"),
            "{error}"
        );
    }

    #[test]
    fn numeric_times_beyond_the_exact_range_are_rejected_by_the_reader() {
        let far = format!(
            "{{\"t\": {}, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 1, \"max_tokens\": 1}}\n",
            (MAX_NUMERIC_MICROS / 1_000_000) + 10
        );
        assert!(trace::read_str(&far, "far.jsonl").is_err());
    }
}
