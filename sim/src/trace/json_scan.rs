//! Where a member of a JSON object is written, for error columns, and what a line's `type`
//! says when a walk over its top-level keys is enough to know it.
//!
//! serde gives a column for syntax and type errors only. Errors found after parsing (a response
//! with no request, time going backwards, a bad `world` value in a trace header or a scenario)
//! should still point at the key or value at fault, so [`members`] walks an object again,
//! member by member: the one walk of the simulator for "where is this key, where does its value
//! start". Keys are unescaped (by serde_json when they hold an escape) so that a key is found
//! as serde read it; a value is stepped over by its punctuation alone (strings whole, brackets
//! counted), which keeps [`event_kind`], on the reader's path for lines the direct parse
//! declines, as cheap as a byte scan; [`value_end`] leaves a value's extent to serde_json when
//! an error quotes it. The walk stops at the object's end and never fails: anything it cannot
//! read ends it quietly.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The 1-based byte column where the value of top-level `key` starts in `line`, if present
/// (the first occurrence).
///
/// Only an error asks for a column: the line, read as bytes by the hot path, is checked to be
/// UTF-8 (it is, once parsed) only then.
pub(crate) fn value_column(line: &[u8], key: &str) -> Option<usize> {
    members(std::str::from_utf8(line).ok()?, 0)
        .find(|member| member.key == key)
        .map(|member| member.value_at.saturating_add(1))
}

/// What a line's top-level `type` says, when a walk over its members can tell for sure that a
/// full parse of the line's type probe would say the same: the whole object walked, exactly one
/// top-level `type` key whose value is the string `request` or `response`, and no top-level
/// `trace` key (keys and the value unescaped, as the probe reads them). `None` for anything
/// else, and for a line the walk cannot follow: the caller then parses the probe as before. A
/// value the walk steps over is not checked; a line that is not JSON fails the typed parse that
/// follows, whose caller then reports the probe's error (`State::parse_event`).
pub(crate) fn event_kind(line: &str) -> Option<&'static str> {
    let mut walk = members(line, 0);
    let mut kind = None;
    for member in walk.by_ref() {
        match &*member.key {
            "trace" => return None,
            "type" if kind.is_none() => {
                let (value, _) = string_at(line, member.value_at)?;
                kind = Some(match &*value {
                    "request" => "request",
                    "response" => "response",
                    _ => return None,
                });
            }
            "type" => return None,
            _ => {}
        }
    }
    if walk.closed { kind } else { None }
}

/// One member of a JSON object as written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    /// The key, unescaped (borrowed from the text when it holds no escape).
    pub(crate) key: Cow<'a, str>,
    /// The offset of the key's opening quote.
    pub(crate) key_at: usize,
    /// The offset of the value's first byte.
    pub(crate) value_at: usize,
}

/// The members of the JSON object starting at offset `from` of `text` (after any whitespace),
/// in the order written. A member is yielded once its value's first byte is found; the value
/// is stepped over only when the next member is asked for, so the walk stops quietly at the
/// first thing that cannot be a member, and [`Members::closed`] then stays `false`.
pub(crate) fn members(text: &str, from: usize) -> Members<'_> {
    Members {
        text,
        at: from,
        value_at: None,
        started: false,
        closed: false,
        done: false,
    }
}

/// The walk of [`members`].
#[derive(Debug)]
pub(crate) struct Members<'a> {
    /// The text holding the object.
    text: &'a str,
    /// Where the walk reads next: the object's start, or just after a comma.
    at: usize,
    /// The value of the member yielded last, stepped over before the next member.
    value_at: Option<usize>,
    /// Whether the object's `{` has been read.
    started: bool,
    /// Whether the walk reached the object's `}`: no member stopped it.
    pub(crate) closed: bool,
    /// Whether the walk is over.
    done: bool,
}

