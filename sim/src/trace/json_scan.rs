//! Where a top-level field's value starts in one line of JSON, for error columns, and what a
//! line's `type` says when a scan is enough to know it.
//!
//! serde gives a column for syntax and type errors only. Errors found after parsing (a response
//! with no request, time going backwards) should still point at the value at fault, so this
//! tiny scanner walks the already-valid line, tracking strings and nesting depth, and returns
//! the 1-based byte column of the value of a key at depth 1. It never fails: unknown → `None`.

/// The 1-based byte column where the value of top-level `key` starts in `line`, if present
/// (the first occurrence).
pub(crate) fn value_column(line: &[u8], key: &str) -> Option<usize> {
    TopLevelKeys::new(line)
        .find(|&(found, _)| found == key.as_bytes())
        .map(|(_, value)| value + 1)
}

/// What a line's top-level `type` says, when a plain scan can tell for sure that a full parse of
/// the line's type probe would say the same: exactly one top-level `type` key whose value is the
/// string `request` or `response`, no top-level `trace` key, and no escape in any top-level key
/// (an escaped key could spell `type` or `trace`). `None` for anything else, including invalid
/// JSON: the caller then parses the probe as before.
pub(crate) fn event_kind(line: &str) -> Option<&'static str> {
    let bytes = line.as_bytes();
    let mut keys = TopLevelKeys::new(bytes);
    let mut kind = None;
    for (key, value) in keys.by_ref() {
        if key.contains(&b'\\') || key == b"trace" {
            return None;
        }
        if key == b"type" {
            if kind.is_some() || bytes.get(value) != Some(&b'"') {
                return None;
            }
            let end = string_end(bytes, value + 1)?;
            kind = Some(match bytes.get(value + 1..end)? {
                b"request" => "request",
                b"response" => "response",
                _ => return None,
            });
        }
    }
    if keys.broken { None } else { kind }
}

/// The keys at depth 1 of one line of JSON, in order, each with the index where its value
/// starts. Strings are skipped whole (their braces and colons do not count); the walk stops at
/// an unterminated string and sets `broken`.
struct TopLevelKeys<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    broken: bool,
}

impl<'a> TopLevelKeys<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            depth: 0,
            broken: false,
        }
    }
}

impl<'a> Iterator for TopLevelKeys<'a> {
    type Item = (&'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(&byte) = self.bytes.get(self.at) {
            self.at += 1;
            match byte {
                b'{' | b'[' => self.depth = self.depth.saturating_add(1),
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                b'"' => {
                    let start = self.at;
                    let Some(end) = string_end(self.bytes, start) else {
                        self.broken = true;
                        return None;
                    };
                    self.at = end + 1;
                    let after = skip_whitespace(self.bytes, end + 1);
                    if self.depth == 1 && self.bytes.get(after) == Some(&b':') {
                        let key = self.bytes.get(start..end)?;
                        return Some((key, skip_whitespace(self.bytes, after + 1)));
                    }
                }
                _ => {}
            }
        }
        None
    }
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
        assert_eq!(value_column(line.as_bytes(), "id"), Some(51));
        assert_eq!(value_column(line.as_bytes(), "usage"), Some(11));
        assert_eq!(value_column(line.as_bytes(), "missing"), None);
        assert_eq!(value_column(br#"{"id": "unterminated"#, "id"), Some(8));
        assert_eq!(value_column(br#"{"id"#, "id"), None);
    }
}
