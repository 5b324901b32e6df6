//! Response bodies in each API's shape: a success with its `usage`, and the error bodies the
//! real APIs send (Anthropic's `{"type":"error","error":{…}}`, OpenAI's `{"error":{…}}`).

use serde_json::{Value, json};

use crate::workload::Dialect;

/// A successful response's body, with its usage.
pub fn success(dialect: Dialect, id: &str, model: &str, input: u64, output: u64) -> Value {
    match dialect {
        Dialect::Anthropic => json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{ "type": "text", "text": "mock" }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": { "input_tokens": input, "output_tokens": output },
        }),
        Dialect::OpenAi => json!({
            "id": id,
            "object": "chat.completion",
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": "mock" },
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": input,
                "completion_tokens": output,
                "total_tokens": input.saturating_add(output),
            },
        }),
    }
}

/// What went wrong, as the APIs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed.
    InvalidRequest,
    /// 404: no such endpoint for this dialect.
    NotFound,
    /// 429: a rate limit.
    RateLimit,
    /// 529: the provider is overloaded (Anthropic).
    Overloaded,
    /// 413: the request body is too large.
    TooLarge,
    /// 5xx: something failed on the serving side (a gateway's upstream is unreachable).
    Api,
}

/// An error body in the dialect's shape.
pub fn error(dialect: Dialect, kind: ErrorKind, message: &str) -> Value {
    match dialect {
        Dialect::Anthropic => {
            let kind = match kind {
                ErrorKind::InvalidRequest => "invalid_request_error",
                ErrorKind::NotFound => "not_found_error",
                ErrorKind::RateLimit => "rate_limit_error",
                ErrorKind::Overloaded => "overloaded_error",
                ErrorKind::TooLarge => "request_too_large",
                ErrorKind::Api => "api_error",
            };
            json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        Dialect::OpenAi => {
            let (kind, code) = match kind {
                ErrorKind::InvalidRequest => ("invalid_request_error", Value::Null),
                ErrorKind::NotFound => ("invalid_request_error", json!("unknown_url")),
                ErrorKind::RateLimit => ("requests", json!("rate_limit_exceeded")),
                ErrorKind::Overloaded | ErrorKind::Api => ("server_error", Value::Null),
                ErrorKind::TooLarge => ("invalid_request_error", json!("request_too_large")),
            };
            json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
        }
    }
}
