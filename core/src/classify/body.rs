//! A bounded, allocation-free scan of an error body for the few strings classification needs.
//!
//! Why not `serde-json-core`: the body may be truncated (read into a fixed buffer), may be any
//! size, and only three keys matter. A walk over `"key": "value"` pairs at any depth costs one
//! pass over at most [`BODY_SCAN_LIMIT`] bytes, needs no dependency and tolerates cut-off input.

use super::{BODY_SCAN_LIMIT, ErrorType};

/// What the body scan found.
#[derive(Debug, Default)]
pub(super) struct BodyFacts {
    pub(super) error_type: Option<ErrorType>,
    pub(super) spend_cap: bool,
}

/// Scans at most [`BODY_SCAN_LIMIT`] bytes for `"key": "value"` pairs and keeps what matters.
pub(super) fn scan_body(body: &[u8]) -> BodyFacts {
    let body = body.get(..BODY_SCAN_LIMIT).unwrap_or(body);
    let mut facts = BodyFacts::default();
    let mut pairs = Pairs { body, pos: 0 };
    while let Some((key, value, value_start)) = pairs.next_pair() {
        let spend = matches!(
            value,
            b"enforced_spend_limit_reached" | b"insufficient_quota"
        );
        match key {
            // The Anthropic envelope is `{"type":"error","error":{"type":…}}`: skip the outer one.
            b"type" if value != b"error" => {
                if facts.error_type.is_none() {
                    facts.error_type = Some(ErrorType::from_bytes(value, value_start));
                }
                facts.spend_cap |= spend;
            }
            b"code" | b"error_code" => facts.spend_cap |= spend,
            _ => {}
        }
    }
    facts
}

/// A tolerant walk over JSON-ish bytes that yields each `"key": "string value"` pair at any
/// depth. Strings are skipped as whole tokens (escapes included), so a key-like text inside a
/// message is never mistaken for a key. A truncated body just ends the walk.
pub(super) struct Pairs<'a> {
    pub(super) body: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Pairs<'a> {
    /// The next `(key, value, value_offset)`, or `None` at the end of the (possibly cut) input.
    pub(super) fn next_pair(&mut self) -> Option<(&'a [u8], &'a [u8], usize)> {
        loop {
            let key = self.next_string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                continue;
            }
            self.pos = self.pos.saturating_add(1);
            self.skip_ws();
            if self.peek() != Some(b'"') {
                continue;
            }
            let value_start = self.pos.saturating_add(1);
            let value = self.next_string()?;
            return Some((key, value, value_start));
        }
    }

    /// Skips to the next `"` and returns the raw string contents up to its closing quote.
    fn next_string(&mut self) -> Option<&'a [u8]> {
        let rest = self.body.get(self.pos..)?;
        let open = rest.iter().position(|&b| b == b'"')?;
        let start = self.pos.saturating_add(open).saturating_add(1);
        let mut i = start;
        loop {
            match self.body.get(i)? {
                b'"' => break,
                b'\\' => i = i.saturating_add(2),
                _ => i = i.saturating_add(1),
            }
        }
        self.pos = i.saturating_add(1);
        self.body.get(start..i)
    }

    fn peek(&self) -> Option<u8> {
        self.body.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos = self.pos.saturating_add(1);
        }
    }
}
