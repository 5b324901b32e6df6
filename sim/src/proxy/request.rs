//! What the proxy reads from a request before deciding on it: its model (the lane), and its
//! cost — the input estimated from the body, and `max_tokens`.
//!
//! The input estimator is the body's length in bytes divided by 4 (about 4 bytes of English
//! text or JSON per token), the same estimate `headroom mock` charges; it counts the whole
//! JSON body, so it over-estimates a little, which the engine corrects from the response's
//! `usage`. The body is forwarded exactly as it came.

use headroom::Cost;
use serde_json::Value;

use crate::workload::Dialect;

/// A request's model and cost.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::request::Shape;
/// use headroom_sim::workload::Dialect;
///
/// let body = br#"{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[]}"#;
/// let shape = Shape::read(Dialect::Anthropic, body).unwrap();
/// assert_eq!(shape.model.as_deref(), Some("claude-sonnet-4-5"));
/// assert_eq!((shape.cost.input_tokens(), shape.cost.max_tokens()), (body.len() as u64 / 4, 100));
/// assert!(Shape::read(Dialect::Anthropic, b"{not json").is_err());
/// assert_eq!(Shape::read(Dialect::Anthropic, b"").unwrap().model, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The `model` field; `None` for a request without a body (`GET /v1/models`).
    pub model: Option<String>,
    /// What it is expected to cost.
    pub cost: Cost,
}

impl Shape {
    /// Reads a request body: empty (one request, no tokens) or a JSON object.
    ///
    /// # Errors
    ///
    /// A message for the client (the API's own wording where there is one) when the body is
    /// not a JSON object, or its `model` or `max_tokens` is not of the right type.
    pub fn read(dialect: Dialect, body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                model: None,
                cost: Cost::request(0, 0),
            });
        }
        let json: Value =
            serde_json::from_slice(body).map_err(|error| format!("invalid JSON body: {error}"))?;
        let object = json.as_object().ok_or("the body must be a JSON object")?;
        let model = match object.get("model") {
            None => None,
            Some(Value::String(model)) => Some(model.clone()),
            Some(_) => return Err("model: Input should be a valid string".into()),
        };
        let max_tokens = match dialect {
            Dialect::Anthropic => object.get("max_tokens"),
            Dialect::OpenAi => object
                .get("max_completion_tokens")
                .or_else(|| object.get("max_tokens")),
        };
        let max_tokens = match max_tokens {
            None | Some(Value::Null) => 0,
            Some(value) => value
                .as_u64()
                .ok_or("max_tokens: Input should be a valid integer")?,
        };
        let input = u64::try_from(body.len()).unwrap_or(u64::MAX) / 4;
        Ok(Self {
            model,
            cost: Cost::request(input, max_tokens),
        })
    }
}

/// The API shape a request path belongs to, for the proxy's own answers (errors in the
/// provider's shape): OpenAI's for its `/chat/completions`, `/completions`, `/responses` and
/// `/embeddings`, Anthropic's for everything else.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::request::dialect_of;
/// use headroom_sim::workload::Dialect;
///
/// assert_eq!(dialect_of("/v1/chat/completions"), Dialect::OpenAi);
/// assert_eq!(dialect_of("/v1/messages"), Dialect::Anthropic);
/// ```
pub fn dialect_of(path: &str) -> Dialect {
    let openai = [
        "/chat/completions",
        "/completions",
        "/responses",
        "/embeddings",
    ];
    if openai.iter().any(|tail| path.ends_with(tail)) {
        Dialect::OpenAi
    } else {
        Dialect::Anthropic
    }
}
