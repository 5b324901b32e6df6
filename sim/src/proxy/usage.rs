//! What a response really cost, read from its body as it streams past: the `usage` of a JSON
//! body, or of a server-sent event stream (Anthropic's `message_start` carries the input,
//! its final `message_delta` the output; OpenAI's last chunk carries both when asked for).
//!
//! The scanner only looks: every chunk goes on to the client as it came, at once. A JSON body
//! is kept up to [`JSON_CAP`] bytes to be parsed at its end; an event stream is read line by
//! line and only its current line is kept.

use headroom::Usage;
use serde_json::Value;

/// The largest JSON body kept to read its usage (larger ones keep the estimate).
pub const JSON_CAP: usize = 4 << 20;

/// Reads a response body's usage, chunk by chunk.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::usage::Scanner;
///
/// let mut sse = Scanner::new(Some("text/event-stream"));
/// sse.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12}}}\n\n");
/// sse.feed(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_");
/// sse.feed(b"tokens\":34}}\n\n");
/// let usage = sse.finish().unwrap();
/// assert_eq!((usage.input_tokens, usage.output_tokens), (12, 34));
///
/// let mut json = Scanner::new(Some("application/json"));
/// json.feed(br#"{"usage":{"prompt_tokens":5,"completion_tokens":6}}"#);
/// assert_eq!(json.finish().map(|usage| usage.output_tokens), Some(6));
/// ```
#[derive(Debug)]
pub struct Scanner {
    events: bool,
    kept: Vec<u8>,
    overflow: bool,
    usage: Option<Usage>,
}

impl Scanner {
    /// A scanner for a body of this `content-type`.
    pub fn new(content_type: Option<&str>) -> Self {
        Self {
            events: content_type.is_some_and(|kind| kind.starts_with("text/event-stream")),
            kept: Vec::new(),
            overflow: false,
            usage: None,
        }
    }

    /// Looks at the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.events {
            if self.kept.len().saturating_add(chunk.len()) > JSON_CAP {
                self.overflow = true;
                self.kept = Vec::new();
            }
            if !self.overflow {
                self.kept.extend_from_slice(chunk);
            }
            return;
        }
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            let (line, tail) = rest.split_at(end);
            self.kept.extend_from_slice(line);
            let line = std::mem::take(&mut self.kept);
            self.event_line(&line);
            rest = tail.get(1..).unwrap_or_default();
        }
        if self.kept.len().saturating_add(rest.len()) <= JSON_CAP {
            self.kept.extend_from_slice(rest);
        }
    }

    /// The usage read, once the body has ended.
    pub fn finish(mut self) -> Option<Usage> {
        if self.events {
            let line = std::mem::take(&mut self.kept);
            self.event_line(&line);
        } else if !self.overflow {
            let json: Value = serde_json::from_slice(&self.kept).ok()?;
            self.merge(&json);
        }
        self.usage
    }

    fn event_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(json) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return;
        };
        self.merge(&json);
    }

    /// Takes the counts of a `usage` object (at the top or in `message`), newer over older.
    fn merge(&mut self, json: &Value) {
        let Some(usage) = json
            .get("usage")
            .or_else(|| json.get("message").and_then(|message| message.get("usage")))
            .and_then(Value::as_object)
        else {
            return;
        };
        let total = self.usage.get_or_insert_with(Usage::default);
        let count = |keys: &[&str]| {
            keys.iter()
                .find_map(|key| usage.get(*key).and_then(Value::as_u64))
        };
        if let Some(input) = count(&["input_tokens", "prompt_tokens"]) {
            total.input_tokens = input;
        }
        if let Some(output) = count(&["output_tokens", "completion_tokens"]) {
            total.output_tokens = output;
        }
        if let Some(reads) = count(&["cache_read_input_tokens"]) {
            total.cache_read_input_tokens = reads;
        }
        if let Some(writes) = count(&["cache_creation_input_tokens"]) {
            total.cache_creation_input_tokens = writes;
        }
    }
}
