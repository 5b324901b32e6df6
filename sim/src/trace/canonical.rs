//! A request line spelled exactly as the writer spells it, read without serde.
//!
//! Loading a trace of a million requests is a million request lines, and serde_json spends
//! ≈ 2 800 instructions on each (six keys and three strings through its generic machinery).
//! The writer's spelling is fixed: `{"t":S,"type":"request","id":"…","lane":"…",
//! "input_tokens":N,"max_tokens":N}` (no spaces, `lane` optional). A line that is exactly
//! that, within the narrow forms below, is read here in one pass; anything else — another key
//! order, a space, an escape, an exponent — returns `None` and goes to serde, whose reading
//! (and whose errors) stay the contract.
//!
//! What is accepted reads to the very values serde would give:
//! * strings without `\` or control characters (serde borrows those unchanged);
//! * counts as plain digits without a leading zero, at most `u64::MAX`;
//! * `t` as `I.F` or `I`, `I` below 10⁹ without a leading zero, `F` of 1 to 6 digits. Its
//!   microseconds are exact integers here; serde's `f64` of the same text is the double
//!   nearest to it (one correctly rounded division of integers below 2⁵³), within 60 ns below
//!   10⁹ s, so the checks' rounding to the nearest microsecond gives the same microsecond.
//!   The time is handed on as that microsecond ([`RawTime::Micros`]), with no `f64` between.

use std::borrow::Cow;

use super::raw::{RawRequest, RawTime, Text};

/// The largest whole part of `t` read here (exclusive).
const MAX_WHOLE_SECONDS: u64 = 1_000_000_000;

/// `line` (without its newline) as a request, if it is spelled exactly as the writer spells
/// one. The line's bytes need not be UTF-8: everything matched outside the two strings is
/// ASCII, and the strings are checked, so a line read here is valid UTF-8.
pub(super) fn request(line: &[u8]) -> Option<RawRequest<'_>> {
    let rest = line.strip_prefix(b"{\"t\":")?;
    let (micros, rest) = seconds(rest)?;
    let rest = rest.strip_prefix(b",\"type\":\"request\",\"id\":\"")?;
    let id_at = line.len() - rest.len();
    let (id, rest) = string(rest)?;
    let (lane, rest) = match rest.strip_prefix(b",\"lane\":\"") {
        Some(rest) => {
            let lane_at = line.len() - rest.len();
            let (lane, rest) = string(rest)?;
            (Some((lane_at - id_at, lane.len())), rest)
        }
        None => (None, rest),
    };
    let rest = rest.strip_prefix(b",\"input_tokens\":")?;
    let (input_tokens, rest) = count(rest)?;
    let rest = rest.strip_prefix(b",\"max_tokens\":")?;
    let (max_tokens, rest) = count(rest)?;
    if rest != b"}" {
        return None;
    }
    // The strings' UTF-8, checked in one call from the id to the end of the lane (what lies
    // between is ASCII).
    let end = lane.map_or(id.len(), |(at, length)| at + length);
    let text = std::str::from_utf8(line.get(id_at..id_at + end)?).ok()?;
    let lane = match lane {
        Some((at, _)) => Some(Text(Cow::Borrowed(text.get(at..)?))),
        None => None,
    };
    Some(RawRequest {
        t: RawTime::Micros(micros),
        id: Cow::Borrowed(text.get(..id.len())?),
        lane,
        input_tokens,
        max_tokens,
        kind: Some(Text(Cow::Borrowed("request"))),
        trace: None,
    })
}

/// The contents of a string whose opening quote is behind, up to the closing quote, without
/// `\\` or control characters (their UTF-8 is the caller's to check); and what follows the quote.
fn string(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = rest
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    let (contents, rest) = rest.split_at_checked(end)?;
    Some((contents, rest.strip_prefix(b"\"")?))
}

/// Plain digits without a leading zero, as a `u64`, and what follows them.
fn count(rest: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    let mut length = 0;
    for &byte in rest {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
        length += 1;
    }
    if length == 0 || (length > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    Some((value, rest.get(length..)?))
}

/// `t` in seconds (`I` or `I.F`, see the module) as whole microseconds, and what follows it.
fn seconds(rest: &[u8]) -> Option<(u64, &[u8])> {
    let (whole, rest) = count(rest)?;
    if whole >= MAX_WHOLE_SECONDS {
        return None;
    }
    let micros = whole * 1_000_000;
    let Some(rest) = rest.strip_prefix(b".") else {
        return Some((micros, rest));
    };
    let length = rest
        .iter()
        .take(7)
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(7);
    if !(1..=6).contains(&length) {
        return None;
    }
    let (digits, rest) = rest.split_at_checked(length)?;
    let mut fraction = 0u64;
    for &digit in digits {
        fraction = fraction * 10 + u64::from(digit - b'0');
    }
    for _ in length..6 {
        fraction *= 10;
    }
    Some((micros + fraction, rest))
}
