//! Where a top-level field's value starts in one line of JSON, for error columns, and what a
//! line's `type` says when a scan is enough to know it.
//!
//! serde gives a column for syntax and type errors only. Errors found after parsing (a response
//! with no request, time going backwards) should still point at the value at fault, so this
//! tiny scanner walks the already-valid line, tracking strings and nesting depth, and returns
//! the 1-based byte column of the value of a key at depth 1. It never fails: unknown → `None`.

/// The 1-based byte column where the value of top-level `key` starts in `line`, if present
/// (the first occurrence).
pub(crate) fn value_column(line: &str, key: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut depth = 0_usize;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'{' | b'[' => depth = depth.saturating_add(1),
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = at + 1;
                let end = string_end(bytes, start)?;
                at = end;
                if depth == 1 {
                    let after = skip_whitespace(bytes, end + 1);
                    if bytes.get(after) == Some(&b':') && line.get(start..end) == Some(key) {
                        return Some(skip_whitespace(bytes, after + 1) + 1);
                    }
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// What a line's top-level `type` says, when a plain scan can tell for sure that a full parse of
/// the line's type probe would say the same: exactly one top-level `type` key whose value is the
/// string `request` or `response`, no top-level `trace` key, and no escape in any top-level key
/// (an escaped key could spell `type` or `trace`). `None` for anything else, including invalid
/// JSON: the caller then parses the probe as before.
pub(crate) fn event_kind(line: &str) -> Option<&'static str> {
    let bytes = line.as_bytes();
    let mut depth = 0_usize;
    let mut at = 0;
    let mut kind = None;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'{' | b'[' => depth = depth.saturating_add(1),
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = at + 1;
                let end = string_end(bytes, start)?;
                at = end;
                let after = skip_whitespace(bytes, end + 1);
                if depth == 1 && bytes.get(after) == Some(&b':') {
                    let key = bytes.get(start..end)?;
                    if key.contains(&b'\\') || key == b"trace" {
                        return None;
                    }
                    if key == b"type" {
                        let value = skip_whitespace(bytes, after + 1);
                        if bytes.get(value) != Some(&b'"') || kind.is_some() {
                            return None;
                        }
                        let value_end = string_end(bytes, value + 1)?;
                        kind = Some(match bytes.get(value + 1..value_end)? {
                            b"request" => "request",
                            b"response" => "response",
                            _ => return None,
                        });
                        at = value_end;
                    }
                }
            }
            _ => {}
        }
        at += 1;
    }
    kind
}

/// The index of the closing quote of the string whose contents start at `from`.
fn string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        match bytes.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at),
            _ => at += 1,
        }
    }
}

/// The first index at or after `from` that is not JSON whitespace.
fn skip_whitespace(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::value_column;

    #[test]
    fn event_kind_only_when_the_probe_would_agree() {
        use super::event_kind;
        let request = r#"{"t": 0, "type": "request", "id": "r1", "usage": {"type": "x"}}"#;
        assert_eq!(event_kind(request), Some("request"));
        assert_eq!(
            event_kind(r#"{"type":"response","id":"r1"}"#),
            Some("response")
        );
        for unsure in [
            r#"{"type": "request", "type": "request"}"#,
            r#"{"type": "request", "trace": 1}"#,
            r#"{"typ\u0065": "x", "type": "request"}"#,
            r#"{"type": "req\u0075est"}"#,
            r#"{"type": "other"}"#,
            r#"{"type": 1}"#,
            r#"{"type": null}"#,
            r#"{"id": "r1"}"#,
            r#"{"type": "request"#,
        ] {
            assert_eq!(event_kind(unsure), None, "{unsure}");
        }
    }

    #[test]
    fn finds_top_level_values_only() {
        let line = r#"{"usage": {"id": 1}, "note": "\"id\": 2", "id" :  "r1"}"#;
        assert_eq!(value_column(line, "id"), Some(51));
        assert_eq!(value_column(line, "usage"), Some(11));
        assert_eq!(value_column(line, "missing"), None);
        assert_eq!(value_column(r#"{"id": "unterminated"#, "id"), Some(8));
        assert_eq!(value_column(r#"{"id"#, "id"), None);
    }
}