impl<'a> Members<'a> {
    /// The next member; `None` (and the walk over) when the text says the object ends, or is
    /// not what a member of an object can be.
    fn step(&mut self) -> Option<Member<'a>> {
        let text = self.text;
        let bytes = text.as_bytes();
        let byte = |at: usize| bytes.get(at).copied();
        if let Some(value_at) = self.value_at.take() {
            let after = after_whitespace(bytes, skip_value(bytes, value_at)?);
            match byte(after)? {
                b',' => self.at = after.saturating_add(1),
                b'}' => {
                    self.closed = true;
                    return None;
                }
                _ => return None,
            }
        } else if !self.started {
            self.started = true;
            let open = after_whitespace(bytes, self.at);
            if byte(open)? != b'{' {
                return None;
            }
            let first = after_whitespace(bytes, open.saturating_add(1));
            if byte(first)? == b'}' {
                self.closed = true;
                return None;
            }
            self.at = first;
        }
        let key_at = after_whitespace(bytes, self.at);
        let (key, key_end) = string_at(text, key_at)?;
        let colon = after_whitespace(bytes, key_end);
        if byte(colon)? != b':' {
            return None;
        }
        let value_at = after_whitespace(bytes, colon.saturating_add(1));
        self.value_at = Some(value_at);
        Some(Member {
            key,
            key_at,
            value_at,
        })
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        if self.done {
            return None;
        }
        let member = self.step();
        self.done = member.is_none();
        member
    }
}

/// Where the top-level object `text` writes member `key`'s value, and that value's text: to
/// its end, or to the end of `text` when the value is cut short (errors still place what is
/// there).
pub(crate) fn member_value<'a>(text: &'a str, key: &str) -> Option<(usize, &'a str)> {
    let at = members(text, 0).find(|member| member.key == key)?.value_at;
    let end = value_end(text, at).unwrap_or(text.len());
    Some((at, text.get(at..end)?))
}

/// The offset just after the JSON value starting at offset `at` of `text`.
pub(crate) fn value_end(text: &str, at: usize) -> Option<usize> {
    json_at::<IgnoredAny>(text, at).map(|(IgnoredAny, end)| end)
}

/// The offset just after the value starting at offset `at` of `text`, found by its punctuation
/// alone (strings skipped whole, brackets counted, a number or literal running to the next
/// delimiter): the hot path's step over a value it does not read, where [`value_end`] would
/// lex it. The text has been, or will be, parsed in full by serde_json.
fn skip_value(text: &[u8], at: usize) -> Option<usize> {
    let after = |at: usize| at.saturating_add(1);
    match *text.get(at)? {
        b'"' => string_end(text, after(at)).map(|(end, _)| after(end)),
        b'{' | b'[' => {
            let mut depth = 0_usize;
            let mut next = at;
            loop {
                match *text.get(next)? {
                    b'"' => next = string_end(text, after(next))?.0,
                    b'{' | b'[' => depth = depth.saturating_add(1),
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Some(after(next));
                        }
                    }
                    _ => {}
                }
                next = after(next);
            }
        }
        _ => {
            let rest = text.get(at..)?;
            let length = rest
                .iter()
                .position(|byte| matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(rest.len());
            (length > 0).then_some(at.saturating_add(length))
        }
    }
}

/// The offset of the closing quote of the string whose contents start at `from`, and whether
/// the string holds an escape.
fn string_end(text: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut at = from;
    let mut escaped = false;
    loop {
        match *text.get(at)? {
            b'\\' => {
                escaped = true;
                at = at.saturating_add(2);
            }
            b'"' => return Some((at, escaped)),
            _ => at = at.saturating_add(1),
        }
    }
}

/// The JSON string starting at offset `at` of `text`, unescaped, and the offset just after it:
/// borrowed as it is when it holds no escape, else read by serde_json.
fn string_at(text: &str, at: usize) -> Option<(Cow<'_, str>, usize)> {
    if text.as_bytes().get(at) != Some(&b'"') {
        return None;
    }
    let (end, escaped) = string_end(text.as_bytes(), at.saturating_add(1))?;
    if escaped {
        json_at::<String>(text, at).map(|(owned, end)| (Cow::Owned(owned), end))
    } else {
        let plain = text.get(at.saturating_add(1)..end)?;
        Some((Cow::Borrowed(plain), end.saturating_add(1)))
    }
}

/// The JSON value starting at offset `at` of `text`, read by serde_json, and the offset just
/// after it.
fn json_at<'a, T: Deserialize<'a>>(text: &'a str, at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at.saturating_add(values.byte_offset())))
}

