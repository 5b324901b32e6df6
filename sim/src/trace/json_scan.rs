//! Where a top-level field's value starts in one line of JSON, for error columns.
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
    fn finds_top_level_values_only() {
        let line = r#"{"usage": {"id": 1}, "note": "\"id\": 2", "id" :  "r1"}"#;
        assert_eq!(value_column(line, "id"), Some(51));
        assert_eq!(value_column(line, "usage"), Some(11));
        assert_eq!(value_column(line, "missing"), None);
        assert_eq!(value_column(r#"{"id": "unterminated"#, "id"), Some(8));
        assert_eq!(value_column(r#"{"id"#, "id"), None);
    }
}
