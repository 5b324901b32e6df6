//! What is inside an LLM API exchange's bodies: the input-token estimate of a request and the
//! token usage a response reports.
//!
//! A capture holds bodies as text in the provider's own shapes, which differ (Anthropic's
//! `input_tokens` excludes cache reads, OpenAI's `prompt_tokens` includes them) and come either
//! as one JSON object or as a server-sent-event stream. These functions turn both into trace v1
//! terms so the importer stays about HAR entries. The estimate is deliberately simple and
//! documented as such: the trace calls `input_tokens` "the caller's estimate at send time", and
//! a tokenizer per model would be a large dependency for a number `usage` corrects anyway.

use serde_json::Value;

use crate::trace::Usage;

/// The input-token estimate of a request body: counted characters / 4, rounded up (module docs).
///
/// # Examples
///
/// ```
/// let body = serde_json::json!({"model": "m", "max_tokens": 9, "system": "Be brief.",
///     "messages": [{"role": "user", "content": "Hi"}]});
/// // "Be brief." (9) + "user" (4) + "Hi" (2) = 15 characters → 4 tokens.
/// assert_eq!(headroom_sim::har::estimate_input_tokens(&body), 4);
/// ```
pub fn estimate_input_tokens(body: &Value) -> u64 {
    let mut characters = 0_u64;
    for key in [
        "system",
        "messages",
        "tools",
        "prompt",
        "input",
        "instructions",
        "functions",
    ] {
        if let Some(value) = body.get(key) {
            count_characters(value, &mut characters);
        }
    }
    characters.div_ceil(4)
}

/// Adds the characters of every string in `value` to `total`, skipping inline base64 data.
fn count_characters(value: &Value, total: &mut u64) {
    match value {
        Value::String(text) if !text.starts_with("data:") => {
            *total = total.saturating_add(u64::try_from(text.chars().count()).unwrap_or(u64::MAX));
        }
        Value::Array(items) => items.iter().for_each(|item| count_characters(item, total)),
        Value::Object(map) => {
            let base64 = map.get("type").and_then(Value::as_str) == Some("base64");
            for (key, item) in map {
                if !(base64 && key == "data") {
                    count_characters(item, total);
                }
            }
        }
        _ => {}
    }
}

/// Token usage from a response body: a JSON object's `usage`, or the events of an SSE stream.
///
/// # Examples
///
/// ```
/// use headroom_sim::har::usage_from_body;
/// let openai = r#"{"usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 64}}}"#;
/// let usage = usage_from_body(openai).unwrap();
/// assert_eq!((usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens), (36, 64, 7));
/// ```
pub fn usage_from_body(text: &str) -> Option<Usage> {
    let mut found = PartialUsage::default();
    if let Ok(body) = serde_json::from_str::<Value>(text) {
        found.merge(body.get("usage"));
    } else {
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            found.merge(event.pointer("/message/usage"));
            found.merge(event.get("usage"));
        }
    }
    Some(Usage {
        input_tokens: found.input?,
        output_tokens: found.output?,
        cache_read_input_tokens: found.cache_read.unwrap_or(0),
        cache_creation_input_tokens: found.cache_creation.unwrap_or(0),
    })
}

/// Usage counts seen so far; later reports override earlier ones.
#[derive(Default)]
struct PartialUsage {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
}

impl PartialUsage {
    /// Folds in one `usage` object (Anthropic, OpenAI chat or OpenAI responses shape).
    fn merge(&mut self, usage: Option<&Value>) {
        let Some(usage) = usage.filter(|usage| usage.is_object()) else {
            return;
        };
        let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
        for (total, cached) in [
            ("/prompt_tokens", "/prompt_tokens_details/cached_tokens"),
            ("/input_tokens", "/input_tokens_details/cached_tokens"),
        ] {
            if let Some(total) = count(total) {
                let cached = count(cached);
                self.input = Some(total.saturating_sub(cached.unwrap_or(0)));
                if cached.is_some() {
                    self.cache_read = cached;
                }
            }
        }
        if let Some(output) = count("/completion_tokens").or_else(|| count("/output_tokens")) {
            self.output = Some(output);
        }
        if let Some(read) = count("/cache_read_input_tokens") {
            self.cache_read = Some(read);
        }
        if let Some(created) = count("/cache_creation_input_tokens") {
            self.cache_creation = Some(created);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_estimate_counts_content_characters_but_not_inline_data() {
        let body = json!({
            "model": "a-very-long-model-name-not-counted", "max_tokens": 1,
            "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "text", "text": "héllo"}
            ]}]
        });
        // user 4, image 5, base64 6, image/png 9, image_url 9, text 4, héllo 5 = 42 → 11.
        assert_eq!(estimate_input_tokens(&body), 11);
        assert_eq!(estimate_input_tokens(&json!({"model": "m"})), 0);
    }

    #[test]
    fn usage_comes_from_json_bodies_and_event_streams() {
        let anthropic = r#"{"usage": {"input_tokens": 24, "output_tokens": 38, "cache_read_input_tokens": null, "cache_creation_input_tokens": 7}}"#;
        assert_eq!(
            usage_from_body(anthropic),
            Some(Usage {
                input_tokens: 24,
                output_tokens: 38,
                cache_read_input_tokens: 0,
                cache_creation_input_tokens: 7
            })
        );
        let responses_api = r#"{"usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 3}}"#;
        assert_eq!(
            usage_from_body(responses_api),
            Some(Usage {
                input_tokens: 30,
                output_tokens: 3,
                cache_read_input_tokens: 20,
                cache_creation_input_tokens: 0
            })
        );
        let stream = "event: message_start\n\
            data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":57}}\n\n";
        assert_eq!(
            usage_from_body(stream),
            Some(Usage {
                input_tokens: 12,
                output_tokens: 57,
                cache_read_input_tokens: 100,
                cache_creation_input_tokens: 0
            })
        );
        let openai_stream = "data: {\"choices\":[],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\ndata: [DONE]\n";
        assert_eq!(
            usage_from_body(openai_stream).map(|u| (u.input_tokens, u.output_tokens)),
            Some((9, 2))
        );
        for none in [
            "",
            "{}",
            r#"{"type":"error"}"#,
            r#"{"usage": {"input_tokens": 5}}"#,
            r#"{"usage": {"input_tokens": -5, "output_tokens": 1}}"#,
        ] {
            assert_eq!(usage_from_body(none), None, "{none}");
        }
    }
}