/// The first offset at or after `at` that is not JSON whitespace.
fn after_whitespace(text: &[u8], at: usize) -> usize {
    let mut at = at;
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        at = at.saturating_add(1);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::{after_whitespace, event_kind, members, value_column, value_end};

    #[test]
    fn event_kind_only_when_the_probe_would_agree() {
        let request = r#"{"t": 0, "type": "request", "id": "r1", "usage": {"type": "x"}}"#;
        assert_eq!(event_kind(request), Some("request"));
        assert_eq!(
            event_kind(r#"{"type":"response","id":"r1"}"#),
            Some("response")
        );
        // Escapes are read as the probe reads them.
        assert_eq!(event_kind(r#"{"type": "req\u0075est"}"#), Some("request"));
        assert_eq!(event_kind(r#"{"typ\u0065": "response"}"#), Some("response"));
        for unsure in [
            r#"{"type": "request", "type": "request"}"#,
            r#"{"type": "request", "trace": 1}"#,
            r#"{"type": "request", "tr\u0061ce": 1}"#,
            r#"{"typ\u0065": "x", "type": "request"}"#,
            r#"{"type": "other"}"#,
            r#"{"type": 1}"#,
            r#"{"type": null}"#,
            r#"{"id": "r1"}"#,
            r#"{"type": "request"#,
            r#"{"type": "request", "id": }"#,
            r#"{"type": "request" "id": 1}"#,
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
        assert_eq!(value_column(br#"{"\u0074": 1}"#, "t"), Some(12));
    }

    #[test]
    fn members_are_found_where_written_escapes_and_nesting_included() {
        let text = r#" { "a" : [1, {"b": 2}], "k\u0065y":"v" ,"c":{}}"#;
        let found: Vec<(String, usize, usize)> = members(text, 0)
            .map(|member| (member.key.into_owned(), member.key_at, member.value_at))
            .collect();
        assert_eq!(
            found,
            [
                ("a".to_owned(), 3, 9),
                ("key".to_owned(), 24, 35),
                ("c".to_owned(), 40, 44)
            ]
        );
        let mut walk = members(text, 0);
        assert_eq!(walk.by_ref().count(), 3);
        assert!(walk.closed);
        // The walk stops at the object's end: what follows is not read.
        let mut walk = members(r#"{"a": 1} {"b": 2}"#, 0);
        assert_eq!(walk.by_ref().count(), 1);
        assert!(walk.closed);
        let mut walk = members(" {\t}", 0);
        assert_eq!(walk.by_ref().count(), 0);
        assert!(walk.closed);
        for (broken, count) in [
            ("[1]", 0),
            ("", 0),
            (r#"{"a": 1, "b"#, 1),
            ("{\"a\": ", 1),
            ("{\"a\" 1}", 0),
            ("{\"a\": 1 \"b\": 2}", 1),
            ("{\"a\":1\t\"b\":2}", 1),
            ("{\"a\":1\r\"b\":2}", 1),
            ("{\"a\":1\n\"b\":2}", 1),
            ("{\"a\": 1,}", 1),
        ] {
            let mut walk = members(broken, 0);
            assert_eq!(walk.by_ref().count(), count, "{broken}");
            assert!(!walk.closed, "{broken}");
        }
    }

    /// Tabs, carriage returns and newlines are whitespace between every pair of tokens.
    #[test]
    fn every_json_whitespace_is_stepped_over() {
        let text = "{\t\"a\"\t:\t1\t,\r\n\"b\"\n:\r[ 2 ]\t}";
        let found: Vec<(String, usize, usize)> = members(text, 0)
            .map(|member| (member.key.into_owned(), member.key_at, member.value_at))
            .collect();
        assert_eq!(found, [("a".to_owned(), 2, 8), ("b".to_owned(), 13, 19)]);
        for space in [" ", "\t", "\r", "\n"] {
            let text = format!("{space}{space}x");
            assert_eq!(after_whitespace(text.as_bytes(), 0), 2, "{space:?}");
        }
        assert_eq!(
            after_whitespace(b"\x0bx", 0),
            0,
            "a vertical tab is not JSON whitespace"
        );
    }

    #[test]
    fn a_value_ends_where_serde_json_says() {
        let text = r#"{"a": [1, "]"] , "b": 1e3}"#;
        assert_eq!(value_end(text, 6), Some(14));
        assert_eq!(value_end(text, 22), Some(25));
        assert_eq!(value_end(text, 100), None);
        assert_eq!(value_end(r#"{"a": tru"#, 6), None);
    }
}
