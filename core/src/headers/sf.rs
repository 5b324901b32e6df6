//! The subset of RFC 9651 Structured Fields that the IETF `RateLimit` drafts use.
//!
//! Why hand-written: the Rust SF parsers (`sfv`, `structured-headers`) build owned trees and need
//! `alloc`; headroom has no allocator. The drafts need far less than the whole grammar: a List
//! or Dictionary of bare Items (Integer, String, Token, and Byte Sequence for `pk`) with
//! Parameters. Inner lists, dates and display strings are refused as malformed.
//!
//! The reader is bounded and allocation-free: [`members`] first walks the whole field once to
//! check its syntax (RFC 9651 §4.2: a field that fails to parse is ignored as a whole), then
//! hands out [`Member`]s that borrow the input: on 64-bit targets the first four as the check
//! read them, the rest (and on 32-bit targets all) read again. Nothing recurses, so no input
//! can exhaust the stack.

use crate::datetime::cursor::{Cursor, integer};

/// A bare item. Strings keep their escapes (`\"`), which is enough to compare names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bare<'a> {
    /// A non-negative Integer.
    Integer(u64),
    /// An Integer or Decimal below zero.
    Negative,
    /// An Integer beyond `u64`.
    TooLarge,
    /// A non-negative Decimal (none of the drafts' parameters is one).
    Decimal,
    /// A String, without its quotes.
    String(&'a [u8]),
    /// A Token.
    Token(&'a [u8]),
    /// A Byte Sequence (`:cHsdsRa894=:`), contents not decoded.
    Bytes,
    /// A Boolean (`?1`).
    Boolean(bool),
}

/// The parameters the drafts define (`q`, `qu`, `r`, `t`, `w`), the only ones looked up: their
/// values are picked up while a member is checked, so looking one up is an index. Other
/// parameters (`pk`, `burst`) are checked and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    Q,
    Qu,
    R,
    T,
    W,
}

impl Param {
    /// Index in [`KNOWN`].
    const fn index(self) -> usize {
        match self {
            Self::Q => 0,
            Self::Qu => 1,
            Self::R => 2,
            Self::T => 3,
            Self::W => 4,
        }
    }
}

/// The names of the [`Param`]s, by [`Param::index`].
const KNOWN: [&[u8]; 5] = [b"q", b"qu", b"r", b"t", b"w"];

/// One List member (`"name";q=10`) or Dictionary member (`limit=10`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Member<'a> {
    /// The item, or the Dictionary key (as a [`Bare::Token`]).
    pub(super) key: Bare<'a>,
    /// The Dictionary value after `=`, if any.
    pub(super) value: Option<Bare<'a>>,
    /// The last value of each [`Param`] (RFC 9651 §4.2.3.2: the last one wins), by
    /// [`Param::index`].
    known: [Option<Bare<'a>>; KNOWN.len()],
}

impl<'a> Member<'a> {
    /// The value of parameter `key`; a parameter without a value is `Boolean(true)`.
    pub(super) fn param(&self, key: Param) -> Option<Bare<'a>> {
        self.known.get(key.index()).copied().flatten()
    }
}

/// The members of a field value, or `None` if the value is not well-formed.
///
/// The whole field is checked first (RFC 9651 §4.2: a field that fails to parse is ignored as a
/// whole); the first members read by the check are handed out from memory ([`Kept`]), the rest
/// are read again from where the kept ones end.
pub(super) fn members(field: &[u8]) -> Option<Members<'_>> {
    let mut check = Members {
        kept: Kept::default(),
        c: Cursor::new(field),
    };
    let mut rest = Cursor::new(field);
    while !check.c.is_empty() {
        let member = check.next_checked()?;
        if check.kept.keep(member) {
            rest = check.c;
        }
    }
    Some(Members {
        kept: check.kept,
        c: rest,
    })
}

/// Iterator over the members of a checked field.
#[derive(Debug, Clone)]
pub(super) struct Members<'a> {
    /// The first members, as the check read them.
    kept: Kept<'a>,
    /// Where the members after `kept` start (empty when there are none).
    c: Cursor<'a>,
}

/// The first members of a field as its check read them, so that they are not read a second
/// time: four, more than the drafts' examples carry.
#[cfg(target_pointer_width = "64")]
#[derive(Debug, Clone, Default)]
struct Kept<'a> {
    members: [Option<Member<'a>>; 4],
    len: u8,
    /// The next to hand out.
    next: u8,
}

#[cfg(target_pointer_width = "64")]
impl<'a> Kept<'a> {
    /// Keeps `member`, if there is room; whether there was.
    fn keep(&mut self, member: Member<'a>) -> bool {
        let Some(slot) = self.members.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = Some(member);
        self.len = self.len.saturating_add(1);
        true
    }

    /// The next member kept, if any is left.
    fn take(&mut self) -> Option<Member<'a>> {
        let member = (*self.members.get(usize::from(self.next))?)?;
        self.next = self.next.saturating_add(1);
        Some(member)
    }
}

/// On 32-bit targets nothing is kept, and every member is read twice: keeping them costs more
/// flash (some 300 bytes) than the time is worth there.
#[cfg(not(target_pointer_width = "64"))]
#[derive(Debug, Clone, Default)]
struct Kept<'a>(core::marker::PhantomData<Member<'a>>);

#[cfg(not(target_pointer_width = "64"))]
impl<'a> Kept<'a> {
    /// Keeps nothing.
    #[inline(always)]
    fn keep(&mut self, _member: Member<'a>) -> bool {
        false
    }

    /// Nothing was kept.
    #[inline(always)]
    fn take(&mut self) -> Option<Member<'a>> {
        None
    }
}

impl<'a> Members<'a> {
    fn next_checked(&mut self) -> Option<Member<'a>> {
        let c = &mut self.c;
        skip_ows(c);
        let key = bare(c)?;
        let value = if matches!(key, Bare::Token(_)) && c.eat(b'=') {
            Some(bare(c)?)
        } else {
            None
        };
        let mut known = [None; KNOWN.len()];
        while let Some((name, value)) = param(c) {
            if let Some(slot) = KNOWN
                .iter()
                .position(|key| *key == name)
                .and_then(|at| known.get_mut(at))
            {
                *slot = Some(value);
            }
        }
        skip_ows(c);
        if c.eat(b',') {
            skip_ows(c);
            if c.is_empty() {
                return None; // a trailing comma
            }
        } else if !c.is_empty() {
            return None;
        }
        Some(Member { key, value, known })
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        if let Some(member) = self.kept.take() {
            return Some(member);
        }
        if self.c.is_empty() {
            return None;
        }
        self.next_checked()
    }
}

fn skip_ows(c: &mut Cursor<'_>) {
    c.take_while(|b| b == b' ' || b == b'\t');
}

/// `;key[=value]`, consumed; `None` (and nothing consumed of substance) when no parameter follows
/// or it is malformed. A malformed parameter leaves bytes behind, which the caller rejects.
fn param<'a>(c: &mut Cursor<'a>) -> Option<(&'a [u8], Bare<'a>)> {
    if c.peek() != Some(b';') {
        return None;
    }
    let mut look = *c;
    look.next();
    look.take_while(|b| b == b' ');
    if !matches!(look.peek(), Some(b'a'..=b'z' | b'*')) {
        return None;
    }
    let key =
        look.take_while(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'));
    let value = if look.eat(b'=') {
        bare(&mut look)?
    } else {
        Bare::Boolean(true)
    };
    *c = look;
    Some((key, value))
}

fn is_tchar(b: u8) -> bool {
    // A `match`, not `contains`: that calls `memchr`, which nothing else links.
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
                | b':'
                | b'/'
        )
}

fn bare<'a>(c: &mut Cursor<'a>) -> Option<Bare<'a>> {
    match c.peek()? {
        b'"' => {
            c.next();
            let start = c.rest();
            loop {
                match c.next()? {
                    b'\\' => {
                        if !matches!(c.next()?, b'"' | b'\\') {
                            return None;
                        }
                    }
                    b'"' => break,
                    0x20..=0x7e => {}
                    _ => return None,
                }
            }
            // The contents: everything consumed except the closing quote.
            let len = start.len().saturating_sub(c.rest().len()).saturating_sub(1);
            Some(Bare::String(start.get(..len).unwrap_or_default()))
        }
        b':' => {
            c.next();
            c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            c.eat(b':').then_some(Bare::Bytes)
        }
        b'?' => {
            c.next();
            match c.next()? {
                b'0' => Some(Bare::Boolean(false)),
                b'1' => Some(Bare::Boolean(true)),
                _ => None,
            }
        }
        b'-' | b'0'..=b'9' => {
            let negative = c.eat(b'-');
            let digits = c.take_while(|b| b.is_ascii_digit());
            if digits.is_empty() {
                return None;
            }
            let decimal = if c.eat(b'.') {
                if c.take_while(|b| b.is_ascii_digit()).is_empty() {
                    return None;
                }
                true
            } else {
                false
            };
            let zero = digits.iter().all(|&b| b == b'0');
            Some(match (negative && !zero, decimal) {
                (true, _) => Bare::Negative,
                (false, true) => Bare::Decimal,
                (false, false) => integer(digits).map_or(Bare::TooLarge, Bare::Integer),
            })
        }
        b'*' | b'a'..=b'z' | b'A'..=b'Z' => Some(Bare::Token(c.take_while(is_tchar))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(field: &str) -> Option<usize> {
        members(field.as_bytes()).map(Iterator::count)
    }

    #[test]
    fn well_formed_fields() {
        assert_eq!(keys(r#""permin";q=50;w=60,"perhr";q=1000;w=3600"#), Some(2));
        assert_eq!(keys("limit=100, remaining=50, reset=5"), Some(3));
        assert_eq!(keys(r#""peruser";q=100;w=60;pk=:cHsdsRa894==:"#), Some(1));
        assert_eq!(keys("10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400"), Some(4));
        assert_eq!(
            keys(r#"100;w=60;burst=1000;comment="sliding window""#),
            Some(1)
        );
        assert_eq!(keys("quota;t=1"), Some(1));
        assert_eq!(keys(r#""a\"b";r=1"#), Some(1));
    }

    /// Members past the ones the check keeps are read again, from where the kept ones end,
    /// and equal what the check read.
    #[test]
    fn members_past_the_kept_ones() {
        for n in [0, 1, 3, 4, 5, 11] {
            let field: Vec<String> = (0..n).map(|i| format!("\"p{i}\";q={}", i + 1)).collect();
            let field = field.join(", ");
            let read: Vec<_> = members(field.as_bytes())
                .unwrap()
                .map(|member| (member.key, member.param(Param::Q)))
                .collect();
            assert_eq!(read.len(), n, "{field}");
            for (i, (key, q)) in read.into_iter().enumerate() {
                assert_eq!(key, Bare::String(format!("p{i}").as_bytes()), "{field}");
                assert_eq!(q, Some(Bare::Integer(i as u64 + 1)), "{field}");
            }
        }
        // A malformed member after the kept ones still refuses the whole field.
        let mut field = ["a"; 5].join(", ");
        field.push_str(", ?2");
        assert!(members(field.as_bytes()).is_none());
    }

    #[test]
    fn malformed_fields() {
        for field in [
            r#""open"#, "a,", ",a", "a b", "(1 2)", "1.;w=1", "a;W=1", "a;w=", "=1", r#""\x""#,
            ":abc", "?2",
        ] {
            assert_eq!(keys(field), None, "{field}");
        }
    }

    #[test]
    fn parameters_and_values() {
        let member = members(br#""x";q=-1;w=1.5;z;r=99999999999999999999;qu="bytes""#)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(member.key, Bare::String(b"x"));
        assert_eq!(member.param(Param::Q), Some(Bare::Negative));
        assert_eq!(member.param(Param::W), Some(Bare::Decimal));
        assert_eq!(member.param(Param::R), Some(Bare::TooLarge));
        assert_eq!(member.param(Param::Qu), Some(Bare::String(b"bytes")));
        assert_eq!(member.param(Param::T), None);
        // A valueless parameter is `true`, and the last of a repeated one wins.
        let member = members(b"a;t;w=1;w=2").unwrap().next().unwrap();
        assert_eq!(member.param(Param::T), Some(Bare::Boolean(true)));
        assert_eq!(member.param(Param::W), Some(Bare::Integer(2)));
        let dict = members(b"limit=10").unwrap().next().unwrap();
        assert_eq!(dict.key, Bare::Token(b"limit"));
        assert_eq!(dict.value, Some(Bare::Integer(10)));
    }
}
